package cmserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cmtls/cmtls/daemon/conf"
)

// FileConfig is the server's config file (`cmtls daemon server --config`).
// Relative paths are taken from the file's directory.
//
//	host: localhost
//	bind: 127.0.0.1
//	ports: {http: 7180, https: 7183, agent: 7182}   # 0 = pick a free port once
//	admin: {user: admin, password_file: secrets/cm-admin-password}
//	settings: settings.json      # the CM configuration (0600)
//	state: state.json            # bound ports, server GUID, known hosts
//	log: cloudera-scm-server.log
//	pid: cloudera-scm-server.pid
type FileConfig struct {
	Host  string `yaml:"host"`
	Bind  string `yaml:"bind"`
	Ports struct {
		HTTP  int `yaml:"http"`
		HTTPS int `yaml:"https"`
		Agent int `yaml:"agent"`
	} `yaml:"ports"`
	Admin struct {
		User         string `yaml:"user"`
		PasswordFile string `yaml:"password_file"`
	} `yaml:"admin"`
	Settings string `yaml:"settings"`
	State    string `yaml:"state"`
	Log      string `yaml:"log"`
	Pid      string `yaml:"pid"`

	path string
}

// LoadFileConfig reads and checks a server config file.
func LoadFileConfig(path string) (*FileConfig, error) {
	abs, b, err := conf.Read(path, "server config")
	if err != nil {
		return nil, err
	}
	return ParseFileConfig(b, abs)
}

// ParseFileConfig decodes a server config file's bytes; abs is its path
// (relative paths in it are taken from its directory).
func ParseFileConfig(b []byte, abs string) (*FileConfig, error) {
	var c FileConfig
	if err := conf.Decode(b, abs, "server config", &c); err != nil {
		return nil, err
	}
	c.path = abs
	dir := filepath.Dir(abs)
	if c.Host == "" {
		c.Host = "localhost"
	}
	if c.Bind == "" {
		c.Bind = "127.0.0.1"
	}
	if c.Admin.User == "" {
		c.Admin.User = "admin"
	}
	if c.Admin.PasswordFile == "" {
		return nil, fmt.Errorf("server config %s: admin.password_file is required", abs)
	}
	for _, p := range []int{c.Ports.HTTP, c.Ports.HTTPS, c.Ports.Agent} {
		if p < 0 || p > 65535 {
			return nil, fmt.Errorf("server config %s: port %d out of range", abs, p)
		}
	}
	def := func(p *string, name string) {
		if *p == "" {
			*p = name
		}
		if !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	def(&c.Admin.PasswordFile, "")
	def(&c.Settings, "settings.json")
	def(&c.State, "state.json")
	def(&c.Log, "cloudera-scm-server.log")
	def(&c.Pid, "cloudera-scm-server.pid")
	return &c, nil
}

// Path is the config file's absolute path.
func (c *FileConfig) Path() string { return c.path }

// State is what the server keeps beside its settings: the ports it bound
// (reused on restart so agents' server_port stays right), its GUID and the
// hosts it knows.
type State struct {
	Ports struct {
		HTTP  int `json:"http"`
		HTTPS int `json:"https"`
		Agent int `json:"agent"`
	} `json:"ports"`
	GUID  string       `json:"guid"`
	Hosts []HostRecord `json:"hosts,omitempty"`
	// PID is the serving process; Listening lists the sockets it has open.
	PID       int      `json:"pid"`
	Listening []string `json:"listening"`
}

// ReadState reads a state file; missing is the zero State.
func ReadState(path string) (State, error) {
	var st State
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("state file %s: %w", path, err)
	}
	return st, nil
}

func writeState(path string, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'), 0o600)
}

// RunOptions are the parts of Run a caller injects.
type RunOptions struct {
	SAML SAMLFactory
	// Ready is called once listening (tests).
	Ready func(*Server, Listeners)
}

