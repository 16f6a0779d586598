package remote

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	sshconfig "github.com/kevinburke/ssh_config"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
)

// Dialer dials many hosts with one set of Options. It parses the ssh config,
// the keys and the known_hosts files once, not once per host, which matters
// at hundreds of hosts. Safe for concurrent use.
type Dialer struct {
	o    Options
	home string
	cfg  *sshconfig.Config // nil: none

	mu        sync.Mutex
	signers   map[string][]ssh.Signer // identity file -> its signer (nil: unusable)
	agent     agent.ExtendedAgent
	agentConn net.Conn
	agentOK   bool
	dbs       map[string]*knownhosts.HostKeyDB // by joined file list
	khMu      sync.Mutex                       // serialises known_hosts appends and questions
	keyMu     sync.Mutex                       // serialises key loading (passphrase prompts)
}

// NewDialer prepares a Dialer. An ssh config that cannot be parsed is a
// warning (Options.Warn), not an error: kevinburke/ssh_config refuses some
// valid files (e.g. Match user), and the answers file's settings still work.
func NewDialer(o Options) (*Dialer, error) {
	d := &Dialer{o: o, signers: map[string][]ssh.Signer{}, dbs: map[string]*knownhosts.HostKeyDB{}}
	d.home = o.HomeDir
	if d.home == "" {
		d.home, _ = os.UserHomeDir()
	}
	if d.o.Port == 0 {
		d.o.Port = 22
	}
	if d.o.User == "" {
		if u, err := user.Current(); err == nil {
			d.o.User = u.Username
		}
	}
	cfgPath := o.SSHConfigPath
	explicit := cfgPath != ""
	if cfgPath == "" && d.home != "" {
		cfgPath = filepath.Join(d.home, ".ssh", "config")
	}
	if cfgPath != "" && cfgPath != "none" {
		cfgPath = d.expand(cfgPath)
		b, err := os.ReadFile(cfgPath)
		switch {
		case err == nil:
			c, perr := sshconfig.DecodeBytes(b)
			if perr != nil {
				d.warn(fmt.Sprintf("ssh config %s cannot be parsed (%v); going on without it", cfgPath, perr))
			} else {
				d.cfg = c
			}
		case errors.Is(err, fs.ErrNotExist) && !explicit:
		default:
			return nil, &ConfigError{Msg: fmt.Sprintf("read ssh config: %v", err), Fix: "check agents.ssh.config (or remove it to use ~/.ssh/config)"}
		}
	}
	if o.AgentSocket != "" {
		if c, err := net.Dial("unix", o.AgentSocket); err == nil {
			d.agent = agent.NewClient(c)
			d.agentConn = c
			d.agentOK = true
		} else {
			d.warn(fmt.Sprintf("ssh-agent at $SSH_AUTH_SOCK not reachable (%v); using key files only", err))
		}
	}
	return d, nil
}

// ConfigError is a local SSH setting that is wrong (exit code 2).
type ConfigError struct{ Msg, Fix string }

func (e *ConfigError) Error() string  { return e.Msg }
func (e *ConfigError) BadInput() bool { return true }
func (e *ConfigError) Hint() string   { return e.Fix }

func (d *Dialer) warn(s string) {
	if d.o.Warn != nil {
		d.o.Warn(s)
	}
}

// expand replaces a leading ~ with the home directory.
func (d *Dialer) expand(p string) string {
	p = strings.Trim(p, `"`)
	if p == "~" {
		return d.home
	}
	if strings.HasPrefix(p, "~/") && d.home != "" {
		return filepath.Join(d.home, p[2:])
	}
	return p
}

func (d *Dialer) get(alias, key string) string {
	if d.cfg == nil {
		return ""
	}
	v, err := d.cfg.Get(alias, key)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(v)
}

func (d *Dialer) getAll(alias, key string) []string {
	if d.cfg == nil {
		return nil
	}
	v, _ := d.cfg.GetAll(alias, key)
	return v
}

