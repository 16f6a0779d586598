package sandbox

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"

	"github.com/cmtls/cmtls/daemon/cmserver"
	"github.com/cmtls/cmtls/daemon/sshd"
	"github.com/cmtls/cmtls/steps/answers"
)

// stockConfig is a CM agent's config.ini as shipped (the real layout: five
// sections, commented defaults), with server_host=localhost.
//
//go:embed config.ini.stock
var stockConfig []byte

const (
	markerFile      = "sandbox.json"
	adminUser       = "admin"
	serviceWait     = 20 * time.Second
	DefaultAgents   = 3
	DefaultInterval = time.Second
	// DefaultStartupDelay keeps the sandbox quick while clients still meet
	// a server that does not answer at once after a restart.
	DefaultStartupDelay = 500 * time.Millisecond
)

// Options for Up.
type Options struct {
	Dir    string
	Agents int
	// Exe is the cmtls executable to copy to DIR/bin/cmtls (default: this
	// process's executable).
	Exe string
	// Interval is the agents' heartbeat interval (default 1 s).
	Interval time.Duration
	// Out receives progress lines.
	Out io.Writer
	// CMVersion is the Cloudera Manager release the server imitates
	// (default cmserver.DefaultVersion, 7.5.3).
	CMVersion string
	// StartupDelay is the server's start-up delay on every (re)start
	// (0: DefaultStartupDelay, negative: none; a real CM takes minutes).
	StartupDelay time.Duration
	// AfterUp runs once everything is up and answers.yaml is written: the
	// place for the SAML part (a test IdP, Layout.SAMLAnswers). An error
	// fails Up; the processes stay up for `down` to stop.
	AfterUp func(ctx context.Context, l Layout, m *Marker) error
}

// Layout names every path of a sandbox directory.
type Layout struct {
	Dir, Bin, Identity, KnownHosts, Answers, SAMLAnswers, Secrets string
	AdminPassword, KeystorePassword                               string
	ServerDir, ServerConfig, Keystore, DER, PEM                   string
	SSHDConfig                                                    string
}

// NewLayout returns the paths under dir.
func NewLayout(dir string) Layout {
	l := Layout{Dir: dir}
	l.Bin = filepath.Join(dir, "bin", "cmtls")
	l.Identity = filepath.Join(dir, "id_ed25519")
	l.KnownHosts = filepath.Join(dir, "known_hosts")
	l.Answers = filepath.Join(dir, "answers.yaml")
	l.SAMLAnswers = filepath.Join(dir, "saml-answers.yaml")
	l.Secrets = filepath.Join(dir, "secrets")
	l.AdminPassword = filepath.Join(l.Secrets, "cm-admin-password")
	l.KeystorePassword = filepath.Join(l.Secrets, "keystore-password")
	l.ServerDir = filepath.Join(dir, "server")
	l.ServerConfig = filepath.Join(l.ServerDir, "server.yaml")
	l.Keystore = filepath.Join(l.ServerDir, "cm.keystore")
	l.DER = filepath.Join(l.ServerDir, "x509", "server.der")
	l.PEM = filepath.Join(l.ServerDir, "x509", "server.pem")
	l.SSHDConfig = filepath.Join(dir, "sshd", "sshd.yaml")
	return l
}

// HostRoot is agent i's root directory (1-based).
func (l Layout) HostRoot(i int) string { return filepath.Join(l.Dir, "hosts", HostName(i)) }

// AgentConfig is agent i's config.ini.
func (l Layout) AgentConfig(i int) string {
	return filepath.Join(l.HostRoot(i), "etc", "cloudera-scm-agent", "config.ini")
}

// AgentLog is agent i's log file.
func (l Layout) AgentLog(i int) string {
	return filepath.Join(l.HostRoot(i), "var", "log", "cloudera-scm-agent", "cloudera-scm-agent.log")
}

// HostName is the name of agent i.
func HostName(i int) string { return "agent" + strconv.Itoa(i) }

// Marker is what DIR/sandbox.json records.
type Marker struct {
	Version   int            `json:"version"`
	Agents    int            `json:"agents"`
	CMVersion string         `json:"cmVersion,omitempty"`
	Interval  string         `json:"interval"`
	User      string         `json:"user"`
	Ports     map[string]int `json:"ports"`
}

// ReadMarker reads DIR/sandbox.json.
func ReadMarker(dir string) (*Marker, error) {
	b, err := os.ReadFile(filepath.Join(dir, markerFile))
	if err != nil {
		return nil, err
	}
	var m Marker
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, markerFile), err)
	}
	return &m, nil
}

