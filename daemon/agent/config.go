package agent

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"gopkg.in/ini.v1"
)

// Config is what the agent reads from config.ini.
type Config struct {
	ServerHost string // [General] server_host, as written (never resolved)
	ServerPort int    // [General] server_port
	// ListeningHostname and ReportedHostname name the host to CM.
	ListeningHostname string
	ReportedHostname  string
	LogFile           string // [General] log_file ("" = unset)
	LibDir            string // [General] lib_dir ("" = unset)

	UseTLS         bool   // [Security] use_tls=1
	VerifyCertFile string // [Security] verify_cert_file
	VerifyCertDir  string // [Security] verify_cert_dir
	MaxCertDepth   int    // [Security] max_cert_depth (default 9)
}

// Verifies reports whether the agent checks the server's certificate:
// only when verify_cert_file or verify_cert_dir is set (config.ini: "if
// neither ... is set, certificate verification will not be performed").
func (c Config) Verifies() bool { return c.VerifyCertFile != "" || c.VerifyCertDir != "" }

// Hostname is the name the agent reports.
func (c Config) Hostname() string {
	if c.ReportedHostname != "" {
		return c.ReportedHostname
	}
	if c.ListeningHostname != "" {
		return c.ListeningHostname
	}
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}

// ParseConfig reads config.ini's bytes the way the agent's ConfigParser
// does: "# key=value" lines are comments, "key=" is unset, and a '#' after
// a value is part of the value (no inline comments).
func ParseConfig(b []byte) (Config, error) {
	f, err := ini.LoadSources(ini.LoadOptions{IgnoreInlineComment: true, AllowShadows: false, Insensitive: false}, b)
	if err != nil {
		return Config{}, fmt.Errorf("config.ini: %w", err)
	}
	get := func(sec, key string) string {
		s, err := f.GetSection(sec)
		if err != nil || !s.HasKey(key) {
			return ""
		}
		return strings.TrimSpace(s.Key(key).String())
	}
	c := Config{
		ServerHost:        get("General", "server_host"),
		ListeningHostname: get("General", "listening_hostname"),
		ReportedHostname:  get("General", "reported_hostname"),
		LogFile:           get("General", "log_file"),
		LibDir:            get("General", "lib_dir"),
		VerifyCertFile:    get("Security", "verify_cert_file"),
		VerifyCertDir:     get("Security", "verify_cert_dir"),
		ServerPort:        7182,
		MaxCertDepth:      9,
	}
	if c.ServerHost == "" {
		c.ServerHost = "localhost" // the shipped default
	}
	if v := get("General", "server_port"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return Config{}, fmt.Errorf("config.ini: [General] server_port %q is not a port", v)
		}
		c.ServerPort = n
	}
	switch v := get("Security", "use_tls"); strings.ToLower(v) {
	case "", "0", "false", "no", "off":
	case "1", "true", "yes", "on":
		c.UseTLS = true
	default:
		return Config{}, fmt.Errorf("config.ini: [Security] use_tls %q is not 0 or 1", v)
	}
	if v := get("Security", "max_cert_depth"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100 {
			return Config{}, fmt.Errorf("config.ini: [Security] max_cert_depth %q is not a number", v)
		}
		c.MaxCertDepth = n
	}
	return c, nil
}

// LoadConfig reads config.ini at path.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