// resolved is a target with the ssh config applied.
type resolved struct {
	alias, host, user string
	port              int
	identities        []string
	identitiesOnly    bool
	knownHosts        []string
	acceptNew         bool
	proxyJump         string
	proxyCommand      string // ssh_config ProxyCommand (ProxyJump wins when both are set)
	timeout           time.Duration
}

func (d *Dialer) resolve(t Target) resolved {
	r := resolved{alias: t.Name, host: t.Address, port: t.Port, user: t.User}
	if r.host == "" {
		r.host = d.get(t.Name, "HostName")
		if r.host == "" {
			r.host = t.Name
		}
		// %h in HostName is the alias (OpenSSH's token)
		r.host = strings.ReplaceAll(r.host, "%h", t.Name)
	}
	if r.port == 0 {
		if p, err := strconv.Atoi(d.get(t.Name, "Port")); err == nil && p > 0 {
			r.port = p
		} else {
			r.port = d.o.Port
		}
	}
	if r.user == "" {
		r.user = d.get(t.Name, "User")
		if r.user == "" {
			r.user = d.o.User
		}
	}
	if t.IdentityFile != "" {
		r.identities = append(r.identities, d.expand(t.IdentityFile))
	}
	r.identities = append(r.identities, d.o.IdentityFiles...)
	r.identities = append(r.identities, d.getAll(t.Name, "IdentityFile")...)
	r.identitiesOnly = strings.EqualFold(d.get(t.Name, "IdentitiesOnly"), "yes")
	if len(r.identities) == 0 && d.home != "" {
		for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			p := filepath.Join(d.home, ".ssh", n)
			if _, err := os.Stat(p); err == nil {
				r.identities = append(r.identities, p)
			}
		}
	}
	// a copy: ~ is expanded below, and Options is shared by every dial
	r.knownHosts = append([]string(nil), d.o.KnownHostsFiles...)
	if len(r.knownHosts) == 0 {
		if v := d.get(t.Name, "UserKnownHostsFile"); v != "" {
			r.knownHosts = strings.Fields(v)
		} else if d.home != "" {
			r.knownHosts = []string{filepath.Join(d.home, ".ssh", "known_hosts")}
		}
	}
	for i := range r.knownHosts {
		r.knownHosts[i] = d.expand(r.knownHosts[i])
	}
	r.acceptNew = d.o.AcceptNewHostKeys || strings.EqualFold(d.get(t.Name, "StrictHostKeyChecking"), "accept-new")
	r.proxyJump = d.get(t.Name, "ProxyJump")
	if strings.EqualFold(r.proxyJump, "none") {
		r.proxyJump = ""
	}
	if pc := d.get(t.Name, "ProxyCommand"); r.proxyJump == "" && !strings.EqualFold(pc, "none") {
		r.proxyCommand = pc
	}
	r.timeout = d.o.ConnectTimeout
	if r.timeout == 0 {
		if s, err := strconv.Atoi(d.get(t.Name, "ConnectTimeout")); err == nil && s > 0 {
			r.timeout = time.Duration(s) * time.Second
		} else {
			r.timeout = 15 * time.Second
		}
	}
	return r
}

// Dial opens one connection to t (through its ProxyJump hosts, if any).
func (d *Dialer) Dial(ctx context.Context, t Target) (Host, error) {
	r := d.resolve(t)
	var jumps []*ssh.Client
	closeJumps := func() {
		for i := len(jumps) - 1; i >= 0; i-- {
			_ = jumps[i].Close()
		}
	}
	var via *ssh.Client
	if r.proxyJump != "" {
		for _, hop := range strings.Split(r.proxyJump, ",") {
			jt := parseJump(strings.TrimSpace(hop))
			jr := d.resolve(jt)
			c, err := d.connect(ctx, via, jr)
			if err != nil {
				closeJumps()
				return nil, fmt.Errorf("host %s: via jump host %s: %w", t.Name, jt.Name, err)
			}
			jumps = append(jumps, c)
			via = c
		}
	}
	c, err := d.connect(ctx, via, r)
	if err != nil {
		closeJumps()
		return nil, fmt.Errorf("host %s: %w", t.Name, err)
	}
	sh := &sshHost{name: t.Name, client: c, jumps: jumps, o: d.hostOptions(t), timeout: d.o.CommandTimeout, marker: newMarker()}
	return &shellHost{name: t.Name, run: sh.run, close: sh.close, now: time.Now, chain: sh.chain}, nil
}