// StateError is a sandbox directory in the wrong state for the command.
type StateError struct {
	Msg, Fix string
}

func (e *StateError) Error() string  { return e.Msg }
func (e *StateError) Hint() string   { return e.Fix }
func (e *StateError) BadInput() bool { return true }

// Services returns the sandbox's background processes (server, sshd,
// agents, then the test IdP).
func Services(dir string, m *Marker) []Service {
	l := NewLayout(dir)
	svcs := []Service{
		{Name: "cloudera-scm-server", Exe: l.Bin, Args: []string{"daemon", "server", "run", "--config", l.ServerConfig},
			PidFile: filepath.Join(l.ServerDir, "cloudera-scm-server.pid"), OutFile: filepath.Join(l.ServerDir, "cloudera-scm-server.out"),
			LogFile: filepath.Join(l.ServerDir, "cloudera-scm-server.log")},
		{Name: "cmtls-sshd", Exe: l.Bin, Args: []string{"daemon", "sshd", "run", "--config", l.SSHDConfig},
			PidFile: filepath.Join(dir, "sshd", "sshd.pid"), OutFile: filepath.Join(dir, "sshd", "sshd.out"),
			LogFile: filepath.Join(dir, "sshd", "sshd.log")},
	}
	for i := 1; i <= m.Agents; i++ {
		cfg := l.AgentConfig(i)
		svcs = append(svcs, Service{Name: "cloudera-scm-agent@" + HostName(i), Exe: l.Bin,
			Args:    []string{"daemon", "agent", "run", "--config", cfg, "--interval", m.Interval},
			Marker:  []string{"daemon", "agent", "run", "--config", cfg},
			PidFile: filepath.Join(filepath.Dir(cfg), "cloudera-scm-agent.pid"),
			OutFile: filepath.Join(filepath.Dir(l.AgentLog(i)), "cloudera-scm-agent.out"), LogFile: l.AgentLog(i)})
	}
	return append(svcs, idpService(l))
}

// Up creates (or re-creates) the sandbox in o.Dir and starts it. When it
// fails after starting processes, it stops them again.
func Up(ctx context.Context, o Options) (m *Marker, err error) {
	if err := o.withDefaults(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if _, merr := ReadMarker(dir); merr == nil {
				_ = Down(dir)
			}
		}
	}()
	l := NewLayout(dir)
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	m = &Marker{Version: 1, Agents: o.Agents, CMVersion: o.CMVersion, Interval: o.Interval.String(), User: u.Username, Ports: map[string]int{}}
	if err := writeBase(l, o, m); err != nil {
		return nil, err
	}
	svcs := Services(dir, m)
	st, err := startServer(l, o, svcs[0])
	if err != nil {
		return nil, err
	}
	m.Ports["http"], m.Ports["https"], m.Ports["agent"] = st.Ports.HTTP, st.Ports.HTTPS, st.Ports.Agent
	fmt.Fprintf(o.Out, "server: Cloudera Manager %s, console http://localhost:%d, agent port %d\n", o.CMVersion, st.Ports.HTTP, st.Ports.Agent)
	if err := startHosts(l, m, u.Username, st.Ports.Agent, svcs[1]); err != nil {
		return nil, err
	}
	for _, s := range svcs[2 : 2+o.Agents] {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := s.Start(serviceWait); err != nil {
			return nil, err
		}
	}
	// SAML: the test IdP (its users, CM's SAML keystore) and
	// saml-answers.yaml for `cmtls saml configure`.
	if err := setupSAML(l, m.Ports["http"], time.Now()); err != nil {
		return nil, err
	}
	if _, err := idpService(l).Start(serviceWait); err != nil {
		return nil, err
	}
	if m.Ports["idp"], err = idpPort(l); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Out, "test IdP: %s (users %s)\n", IdPURL(m.Ports["idp"]), idpUserList())
	if err := writeAnswerFiles(dir, l, m); err != nil {
		return nil, err
	}
	if o.AfterUp != nil {
		if err := o.AfterUp(ctx, l, m); err != nil {
			return m, err
		}
	}
	fmt.Fprintf(o.Out, "%d agents heartbeating every %s; answers file %s, SAML answers file %s\n", o.Agents, o.Interval, l.Answers, l.SAMLAnswers)
	return m, nil
}

