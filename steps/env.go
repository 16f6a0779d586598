package steps

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps/agentcfg"
	"github.com/cmtls/cmtls/steps/answers"
)

// API is the part of the CM REST API the steps use; *cmapi.Client is one.
type API interface {
	APIVersion(ctx context.Context) (string, error)
	Hosts(ctx context.Context) ([]cmapi.Host, error)
	Config(ctx context.Context) ([]cmapi.ConfigItem, error)
	SetConfig(ctx context.Context, items map[string]string) error
	RestartManagementService(ctx context.Context) error
}

// Agent is one agent host with every answers-file override applied, and
// its connection (nil until connected, or when it could not be reached).
type Agent struct {
	answers.AgentHost
	Host remote.Host

	// ini is what Plan read from its config.ini.
	ini *agentINI
}

// Env is everything a step may reach: the resolved answers, the hosts, the
// CM API, the clock, randomness and the reporter. Steps keep what they
// learn during Plan here, so that later plans (and Apply) see it.
type Env struct {
	Answers *answers.File
	// Server is the CM server host (remote.NewLocal unless server.ssh).
	Server remote.Host
	Agents []*Agent
	API    API
	// Dial connects an agent host whose Host is nil (nil: such agents fail).
	Dial func(ctx context.Context, a answers.AgentHost) (remote.Host, error)
	// PlainAPI is the client of the plain console URL, used again once a
	// rollback turned WEB_TLS off (nil: API).
	PlainAPI API
	// NewAPI makes a client of the console's TLS URL, trusting caPEM (Step
	// 7 moves the API to https). nil keeps API.
	NewAPI func(url string, caPEM []byte) (API, error)

	// Resolver looks server.host up for the CN/FQDN check (nil: DNS).
	Resolver pki.Resolver

	Now      func() time.Time
	Rand     io.Reader
	Reporter Reporter
	// Sleep waits between polls; nil uses a timer. Tests may shorten it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Closers are closed by Close after the hosts (e.g. the agents' dialer).
	Closers []io.Closer

	mu       sync.Mutex
	failed   map[string]*HostError
	verified map[string]bool // step ids verified in this run

	cert          *serverCert          // Step 2's certificate (planned or found)
	serverRestart bool                 // Steps 1/2 changed what the server loads at start
	agentChanged  map[string]bool      // Step 3 changed the host
	restartAt     map[string]time.Time // when each agent was restarted in this run
	serverAt      time.Time            // when the server was restarted in this run
	agentRestart  []string             // agents Step 5 restarts
	selected      []string             // step ids of this run
	agentPlans    map[string]*agentcfg.Change
	titles        map[string]string // step id -> title, for events
	rollback      bool              // the run undoes init: agents go back to plain heartbeats
	webTLSOff     bool              // WEB_TLS goes off: after the restart the API is plain http again
}

// serverCert is the server's key and certificate as Step 2 wants them.
type serverCert struct {
	Key      crypto.Signer
	Chain    []*x509.Certificate // leaf first
	Keystore []byte              // the keystore bytes to write; nil when the existing one is kept
	DER      []byte              // the leaf, DER (server.der)
	PEM      []byte              // the leaf, PEM (server.pem)
	// AgentPEM is what the agents trust (verify_cert_file): the leaf and
	// its chain.
	AgentPEM []byte
}

func (e *Env) init() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failed == nil {
		e.failed = map[string]*HostError{}
		e.verified = map[string]bool{}
		e.agentChanged = map[string]bool{}
		e.restartAt = map[string]time.Time{}
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Reporter == nil {
		e.Reporter = ReporterFunc(func(Event) {})
	}
}

func (e *Env) report(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = e.Now()
	}
	if ev.Title == "" {
		ev.Title = e.titles[ev.Step]
	}
	e.Reporter.Report(ev)
}

// fail records a host's failure; later steps leave the host alone.
func (e *Env) fail(he *HostError) {
	e.mu.Lock()
	if _, dup := e.failed[he.Host]; !dup {
		e.failed[he.Host] = he
	}
	e.mu.Unlock()
	e.report(Event{Step: he.Step, Host: he.Host, Phase: PhaseApply, Status: StatusFailed,
		Err: he.Err.Error() + logSuffix(he.Log), Hint: he.Fix})
}

func logSuffix(l string) string {
	if l == "" {
		return ""
	}
	return "\nagent log: " + l
}