// hostOptions are the Options with t's own become settings over them; the
// shared Options are returned as they are when t has none.
func (d *Dialer) hostOptions(t Target) *Options {
	if t.Become == "" && t.BecomeUser == "" && t.BecomePassword == nil {
		return &d.o
	}
	o := d.o
	switch t.Become {
	case "":
	case "none":
		o.Become = ""
	default:
		o.Become = t.Become
	}
	if t.BecomeUser != "" {
		o.BecomeUser = t.BecomeUser
	}
	if t.BecomePassword != nil {
		o.BecomePassword = t.BecomePassword
	}
	return &o
}

// parseJump reads one ProxyJump hop: [user@]host[:port].
func parseJump(s string) Target {
	var t Target
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		t.User, s = s[:i], s[i+1:]
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		t.Name = h
		t.Port, _ = strconv.Atoi(p)
	} else {
		t.Name = s
	}
	return t
}

// connect does TCP (directly, or through via), the handshake and auth, all
// within r.timeout: x/crypto's ClientConfig.Timeout covers only the TCP
// connect, so the handshake gets a deadline on the conn.
func (d *Dialer) connect(ctx context.Context, via *ssh.Client, r resolved) (*ssh.Client, error) {
	addr := dialAddr(r.host, r.port)
	db, err := d.hostKeyDB(r.knownHosts, r.acceptNew)
	if err != nil {
		return nil, err
	}
	auth, err := d.authMethods(r)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ClientConfig{
		User:            r.user,
		Auth:            auth,
		HostKeyCallback: d.hostKeyCallback(db, r),
		Timeout:         r.timeout,
	}
	if db != nil {
		// ask for the key type known_hosts holds (golang/go#29286)
		cfg.HostKeyAlgorithms = db.HostKeyAlgorithms(addr)
	}
	c, err := d.handshake(ctx, via, r, addr, cfg)
	if err != nil && len(cfg.HostKeyAlgorithms) > 0 && strings.Contains(err.Error(), "no common algorithm for host key") {
		// the host no longer has a key of the type known_hosts holds for
		// it: asked again for any type, so that its real key is seen and
		// refused as a changed host key, with both fingerprints
		cfg.HostKeyAlgorithms = nil
		c, err = d.handshake(ctx, via, r, addr, cfg)
	}
	return c, err
}