// withDefaults fills and checks the options.
func (o *Options) withDefaults() error {
	if o.Agents == 0 {
		o.Agents = DefaultAgents
	}
	if o.Agents < 1 || o.Agents > 200 {
		return &StateError{Msg: fmt.Sprintf("--agents %d is out of range", o.Agents), Fix: "use 1-200 agents"}
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.CMVersion == "" {
		o.CMVersion = cmserver.DefaultVersion
	}
	if _, err := cmserver.LookupProfile(o.CMVersion); err != nil {
		return err
	}
	switch {
	case o.StartupDelay == 0:
		o.StartupDelay = DefaultStartupDelay
	case o.StartupDelay < 0:
		o.StartupDelay = 0
	}
	return nil
}

// writeBase writes what every process needs: the cmtls copy, the marker,
// the secrets and the SSH client key.
func writeBase(l Layout, o Options, m *Marker) error {
	exe := o.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return err
		}
	}
	// Under `go run` the original binary disappears when go run exits:
	// every process and restart command uses this copy.
	if err := copyFile(exe, l.Bin, 0o755); err != nil {
		return fmt.Errorf("copy cmtls to %s: %w", l.Bin, err)
	}
	if err := writeMarker(l.Dir, m); err != nil {
		return err
	}
	if err := writeSecrets(l); err != nil {
		return err
	}
	_, err := writeClientKey(l.Identity)
	return err
}

// startServer writes a fresh CM at TLS level 0 (heartbeat interval as the
// agents') of the chosen release and starts it.
func startServer(l Layout, o Options, svc Service) (cmserver.State, error) {
	if err := os.MkdirAll(filepath.Join(l.ServerDir, "x509"), 0o755); err != nil {
		return cmserver.State{}, err
	}
	secs := int(o.Interval / time.Second)
	if secs < 1 {
		secs = 1
	}
	settings := cmserver.Settings{}
	_ = settings.Set(cmserver.HeartbeatInterval, strconv.Itoa(secs))
	if err := cmserver.SaveSettings(filepath.Join(l.ServerDir, "settings.json"), settings); err != nil {
		return cmserver.State{}, err
	}
	serverYAML := fmt.Sprintf("host: localhost\nbind: 127.0.0.1\nports: {http: 0, https: 0, agent: 0}\nadmin: {user: %s, password_file: %s}\ncm_version: %q\nstartup_delay: %s\n",
		adminUser, l.AdminPassword, o.CMVersion, o.StartupDelay)
	if err := os.WriteFile(l.ServerConfig, []byte(serverYAML), 0o600); err != nil {
		return cmserver.State{}, err
	}
	if _, err := svc.Start(serviceWait); err != nil {
		return cmserver.State{}, err
	}
	return cmserver.ReadState(filepath.Join(l.ServerDir, "state.json"))
}

// startHosts makes each agent host (root, config.ini, host key), starts
// the one sshd that serves them all and writes known_hosts.
func startHosts(l Layout, m *Marker, userName string, agentPort int, sshdSvc Service) error {
	var sc strings.Builder
	fmt.Fprintf(&sc, "bind: 127.0.0.1\nuser: %q\nauthorized_keys: %s\nhosts:\n", userName, l.Identity+".pub")
	hostPubs := map[string]ssh.PublicKey{}
	for i := 1; i <= m.Agents; i++ {
		root := l.HostRoot(i)
		for _, d := range []string{"etc/cloudera-scm-agent", "etc/cmf", "var/log/cloudera-scm-agent", "var/lib/cloudera-scm-agent"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				return err
			}
		}
		ini := agentINI(stockConfig, agentPort, HostName(i), l.AgentLog(i), filepath.Join(root, "var", "lib", "cloudera-scm-agent"))
		if err := os.WriteFile(l.AgentConfig(i), ini, 0o644); err != nil {
			return err
		}
		keyPath := filepath.Join(root, "ssh_host_ed25519_key")
		pub, err := writeHostKey(keyPath)
		if err != nil {
			return err
		}
		hostPubs[HostName(i)] = pub
		fmt.Fprintf(&sc, "  - {name: %s, port: 0, host_key: %s, dir: %s}\n", HostName(i), keyPath, root)
	}
	if err := os.MkdirAll(filepath.Dir(l.SSHDConfig), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(l.SSHDConfig, []byte(sc.String()), 0o600); err != nil {
		return err
	}
	if _, err := sshdSvc.Start(serviceWait); err != nil {
		return err
	}
	ports, err := sshd.ReadPorts(filepath.Join(l.Dir, "sshd", "sshd-state.json"))
	if err != nil {
		return err
	}
	var kh strings.Builder
	for i := 1; i <= m.Agents; i++ {
		p := ports[HostName(i)]
		m.Ports["ssh-"+HostName(i)] = p
		fmt.Fprintf(&kh, "[127.0.0.1]:%d %s", p, ssh.MarshalAuthorizedKey(hostPubs[HostName(i)]))
	}
	return os.WriteFile(l.KnownHosts, []byte(kh.String()), 0o644)
}

