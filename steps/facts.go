package steps

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps/agentcfg"
)

// Facts is what the runner reads before any step plans, changing nothing.
// It does not depend on the steps selected, so a step run alone (--only)
// plans from the same inputs as in a full run. What is read depends on what
// the Env has: the CM settings and hosts when it has an API, the server's
// PEM when it has a server host, each agent's config.ini when it has both.
type Facts struct {
	// Settings are the CM settings (nil with SettingsErr when unread).
	Settings    []cmapi.ConfigItem
	SettingsErr error
	// Hosts are the hosts CM knows, with their last heartbeats.
	Hosts    []cmapi.Host
	HostsErr error
	// ServerPEM is server.pem_path on the server host and ServerLeaf its
	// first certificate (nil with ServerPEMErr when unread).
	ServerPEM    []byte
	ServerLeaf   *x509.Certificate
	ServerPEMErr error
	// Agents holds each reachable agent's config.ini, by host name.
	Agents map[string]*AgentFacts
}

// AgentFacts is what the runner read on one agent host, in one command:
// config.ini (parsed), the PEM at pem_dest, and whether a restart is owed.
type AgentFacts struct {
	INI *AgentINI
	Err error // reading or parsing config.ini failed

	Config    []byte
	PEM       []byte
	PEMExists bool
	Pending   bool // agentcfg's restart marker is there
}

// Setting returns a CM setting's value ("" when unset or unread).
func (f *Facts) Setting(name string) string {
	it, _ := cmapi.FindByName(f.Settings, name)
	return it.Value
}

// Agent returns what was read on host name (never nil).
func (f *Facts) Agent(name string) *AgentFacts {
	if a := f.Agents[name]; a != nil {
		return a
	}
	return &AgentFacts{Err: fmt.Errorf("%s: config.ini not read (the host was not reached)", name)}
}

// discover fills the run's Facts, connecting the agents it reads.
func (e *Env) discover(ctx context.Context) {
	f := &Facts{Agents: map[string]*AgentFacts{}}
	e.run.facts = f
	if e.API != nil {
		f.Settings, f.SettingsErr = e.API.Config(ctx)
	}
	if e.Server != nil && e.Answers != nil && e.Answers.Server != nil && e.Answers.Server.PEMPath != "" {
		f.ServerPEM, f.ServerLeaf, f.ServerPEMErr = readServerPEM(ctx, e)
	}
	// Each host is read as soon as it is connected (one fan-out). Where
	// nothing is read (agents push), the first step's fan-out connects
	// each host right before its own work.
	e.readAgentFiles(ctx, e.live())
	if e.API != nil && len(e.live()) > 0 {
		// the hosts' heartbeats matter only when some agent answered
		f.Hosts, f.HostsErr = e.API.Hosts(ctx)
	}
}

// readAgentFiles reads, on each agent in one command, config.ini, the PEM
// at pem_dest and agentcfg's restart marker into the Facts (with the API
// and a server: the TLS procedure).
func (e *Env) readAgentFiles(ctx context.Context, as []*Agent) {
	if e.API == nil || e.Server == nil {
		return
	}
	f := e.run.facts
	var mu sync.Mutex
	e.each(ctx, "discover", as, func(ctx context.Context, a *Agent) error {
		af := &AgentFacts{}
		files, err := remote.Read(ctx, a.Host, remote.ReadSpec{Path: a.ConfigPath}, remote.ReadSpec{Path: a.PEMDest},
			remote.ReadSpec{Path: agentcfg.PendingPath(a.ConfigPath), StatOnly: true})
		switch {
		case err != nil:
			af.Err = fmt.Errorf("read %s: %w", a.ConfigPath, err)
		case !files[0].Info.Exists:
			af.Err = fmt.Errorf("read %s: %w", a.ConfigPath, fs.ErrNotExist)
		default:
			af.Config, af.PEM, af.PEMExists, af.Pending = files[0].Data, files[1].Data, files[1].Info.Exists, files[2].Info.Exists
			if af.INI, err = parseAgentINI(af.Config); err != nil {
				af.Err = fmt.Errorf("%s: %w", a.ConfigPath, err)
			}
		}
		mu.Lock()
		f.Agents[a.Name] = af
		mu.Unlock()
		return nil
	})
}

func readServerPEM(ctx context.Context, e *Env) ([]byte, *x509.Certificate, error) {
	p := e.Answers.Server.PEMPath
	b, err := e.Server.ReadFile(ctx, p)
	if err != nil {
		return nil, nil, fmt.Errorf("read the server PEM %s: %w", p, err)
	}
	certs, err := pki.ParseCertificates(b)
	if err != nil || len(certs) == 0 {
		return b, nil, fmt.Errorf("server PEM %s: %w", p, err)
	}
	return b, certs[0], nil
}