func (d *Dialer) handshake(ctx context.Context, via *ssh.Client, r resolved, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	var err error
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var conn net.Conn
	if via != nil {
		conn, err = via.DialContext(cctx, "tcp", addr)
	} else if r.proxyCommand != "" {
		conn, err = dialProxyCommand(cctx, r)
	} else {
		var nd net.Dialer
		conn, err = nd.DialContext(cctx, "tcp", addr)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &UnreachableError{Addr: addr, Err: err}
	}
	deadline, _ := cctx.Deadline()
	_ = conn.SetDeadline(deadline)
	// a cancelled context ends the handshake at once
	stop := context.AfterFunc(cctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	stop()
	if err != nil {
		err = proxyCommandError(conn, r, err)
		_ = conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, &AuthError{User: r.user, Addr: addr, Err: err}
		}
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return nil, &UnreachableError{Addr: addr, Err: fmt.Errorf("ssh handshake timed out after %s", r.timeout)}
		}
		return nil, fmt.Errorf("ssh handshake with %s: %w", addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(cc, chans, reqs), nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// UnreachableError: TCP connect failed or timed out.
type UnreachableError struct {
	Addr string
	Err  error
}

func (e *UnreachableError) Error() string { return fmt.Sprintf("cannot reach %s: %v", e.Addr, e.Err) }
func (e *UnreachableError) Unwrap() error { return e.Err }
func (e *UnreachableError) Hint() string {
	return "check the host's address and port (agents.hosts, ~/.ssh/config) and that sshd runs there"
}

// AuthError: the server refused every key.
type AuthError struct {
	User, Addr string
	Err        error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%s@%s refused every key offered: %v", e.User, e.Addr, e.Err)
}
func (e *AuthError) Unwrap() error { return e.Err }
func (e *AuthError) Hint() string {
	return "check agents.ssh.user and identity_file (or ssh-agent), and the host's authorized_keys"
}

// HostKeyError is an unknown or changed host key.
type HostKeyError struct {
	Addr    string
	Changed bool
	Got     string   // fingerprint offered by the host
	Want    []string // fingerprints known_hosts holds (Changed)
	File    string   // known_hosts file
}

func (e *HostKeyError) Error() string {
	if e.Changed {
		return fmt.Sprintf("HOST KEY CHANGED for %s: it offered %s, but %s has %s; possible man-in-the-middle attack, refusing to connect",
			e.Addr, e.Got, e.File, strings.Join(e.Want, ", "))
	}
	return fmt.Sprintf("unknown host key for %s (%s): it is not in %s", e.Addr, e.Got, e.File)
}

func (e *HostKeyError) Hint() string {
	if e.Changed {
		f := ""
		if e.File != "" {
			f = " -f " + Quote(e.File)
		}
		return "if the host was reinstalled, check the new key out of band, then remove the old line with: ssh-keygen" + f + " -R '" + knownhosts.Normalize(e.Addr) + "'"
	}
	return "check the fingerprint, then re-run with --accept-new-host-keys (or add it with ssh-keyscan)"
}

func (d *Dialer) hostKeyDB(files []string, acceptNew bool) (*knownhosts.HostKeyDB, error) {
	var existing []string
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		}
	}
	// the system-wide file too, read-only, unless the user named the files
	if g := "/etc/ssh/ssh_known_hosts"; len(d.o.KnownHostsFiles) == 0 {
		if _, err := os.Stat(g); err == nil {
			existing = append(existing, g)
		}
	}
	if len(existing) == 0 {
		return nil, nil
	}
	key := strings.Join(existing, "\x00")
	d.mu.Lock()
	defer d.mu.Unlock()
	if db, ok := d.dbs[key]; ok {
		return db, nil
	}
	db, err := knownhosts.NewDB(existing...)
	if err != nil {
		return nil, &ConfigError{Msg: fmt.Sprintf("read known_hosts: %v", err), Fix: "fix or remove the bad line in the known_hosts file"}
	}
	d.dbs[key] = db
	return db, nil
}

// fingerprint is OpenSSH's SHA256:... form.
func fingerprint(k ssh.PublicKey) string {
	s := sha256.Sum256(k.Marshal())
	return k.Type() + " SHA256:" + base64.RawStdEncoding.EncodeToString(s[:])
}

func (d *Dialer) hostKeyCallback(db *knownhosts.HostKeyDB, r resolved) ssh.HostKeyCallback {
	file := ""
	if len(r.knownHosts) > 0 {
		file = r.knownHosts[0]
	}
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		var err error
		if db != nil {
			err = db.HostKeyCallback()(hostname, remote, key)
			if err == nil {
				return nil
			}
		}
		if db != nil && knownhosts.IsHostKeyChanged(err) {
			e := &HostKeyError{Addr: hostname, Changed: true, Got: fingerprint(key), File: file}
			var ke *xKeyError
			if errors.As(err, &ke) {
				for _, w := range ke.Want {
					e.Want = append(e.Want, fmt.Sprintf("%s (%s:%d)", fingerprint(w.Key), w.Filename, w.Line))
				}
			}
			return e
		}
		if db != nil && !knownhosts.IsHostUnknown(err) {
			return err
		}
		// unknown host: accepted by option, or by the user when asked
		d.khMu.Lock()
		defer d.khMu.Unlock()
		accept := r.acceptNew
		if !accept && d.o.AskHostKey != nil && file != "" {
			accept = d.o.AskHostKey(hostname, fingerprint(key))
		}
		if !accept || file == "" {
			return &HostKeyError{Addr: hostname, Got: fingerprint(key), File: file}
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return fmt.Errorf("record host key: %w", err)
		}
		f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("record host key: %w", err)
		}
		defer f.Close()
		if _, err := f.WriteString(knownhosts.Line([]string{hostname}, key) + "\n"); err != nil {
			return fmt.Errorf("record host key: %w", err)
		}
		// the next dial reads the file again, with this key in it
		d.mu.Lock()
		d.dbs = map[string]*knownhosts.HostKeyDB{}
		d.mu.Unlock()
		d.warn(fmt.Sprintf("recorded new host key for %s (%s) in %s", hostname, fingerprint(key), file))
		return nil
	}
}

