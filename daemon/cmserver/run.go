package cmserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
//	cm_version: 7.5.3            # the CM release imitated ("" = 5.13.0)
//	startup_delay: 1s            # time before the ports listen (real CM: 1-5 min)
//	command_duration: 300ms      # how long a command stays active
//	mappings: external-user-mappings.json
//	management_service: true     # false: no Cloudera Management Service
//	service_config: mgmt-service-config.json
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

	CMVersion         string        `yaml:"cm_version"`
	StartupDelay      time.Duration `yaml:"startup_delay"`
	CommandDuration   time.Duration `yaml:"command_duration"`
	Mappings          string        `yaml:"mappings"`
	ManagementService *bool         `yaml:"management_service"`
	ServiceConfig     string        `yaml:"service_config"`

	profile Profile
	path    string
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
	prof, err := LookupProfile(c.CMVersion)
	if err != nil {
		return nil, fmt.Errorf("server config %s: cm_version: %w (%s)", abs, err, (&ProfileError{}).Hint())
	}
	c.profile = prof
	if c.StartupDelay < 0 || c.StartupDelay > time.Hour || c.CommandDuration < 0 || c.CommandDuration > time.Hour {
		return nil, fmt.Errorf("server config %s: startup_delay and command_duration must be between 0 and 1h", abs)
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
	def(&c.Mappings, "external-user-mappings.json")
	def(&c.ServiceConfig, "mgmt-service-config.json")
	return &c, nil
}

// Profile is the CM release the config names.
func (c *FileConfig) Profile() Profile { return c.profile }

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
	// StartupDelay, when set, replaces the config file's startup_delay.
	StartupDelay time.Duration
	// Middleware, when set, wraps the console and API handlers (tests: a
	// contract checker judging every exchange).
	Middleware func(http.Handler) http.Handler
}