// writeAnswerFiles records the ports in the marker and writes
// answers.yaml and saml-answers.yaml.
func writeAnswerFiles(dir string, l Layout, m *Marker) error {
	if err := writeMarker(dir, m); err != nil {
		return err
	}
	b, err := MarshalAnswers(Answers(l, m))
	if err != nil {
		return err
	}
	if err := os.WriteFile(l.Answers, b, 0o644); err != nil {
		return err
	}
	_, _, err = WriteSAMLAnswers(dir)
	return err
}

// prepareDir refuses a running sandbox and a non-empty directory that is
// not a sandbox; a stopped sandbox is cleared and made afresh.
func prepareDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	m, err := ReadMarker(dir)
	if err != nil {
		return &StateError{Msg: fmt.Sprintf("%s is not empty and holds no sandbox", dir),
			Fix: "give an empty or new directory to --dir"}
	}
	for _, s := range Services(dir, m) {
		if pid, ok := s.Status(); ok {
			return &StateError{Msg: fmt.Sprintf("a sandbox is already up in %s (%s pid %d)", dir, s.Name, pid),
				Fix: "use it as it is, or stop it first: cmtls sandbox down --dir " + dir}
		}
	}
	for _, name := range []string{"bin", "hosts", "server", "sshd", "idp", "secrets", "answers.yaml", "saml-answers.yaml", "known_hosts", "id_ed25519", "id_ed25519.pub", markerFile} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// Down stops every process of the sandbox in dir and checks that none of