// authMethods: identity files first (in order), then the agent's keys.
func (d *Dialer) authMethods(r resolved) ([]ssh.AuthMethod, error) {
	var signers []ssh.Signer
	for _, f := range r.identities {
		s, err := d.identity(d.expand(f))
		if err != nil {
			return nil, err
		}
		signers = append(signers, s...)
	}
	useAgent := d.agentOK && !r.identitiesOnly
	if len(signers) == 0 && !useAgent {
		if d.agentOK {
			useAgent = true
		} else {
			return nil, &ConfigError{Msg: "no SSH key to log in with: no identity file and no ssh-agent", Fix: "set agents.ssh.identity_file, or start ssh-agent and ssh-add your key"}
		}
	}
	return []ssh.AuthMethod{ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
		out := append([]ssh.Signer(nil), signers...)
		if useAgent {
			if as, err := d.agent.Signers(); err == nil {
				out = append(out, as...)
			}
		}
		return out, nil
	})}, nil
}

// identity loads a private key once. A missing default key is skipped; a
// missing key named by the user is an error.
func (d *Dialer) identity(path string) ([]ssh.Signer, error) {
	// one key load at a time: a passphrase is asked once, not once per
	// host dialled in parallel
	d.keyMu.Lock()
	defer d.keyMu.Unlock()
	d.mu.Lock()
	if s, ok := d.signers[path]; ok {
		d.mu.Unlock()
		return s, nil
	}
	d.mu.Unlock()
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			d.warn(fmt.Sprintf("identity file %s does not exist; skipped", path))
			d.remember(path, nil)
			return nil, nil
		}
		return nil, &ConfigError{Msg: fmt.Sprintf("read identity file: %v", err), Fix: "check agents.ssh.identity_file"}
	}
	s, err := ssh.ParsePrivateKey(b)
	var pm *ssh.PassphraseMissingError
	if errors.As(err, &pm) {
		if d.o.Passphrase == nil {
			d.warn(fmt.Sprintf("identity file %s is encrypted and no passphrase was given; skipped", path))
			d.remember(path, nil)
			return nil, nil
		}
		pass, perr := d.o.Passphrase(path)
		if perr != nil {
			return nil, fmt.Errorf("passphrase for %s: %w", path, perr)
		}
		s, err = ssh.ParsePrivateKeyWithPassphrase(b, pass)
		if err != nil {
			return nil, &ConfigError{Msg: fmt.Sprintf("identity file %s: cannot decrypt it with the passphrase given: %v", path, err), Fix: "check the passphrase (agents.ssh.passphrase)"}
		}
	} else if err != nil {
		return nil, &ConfigError{Msg: fmt.Sprintf("identity file %s: %v", path, err), Fix: "agents.ssh.identity_file must be an OpenSSH or PEM private key"}
	}
	d.remember(path, []ssh.Signer{s})
	return []ssh.Signer{s}, nil
}

func (d *Dialer) remember(path string, s []ssh.Signer) {
	d.mu.Lock()
	d.signers[path] = s
	d.mu.Unlock()
}

// Close releases the ssh-agent connection (hosts already dialled keep
// working: their keys were signed with during the handshake).
func (d *Dialer) Close() error {
	if d.agentConn != nil {
		return d.agentConn.Close()
	}
	return nil
}

type xKeyError = xknownhosts.KeyError
