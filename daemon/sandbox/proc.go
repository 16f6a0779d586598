package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Service is one background process run like a `service` script: start
// re-executes cmtls with `run` in a new session (detached), the child writes
// its own pid file once it is serving, stop signals the pid after checking
// that the pid is really that service (its command line names the same
// config file), so a stale pid file never kills a stranger.
type Service struct {
	Name    string   // e.g. cloudera-scm-agent
	Exe     string   // the cmtls executable to run
	Args    []string // e.g. daemon agent run --config /abs/config.ini
	PidFile string
	OutFile string // the child's stdout and stderr (like cloudera-scm-agent.out)
	LogFile string // its log, whose tail explains a failed start
	// Marker is what the pid's command line must contain to be ours
	// (default: Args).
	Marker []string
}

// StartError is a service that did not come up; its message carries the
// tail of the service's log.
type StartError struct {
	Name string
	Tail string
	Err  error
}

func (e *StartError) Error() string {
	msg := fmt.Sprintf("%s did not start: %v", e.Name, e.Err)
	if e.Tail != "" {
		msg += "\n" + e.Tail
	}
	return msg
}
func (e *StartError) Unwrap() error { return e.Err }

// Status returns the pid when the service is running.
func (s Service) Status() (int, bool) {
	pid := readPid(s.PidFile)
	if pid <= 0 || !Alive(pid) || !s.owns(pid) {
		return 0, false
	}
	return pid, true
}

// Start starts the service unless it runs already, and waits until it has
// written its pid file (it does so once listening) or exited.
func (s Service) Start(timeout time.Duration) (int, error) {
	if pid, ok := s.Status(); ok {
		return pid, nil
	}
	_ = os.Remove(s.PidFile) // stale
	if s.OutFile != "" {
		if err := os.MkdirAll(filepath.Dir(s.OutFile), 0o755); err != nil {
			return 0, err
		}
	}
	cmd := exec.Command(s.Exe, s.Args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if s.OutFile != "" {
		out, err := os.OpenFile(s.OutFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return 0, err
		}
		defer out.Close()
		cmd.Stdout, cmd.Stderr = out, out
	}
	if err := cmd.Start(); err != nil {
		return 0, &StartError{Name: s.Name, Err: err}
	}
	exited := make(chan error, 1)
	// Reap the child if it ends while this process lives (tests, sandbox up).
	go func() { exited <- cmd.Wait() }()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			if err == nil {
				err = errors.New("exited")
			}
			return 0, &StartError{Name: s.Name, Tail: s.tail(), Err: err}
		case <-deadline.C:
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			return 0, &StartError{Name: s.Name, Tail: s.tail(), Err: fmt.Errorf("not ready after %v", timeout)}
		case <-tick.C:
			if readPid(s.PidFile) == cmd.Process.Pid {
				return cmd.Process.Pid, nil
			}
		}
	}
}

// Stop sends SIGTERM (then SIGKILL after timeout) to the service's pid and
// waits until it is gone. A missing or stale pid file is not an error.
func (s Service) Stop(timeout time.Duration) error {
	pid := readPid(s.PidFile)
	if pid <= 0 {
		return nil
	}
	if !Alive(pid) || !s.owns(pid) {
		_ = os.Remove(s.PidFile)
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s (pid %d): %w", s.Name, pid, err)
	}
	if !waitGone(pid, timeout) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		if !waitGone(pid, 5*time.Second) {
			return fmt.Errorf("stop %s: pid %d did not exit", s.Name, pid)
		}
	}
	if readPid(s.PidFile) == pid {
		_ = os.Remove(s.PidFile)
	}
	return nil
}

// Restart is stop then start, like `service X restart`.
func (s Service) Restart(timeout time.Duration) (int, error) {
	if err := s.Stop(timeout); err != nil {
		return 0, err
	}
	return s.Start(timeout)
}

func (s Service) owns(pid int) bool {
	marker := s.Marker
	if marker == nil {
		marker = s.Args
	}
	return CmdlineHas(pid, marker)
}

func (s Service) tail() string {
	if s.LogFile == "" {
		return ""
	}
	b, err := os.ReadFile(s.LogFile)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, "\n")
}

func readPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return n
}

// Alive reports whether pid exists and is not a zombie.
func Alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// state is the field after the ")" that closes the command name.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z' && b[i+2] != 'X'
	}
	return true
}

// CmdlineHas reports whether pid's argv contains want as a contiguous run.
func CmdlineHas(pid int, want []string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	for i := 0; i+len(want) <= len(args); i++ {
		match := true
		for j := range want {
			if args[i+j] != want[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

func waitGone(pid int, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for Alive(pid) {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}