// Run is `cmtls daemon server run`: it loads the config, settings and
// state, refuses a bad keystore, waits the start-up delay, binds the ports
// (reusing the ones bound before), records them in the state file, writes
// the pid file, serves until ctx ends and saves the known hosts.
func Run(ctx context.Context, fc *FileConfig, opts RunOptions) error {
	logf, err := os.OpenFile(fc.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("server log: %w", err)
	}
	defer logf.Close()
	in, err := loadRunInputs(fc, logf)
	if err != nil {
		return err
	}
	// A real CM server initialises for a minute or more before its ports
	// answer; clients see connection refused meanwhile.
	delay := fc.StartupDelay
	if opts.StartupDelay > 0 {
		delay = opts.StartupDelay
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	st := in.state
	ls, err := bindListeners(fc, &st, in.settings.Bool(WebTLS))
	if err != nil {
		return err
	}
	baseURL := fmt.Sprintf("http://%s", net.JoinHostPort(fc.Host, strconv.Itoa(st.Ports.HTTP)))
	if in.settings.Bool(WebTLS) {
		baseURL = fmt.Sprintf("https://%s", net.JoinHostPort(fc.Host, strconv.Itoa(st.Ports.HTTPS)))
	}
	w := newStateWriter(fc.State)
	srv, err := New(Config{
		Host: fc.Host, AdminUser: fc.Admin.User, AdminPassword: in.password,
		Settings: in.settings, SettingsPath: fc.Settings, GUID: st.GUID, Hosts: st.Hosts,
		Log: logf, SAML: opts.SAML, BaseURL: baseURL, OnHostAdded: w.markDirty,
		Profile: fc.profile, CommandDuration: fc.CommandDuration,
		Mappings: in.mappings, MappingsPath: fc.Mappings,
		ServiceConfig: in.serviceConfig, ServiceConfigPath: fc.ServiceConfig,
		NoManagementService: fc.ManagementService != nil && !*fc.ManagementService,
		Middleware:          opts.Middleware,
	})
	if err != nil {
		ls.close()
		return err
	}
	st.PID = os.Getpid()
	st.Listening = ls.addrs()
	if err := writeState(fc.State, st); err != nil {
		ls.close()
		return err
	}
	w.start(st, srv)
	if err := writePid(fc.Pid); err != nil {
		w.stop()
		ls.close()
		return err
	}
	defer removePid(fc.Pid)
	err = serve(ctx, srv, ls, opts.Ready)
	w.stop()
	st.Hosts = srv.Hosts()
	st.PID, st.Listening = 0, nil
	if werr := writeState(fc.State, st); werr != nil && err == nil {
		err = werr
	}
	srv.log.info("main:com.cloudera.server.cmf.Main", "Stopped SCM Server.")
	return err
}

// runInputs are the files Run reads before it binds anything.
type runInputs struct {
	password      []byte
	settings      Settings
	state         State
	mappings      []ExternalUserMapping
	serviceConfig map[string]string
}

func loadRunInputs(fc *FileConfig, logf io.Writer) (runInputs, error) {
	var in runInputs
	pw, err := os.ReadFile(fc.Admin.PasswordFile)
	if err != nil {
		return in, fmt.Errorf("admin password: %w", err)
	}
	in.password = bytes.TrimRight(bytes.SplitN(pw, []byte("\n"), 2)[0], "\r")
	if in.settings, err = LoadSettings(fc.Settings); err != nil {
		fmt.Fprintf(logf, "%s ERROR main:com.cloudera.server.cmf.Main: %v\n", time.Now().Format("2006-01-02 15:04:05,000"), err)
		return in, err
	}
	if in.state, err = ReadState(fc.State); err != nil {
		return in, err
	}
	if in.state.GUID == "" {
		in.state.GUID = newID()
	}
	if in.mappings, err = LoadMappings(fc.Mappings); err != nil {
		return in, err
	}
	if in.serviceConfig, err = LoadServiceConfig(fc.ServiceConfig); err != nil {
		return in, err
	}
	return in, nil
}

// bindListeners binds the agent, console and (with WEB_TLS) console TLS
// ports: the state file wins (a restart keeps its ports), then the config;
// 0 picks one. The HTTPS port is reserved at first start even while
// WEB_TLS is off, so the console URL is known before Step 7. st.Ports is
// updated with the ports bound.
func bindListeners(fc *FileConfig, st *State, needsHTTPS bool) (Listeners, error) {
	pick := func(stPort, cfgPort int) int {
		if stPort != 0 {
			return stPort
		}
		return cfgPort
	}
	listen := func(port int) (net.Listener, error) {
		return net.Listen("tcp", net.JoinHostPort(fc.Bind, strconv.Itoa(port)))
	}
	var ls Listeners
	var err error
	if ls.Agent, err = listen(pick(st.Ports.Agent, fc.Ports.Agent)); err != nil {
		return ls, fmt.Errorf("agent port: %w", err)
	}
	if ls.HTTP, err = listen(pick(st.Ports.HTTP, fc.Ports.HTTP)); err != nil {
		ls.close()
		return ls, fmt.Errorf("console port: %w", err)
	}
	httpsPort := pick(st.Ports.HTTPS, fc.Ports.HTTPS)
	if needsHTTPS || httpsPort == 0 {
		l, err := listen(httpsPort)
		if err != nil {
			ls.close()
			return ls, fmt.Errorf("console tls port: %w", err)
		}
		httpsPort = portOf(l.Addr())
		if needsHTTPS {
			ls.HTTPS = l
		} else {
			l.Close()
		}
	}
	st.Ports.Agent, st.Ports.HTTP, st.Ports.HTTPS = portOf(ls.Agent.Addr()), portOf(ls.HTTP.Addr()), httpsPort
	return ls, nil
}

func (l Listeners) all() []net.Listener {
	var out []net.Listener
	for _, x := range []net.Listener{l.HTTP, l.HTTPS, l.Agent} {
		if x != nil {
			out = append(out, x)
		}
	}
	return out
}

func (l Listeners) close() {
	for _, x := range l.all() {
		x.Close()
	}
}

func (l Listeners) addrs() []string {
	var out []string
	for _, x := range l.all() {
		out = append(out, x.Addr().String())
	}
	return out
}

// stateWriter saves new hosts to the state file, coalescing them (at most
// one write a second) off the heartbeat path: a fleet's first heartbeats
// must not each rewrite the whole state file.
type stateWriter struct {
	path  string
	dirty chan struct{}
	quit  chan struct{}
	done  chan struct{}
}

func newStateWriter(path string) *stateWriter {
	return &stateWriter{path: path, dirty: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
}

func (w *stateWriter) markDirty() {
	select {
	case w.dirty <- struct{}{}:
	default:
	}
}

// start runs the writer; st is not written by anyone else until stop.
func (w *stateWriter) start(st State, srv *Server) {
	go func() {
		defer close(w.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-w.quit:
				return
			case <-w.dirty:
			}
			s2 := st
			s2.Hosts = srv.Hosts()
			_ = writeState(w.path, s2)
			select {
			case <-w.quit:
				return
			case <-tick.C:
			}
		}
	}()
}

func (w *stateWriter) stop() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
	}
}

func writePid(path string) error {
	return os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

// removePid removes the pid file if it still names this process.
func removePid(path string) {
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
		os.Remove(path)
	}
}

// serve runs srv on ls until it fails or ctx ends (then it shuts down,
// giving requests in flight 5 seconds).
func serve(ctx context.Context, srv *Server, ls Listeners, ready func(*Server, Listeners)) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ls) }()
	if ready != nil {
		ready(srv, ls)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
		return <-errc
	}
}

func portOf(a net.Addr) int {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.Port
	}
	return 0
}