// Run is `cmtls daemon server run`: it loads the config, settings and
// state, refuses a bad keystore, binds the ports (reusing the ones bound
// before), records them in the state file, writes the pid file, serves
// until ctx ends and saves the known hosts.
func Run(ctx context.Context, fc *FileConfig, opts RunOptions) (err error) {
	logf, err := os.OpenFile(fc.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("server log: %w", err)
	}
	defer logf.Close()
	pw, err := os.ReadFile(fc.Admin.PasswordFile)
	if err != nil {
		return fmt.Errorf("admin password: %w", err)
	}
	pw = bytes.TrimRight(bytes.SplitN(pw, []byte("\n"), 2)[0], "\r")
	settings, err := LoadSettings(fc.Settings)
	if err != nil {
		fmt.Fprintf(logf, "%s ERROR main:com.cloudera.server.cmf.Main: %v\n", time.Now().Format("2006-01-02 15:04:05,000"), err)
		return err
	}
	st, err := ReadState(fc.State)
	if err != nil {
		return err
	}
	if st.GUID == "" {
		st.GUID = newID()
	}
	// Ports: the state file wins (a restart keeps its ports), then the
	// config; 0 picks one. The HTTPS port is reserved at first start even
	// while WEB_TLS is off, so the console URL is known before Step 7.
	pick := func(stPort, cfgPort int) int {
		if stPort != 0 {
			return stPort
		}
		return cfgPort
	}
	var ls Listeners
	closeAll := func() {
		for _, l := range []net.Listener{ls.HTTP, ls.HTTPS, ls.Agent} {
			if l != nil {
				l.Close()
			}
		}
	}
	listen := func(port int) (net.Listener, error) {
		return net.Listen("tcp", net.JoinHostPort(fc.Bind, strconv.Itoa(port)))
	}
	if ls.Agent, err = listen(pick(st.Ports.Agent, fc.Ports.Agent)); err != nil {
		return fmt.Errorf("agent port: %w", err)
	}
	if ls.HTTP, err = listen(pick(st.Ports.HTTP, fc.Ports.HTTP)); err != nil {
		closeAll()
		return fmt.Errorf("console port: %w", err)
	}
	httpsPort := pick(st.Ports.HTTPS, fc.Ports.HTTPS)
	needsHTTPS := settings.Bool(WebTLS)
	if needsHTTPS || httpsPort == 0 {
		l, err := listen(httpsPort)
		if err != nil {
			closeAll()
			return fmt.Errorf("console tls port: %w", err)
		}
		httpsPort = portOf(l.Addr())
		if needsHTTPS {
			ls.HTTPS = l
		} else {
			l.Close()
		}
	}
	st.Ports.Agent, st.Ports.HTTP, st.Ports.HTTPS = portOf(ls.Agent.Addr()), portOf(ls.HTTP.Addr()), httpsPort
	baseURL := fmt.Sprintf("http://%s", net.JoinHostPort(fc.Host, strconv.Itoa(st.Ports.HTTP)))
	if settings.Bool(WebTLS) {
		baseURL = fmt.Sprintf("https://%s", net.JoinHostPort(fc.Host, strconv.Itoa(st.Ports.HTTPS)))
	}
	// New hosts are saved by a writer that coalesces them (at most one
	// write a second), off the heartbeat path: a fleet's first heartbeats
	// must not each rewrite the whole state file.
	dirty := make(chan struct{}, 1)
	srv, err := New(Config{
		Host: fc.Host, AdminUser: fc.Admin.User, AdminPassword: pw,
		Settings: settings, SettingsPath: fc.Settings, GUID: st.GUID, Hosts: st.Hosts,
		Log: logf, SAML: opts.SAML, BaseURL: baseURL,
		OnHostAdded: func() {
			select {
			case dirty <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		closeAll()
		return err
	}
	st.PID = os.Getpid()
	st.Listening = nil
	for _, l := range []net.Listener{ls.HTTP, ls.HTTPS, ls.Agent} {
		if l != nil {
			st.Listening = append(st.Listening, l.Addr().String())
		}
	}
	if err := writeState(fc.State, st); err != nil {
		closeAll()
		return err
	}
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-dirty:
			}
			s2 := st // st is not written again until the writer is done
			s2.Hosts = srv.Hosts()
			_ = writeState(fc.State, s2)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	if err := os.WriteFile(fc.Pid, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		closeAll()
		return err
	}
	defer func() {
		if b, err := os.ReadFile(fc.Pid); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
			os.Remove(fc.Pid)
		}
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ls) }()
	if opts.Ready != nil {
		opts.Ready(srv, ls)
	}
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
		err = <-errc
	}
	close(stop)
	<-writerDone
	st.Hosts = srv.Hosts()
	st.PID, st.Listening = 0, nil
	if werr := writeState(fc.State, st); werr != nil && err == nil {
		err = werr
	}
	srv.log.info("main:com.cloudera.server.cmf.Main", "Stopped SCM Server.")
	return err
}

func portOf(a net.Addr) int {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.Port
	}
	return 0
}