// Failed returns the hosts that failed in this run.
func (e *Env) Failed() []*HostError {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*HostError, 0, len(e.failed))
	for _, k := range sortedKeys(e.failed) {
		out = append(out, e.failed[k])
	}
	return out
}

func (e *Env) isFailed(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.failed[name]
	return ok
}

// live returns the agents that have not failed.
func (e *Env) live() []*Agent {
	var out []*Agent
	for _, a := range e.Agents {
		if !e.isFailed(a.Name) {
			out = append(out, a)
		}
	}
	return out
}

func (e *Env) setAgentChanged(name string) {
	e.mu.Lock()
	e.agentChanged[name] = true
	e.mu.Unlock()
}

func (e *Env) isAgentChanged(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.agentChanged[name]
}

func (e *Env) setRestart(name string, t time.Time) {
	e.mu.Lock()
	e.restartAt[name] = t
	e.mu.Unlock()
}

func (e *Env) restartTime(name string) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.restartAt[name]
	return t, ok
}

func (e *Env) markVerified(step string) {
	e.mu.Lock()
	e.verified[step] = true
	e.mu.Unlock()
}

func (e *Env) isVerified(step string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.verified[step]
}

func (e *Env) sleep(ctx context.Context, d time.Duration) error {
	if e.Sleep != nil {
		return e.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// connect dials every agent that has no connection yet, in parallel;
// a host that cannot be reached fails (the others go on).
func (e *Env) connect(ctx context.Context) {
	var todo []*Agent
	for _, a := range e.Agents {
		if a.Host == nil && !e.isFailed(a.Name) {
			todo = append(todo, a)
		}
	}
	fanOut(ctx, todo, e.parallelism(), func(ctx context.Context, a *Agent) {
		if e.Dial == nil {
			e.fail(&HostError{Host: a.Name, Step: "connect", Err: fmt.Errorf("no connection"), Fix: "give the host's SSH settings under agents"})
			return
		}
		h, err := e.Dial(ctx, a.AgentHost)
		if err != nil {
			e.fail(&HostError{Host: a.Name, Step: "connect", Err: err, Fix: orDefault(hint(err), "check that the host is up and reachable over SSH (agents.ssh, the host's address and port)")})
			return
		}
		a.Host = h
	})
}

// Close closes every connection the Env holds.
func (e *Env) Close() error {
	for _, a := range e.Agents {
		if a.Host != nil {
			_ = a.Host.Close()
		}
	}
	var err error
	if e.Server != nil {
		err = e.Server.Close()
	}
	for _, c := range e.Closers {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func (e *Env) parallelism() int {
	if e.Answers != nil && e.Answers.Agents != nil && e.Answers.Agents.Parallelism > 0 {
		return e.Answers.Agents.Parallelism
	}
	return answers.DefaultParallelism
}

func (e *Env) canary() int {
	if e.Answers != nil && e.Answers.Agents != nil && e.Answers.Agents.Canary != nil {
		return *e.Answers.Agents.Canary
	}
	return answers.DefaultCanary
}

func (e *Env) heartbeatTimeout() time.Duration {
	if e.Answers != nil && e.Answers.Verify != nil && e.Answers.Verify.HeartbeatTimeout > 0 {
		return e.Answers.Verify.HeartbeatTimeout.D()
	}
	return answers.DefaultHeartbeatTimeout
}

func (e *Env) pollInterval() time.Duration {
	if e.Answers != nil && e.Answers.Verify != nil && e.Answers.Verify.PollInterval > 0 {
		return e.Answers.Verify.PollInterval.D()
	}
	return answers.DefaultPollInterval
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// fanOut runs fn for every item with at most n at once and waits.
func fanOut[T any](ctx context.Context, items []T, n int, fn func(context.Context, T)) {
	if n < 1 {
		n = 1
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(ctx, it)
		}()
	}
	wg.Wait()
}

// progress counts hosts done in a fan-out, for Done/Total in events.
type progress struct {
	mu sync.Mutex
	n  int
}

func newProgress(int) *progress { return &progress{} }

// next counts one more host done and returns the count.
func (p *progress) next() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	return p.n
}

// serverName is the server host's name for events.
func (e *Env) serverName() string {
	if e.Answers != nil && e.Answers.Server != nil && e.Answers.Server.Host != "" {
		return e.Answers.Server.Host
	}
	return "server"
}