// ServerCertificate is the server's key and certificate as Step 2 wants
// them.
type ServerCertificate struct {
	Key      crypto.Signer
	Chain    []*x509.Certificate // leaf first
	Keystore []byte              // the keystore bytes to write; nil when the existing one is kept
	DER      []byte              // the leaf, DER (server.der)
	PEM      []byte              // the leaf, PEM (server.pem)
	// AgentPEM is what the agents trust (verify_cert_file): the leaf and
	// its chain.
	AgentPEM []byte
}

// Intent is what the steps of a run plan to change, as later steps' plans
// need to know it. Steps set it from their Plan; it is safe for concurrent
// use.
type Intent struct {
	mu            sync.Mutex
	serverCert    *ServerCertificate
	serverReload  []string // steps whose planned change the server loads only at start
	agentFiles    map[string]bool
	agentRestarts []string
	webTLSOff     bool
}

func newIntent() *Intent { return &Intent{agentFiles: map[string]bool{}} }

// SetServerCert records the certificate the server holds after this run.
func (p *Intent) SetServerCert(c *ServerCertificate) { p.mu.Lock(); p.serverCert = c; p.mu.Unlock() }

// ServerCert is the certificate Step 2 plans (nil when it is not in the run).
func (p *Intent) ServerCert() *ServerCertificate {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.serverCert
}

// ReloadServer records that step plans a change the CM server loads only
// when it starts (settings, its keystore).
func (p *Intent) ReloadServer(step string) {
	p.mu.Lock()
	p.serverReload = append(p.serverReload, step)
	p.mu.Unlock()
}

// ServerReload returns the steps that planned a change the server loads at
// start (empty: no restart is owed to this run's changes).
func (p *Intent) ServerReload() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.serverReload...)
}

// ChangeAgentFiles records that a step plans to change host's config.ini
// or PEM (the agent reads them only when it starts).
func (p *Intent) ChangeAgentFiles(host string) { p.mu.Lock(); p.agentFiles[host] = true; p.mu.Unlock() }

// AgentFilesChange reports whether a step plans to change host's files.
func (p *Intent) AgentFilesChange(host string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.agentFiles[host]
}

// SetAgentRestarts records the agents a step plans to restart.
func (p *Intent) SetAgentRestarts(hosts []string) {
	p.mu.Lock()
	p.agentRestarts = append([]string(nil), hosts...)
	p.mu.Unlock()
}

// WillRestart reports whether host is planned to be restarted.
func (p *Intent) WillRestart(host string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, h := range p.agentRestarts {
		if h == host {
			return true
		}
	}
	return false
}

// TurnWebTLSOff records that WEB_TLS goes off: after the server restart
// the API is plain http again.
func (p *Intent) TurnWebTLSOff() { p.mu.Lock(); p.webTLSOff = true; p.mu.Unlock() }

// WebTLSOff reports whether WEB_TLS is planned to go off.
func (p *Intent) WebTLSOff() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.webTLSOff }

// Record is what the steps' Apply did in a run: the runner passes it to the
// later steps and builds the per-host summary from it. It is safe for
// concurrent use.
type Record struct {
	mu              sync.Mutex
	serverChanged   bool
	serverRestarted time.Time
	changed         map[string]bool      // agent hosts whose files were written
	restarted       map[string]time.Time // agent hosts restarted, and when
	verified        map[string]bool      // agent hosts proven in this run (heartbeat, check)
}

func newRecord() *Record {
	return &Record{changed: map[string]bool{}, restarted: map[string]time.Time{}, verified: map[string]bool{}}
}

// ServerChanged records that what the server loads at start (its settings,
// its keystore) was written.
func (r *Record) ServerChanged() { r.mu.Lock(); r.serverChanged = true; r.mu.Unlock() }

// IsServerChanged reports whether what the server loads at start changed.
func (r *Record) IsServerChanged() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.serverChanged }

// ServerRestarted records a server restart begun at t.
func (r *Record) ServerRestarted(t time.Time) { r.mu.Lock(); r.serverRestarted = t; r.mu.Unlock() }

// ServerRestartTime is when the server was restarted in this run (zero: not).
func (r *Record) ServerRestartTime() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.serverRestarted
}

// Changed records that host's files were written.
func (r *Record) Changed(host string) { r.mu.Lock(); r.changed[host] = true; r.mu.Unlock() }

// IsChanged reports whether host's files were written in this run.
func (r *Record) IsChanged(host string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed[host]
}

// Restarted records that host's agent was restarted at t.
func (r *Record) Restarted(host string, t time.Time) {
	r.mu.Lock()
	r.restarted[host] = t
	r.mu.Unlock()
}

// RestartTime is when host's agent was restarted in this run.
func (r *Record) RestartTime(host string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.restarted[host]
	return t, ok
}

// Verified records that host was proven in this run (its heartbeat, its
// check command).
func (r *Record) Verified(host string) { r.mu.Lock(); r.verified[host] = true; r.mu.Unlock() }

// IsVerified reports whether host was proven in this run.
func (r *Record) IsVerified(host string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.verified[host]
}

// touched reports whether anything on host was changed in this run.
func (r *Record) touched(host string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, restarted := r.restarted[host]
	return r.changed[host] || restarted
}
