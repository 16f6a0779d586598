package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RunOptions are the daemon's flags.
type RunOptions struct {
	// Interval overrides the heartbeat interval (0: the server's, else 15 s).
	Interval time.Duration
	// LogPath is used when config.ini has no log_file.
	LogPath string
	// PidPath is the pid file (default: beside config.ini).
	PidPath string
}

// Paths returns where the agent for configPath logs, keeps state and
// writes its pid, after config.ini's own settings.
func Paths(configPath string, cfg Config, o RunOptions) (logPath, libDir, pidPath string) {
	dir := filepath.Dir(configPath)
	logPath = cfg.LogFile
	if logPath == "" {
		logPath = o.LogPath
	}
	if logPath == "" {
		logPath = filepath.Join(dir, "cloudera-scm-agent.log")
	}
	libDir = cfg.LibDir
	if libDir == "" {
		libDir = filepath.Join(dir, "lib")
	}
	pidPath = PidPath(configPath, o)
	return
}

// PidPath is the pid file for configPath.
func PidPath(configPath string, o RunOptions) string {
	if o.PidPath != "" {
		return o.PidPath
	}
	return filepath.Join(filepath.Dir(configPath), "cloudera-scm-agent.pid")
}

// RunDaemon is `cmtls daemon agent run`: read config.ini, log to its
// log_file, write the pid file, heartbeat until ctx ends.
func RunDaemon(ctx context.Context, configPath string, o RunOptions) error {
	configPath, err := filepath.Abs(configPath)
	if err != nil {
		return err
	}
	cfg, err := LoadConfig(configPath)
	if err != nil {
		return err
	}
	logPath, libDir, pidPath := Paths(configPath, cfg, o)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return fmt.Errorf("agent log: %w", err)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("agent log: %w", err)
	}
	defer logf.Close()
	a, err := New(Options{Config: cfg, Interval: o.Interval, Log: logf, LibDir: libDir})
	if err != nil {
		return err
	}
	if err := os.WriteFile(pidPath, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("agent pid file: %w", err)
	}
	defer func() {
		if b, err := os.ReadFile(pidPath); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
			os.Remove(pidPath)
		}
	}()
	return a.Run(ctx)
}