// its ports is still listening.
func Down(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	m, err := ReadMarker(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return &StateError{Msg: fmt.Sprintf("no sandbox in %s", dir), Fix: "check --dir"}
		}
		return err
	}
	var errs []error
	svcs := Services(dir, m)
	// The IdP and agents first, then the sshd and the server.
	for i := len(svcs) - 1; i >= 0; i-- {
		if err := svcs[i].Stop(10 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	for name, p := range m.Ports {
		if name == "https" {
			continue // reserved, listening only with console TLS
		}
		if p != 0 && listening(p) {
			errs = append(errs, fmt.Errorf("port %d (%s) still listening", p, name))
		}
	}
	if st, err := cmserver.ReadState(filepath.Join(dir, "server", "state.json")); err == nil && st.Ports.HTTPS != 0 && listening(st.Ports.HTTPS) {
		errs = append(errs, fmt.Errorf("port %d (https) still listening", st.Ports.HTTPS))
	}
	return errors.Join(errs...)
}

// Status lists the sandbox's services and whether each runs.
func Status(dir string) ([]ServiceStatus, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	m, err := ReadMarker(dir)
	if err != nil {
		return nil, &StateError{Msg: fmt.Sprintf("no sandbox in %s", dir), Fix: "cmtls sandbox up --dir " + dir}
	}
	var out []ServiceStatus
	for _, s := range Services(dir, m) {
		pid, ok := s.Status()
		out = append(out, ServiceStatus{Name: s.Name, PID: pid, Running: ok})
	}
	return out, nil
}

// ServiceStatus is one line of `sandbox status`.
type ServiceStatus struct {
	Name    string `json:"name"`
	PID     int    `json:"pid,omitempty"`
	Running bool   `json:"running"`
}

func listening(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// agentINI sets what an installer sets in the stock file: server_host and
// server_port, plus (for a host root that is not /) the host name, log file
// and lib_dir, uncommenting the shipped "# key=" lines in place.
func agentINI(stock []byte, port int, name, logFile, libDir string) []byte {
	lines := strings.Split(string(stock), "\n")
	set := map[string]string{"server_host": "localhost", "server_port": strconv.Itoa(port),
		"listening_hostname": name, "log_file": logFile, "lib_dir": libDir}
	for i, ln := range lines {
		key := strings.TrimPrefix(ln, "# ")
		k, _, ok := strings.Cut(key, "=")
		if !ok {
			continue
		}
		if v, want := set[k]; want {
			lines[i] = k + "=" + v
			delete(set, k)
		}
	}
	return []byte(strings.Join(lines, "\n"))
}

func writeMarker(dir string, m *Marker) error {
	b, _ := json.MarshalIndent(m, "", "  ")
	return os.WriteFile(filepath.Join(dir, markerFile), append(b, '\n'), 0o644)
}

func writeSecrets(l Layout) error {
	if err := os.MkdirAll(l.Secrets, 0o700); err != nil {
		return err
	}
	for _, p := range []string{l.AdminPassword, l.KeystorePassword} {
		if err := os.WriteFile(p, []byte(randomPassword()+"\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// randomPassword is ASCII (keystores want ASCII) and 24 characters.
func randomPassword() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func writeClientKey(path string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	blk, err := ssh.MarshalPrivateKey(priv, "cmtls sandbox")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		return nil, err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return sp, os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(sp), 0o644)
}

func writeHostKey(path string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewPublicKey(pub)
}

func copyFile(src, dst string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// Answers is the answers file for the sandbox in l: `cmtls init
// --answers` accepts it as it is.
func Answers(l Layout, m *Marker) *answers.File {
	yes, canary := true, 1
	restartAgent := func(i int) string {
		return fmt.Sprintf("%s daemon agent restart --config %s --interval %s", l.Bin, l.AgentConfig(i), m.Interval)
	}
	f := &answers.File{
		Version: 1,
		Server: &answers.Server{
			Host: "localhost",
			API: &answers.API{URL: fmt.Sprintf("http://localhost:%d", m.Ports["http"]), User: adminUser,
				Password: answers.Secret{File: l.AdminPassword}},
			Keystore: &answers.Keystore{Path: l.Keystore, Type: "jks", Alias: "jetty",
				Password: answers.Secret{File: l.KeystorePassword},
				Generate: &answers.Generate{ValidityDays: 180, KeyAlgorithm: "RSA", KeySize: 2048,
					Subject: &answers.Subject{OU: "Sandbox", O: "cmtls", L: "Local", ST: "Local", C: "US"},
					SAN:     []string{"localhost"}}},
			DERPath:        l.DER,
			PEMPath:        l.PEM,
			RestartCommand: fmt.Sprintf("%s daemon server restart --config %s", l.Bin, l.ServerConfig),
			// The sandbox's server runs as the user who brought it up:
			// the keystore is proven readable by that account.
			User: m.User,
			// Step 7 gives the Management Service its truststore here,
			// inside the sandbox, not under /opt/cloudera.
			Truststore: &answers.Truststore{Path: filepath.Join(filepath.Dir(l.PEM), "cms-truststore.jks")},
		},
		Agents: &Agents{},
		TLS:    &answers.TLS{AgentEncryption: &yes, AdminConsole: true},
		Verify: &answers.Verify{HeartbeatTimeout: answers.Duration(60 * time.Second), PollInterval: answers.Duration(time.Second)},
	}
	f.Agents.SSH = &answers.SSH{IdentityFile: l.Identity, KnownHosts: l.KnownHosts}
	f.Agents.Canary = &canary
	for i := 1; i <= m.Agents; i++ {
		root := l.HostRoot(i)
		f.Agents.Hosts = append(f.Agents.Hosts, answers.Host{
			Name: HostName(i), Address: "127.0.0.1", Port: m.Ports["ssh-"+HostName(i)], User: m.User,
			PEMDest:        filepath.Join(root, "etc", "cmf", "server.pem"),
			ConfigPath:     l.AgentConfig(i),
			RestartCommand: restartAgent(i),
			CheckCommand:   fmt.Sprintf("%s daemon agent status --config %s", l.Bin, l.AgentConfig(i)),
			LogPath:        l.AgentLog(i),
		})
	}
	return f
}

// Agents aliases the answers type (keeps Answers readable).
type Agents = answers.Agents

// MarshalAnswers renders an answers file as YAML and checks that it
// parses back and passes ValidateInit.
func MarshalAnswers(f *answers.File) ([]byte, error) {
	b, err := yaml.Marshal(f)
	if err != nil {
		return nil, err
	}
	b = append([]byte("# Written by `cmtls sandbox up`: run `cmtls init --answers <this file> --yes`.\n"), b...)
	back, err := answers.Parse("answers.yaml", b)
	if err != nil {
		return nil, fmt.Errorf("sandbox answers file does not parse: %w", err)
	}
	back.ApplyDefaults()
	if err := back.ValidateInit(); err != nil {
		return nil, fmt.Errorf("sandbox answers file is not valid: %w", err)
	}
	return b, nil
}

func idpUserList() string {
	var names []string
	for _, u := range IdPUsers {
		names = append(names, u.Name+" ("+u.OU+")")
	}
	return strings.Join(names, ", ")
}
