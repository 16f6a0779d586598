package steps

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
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
}

// Env is what a step may reach: its dependencies only (the resolved
// answers, the hosts, the CM API, the clock, randomness, the reporter).
//
// What a step learns or does that another step needs is not kept here but
// in explicit typed values the runner hands to every step of the run:
// Facts (read before any step plans, the same whatever steps are
// selected), Planned (what the steps of this run plan to change) and Done
// (what their Apply did).
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
	// ProbeTLS proves, from an agent host, that the server it heartbeats
	// to verifies with the PEM and server_host its config.ini names (nil:
	// ProbeAgentTLS over the host's own connection). CM's API does not say
	// how a heartbeat arrived, so this is the proof of verified TLS.
	ProbeTLS func(ctx context.Context, a *Agent, ini *AgentINI) (TLSProbe, error)

	Now      func() time.Time
	Rand     io.Reader
	Reporter Reporter
	// Sleep waits between polls; nil uses a timer. Tests may shorten it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Closers are closed by Close after the hosts (e.g. the agents' dialer).
	Closers []io.Closer

	// run is the runner's bookkeeping of the run in progress.
	run *runState
}

// runState is what the runner keeps about one run: which hosts failed (and
// why), which steps were selected and verified, and the explicit values it
// passes between steps.
type runState struct {
	mu       sync.Mutex
	failed   map[string]*HostError
	notes    map[string]string // host -> why it was not started
	verified map[string]bool   // step ids verified in this run
	titles   map[string]string // step id -> title, for events
	selected []string          // step ids of this run

	facts   *Facts
	planned *Intent
	done    *Record
	lock    *runLock // the locks of this run (runner.go)
}

func (e *Env) init() {
	if e.run == nil {
		e.run = &runState{failed: map[string]*HostError{}, notes: map[string]string{}, verified: map[string]bool{},
			titles: map[string]string{}, facts: &Facts{}, planned: newIntent(), done: newRecord()}
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Reporter == nil {
		e.Reporter = ReporterFunc(func(Event) {})
	}
}

// Facts returns what the runner read before any step planned: the same
// values whatever steps a run selects (--only, --skip).
func (e *Env) Facts() *Facts { e.init(); return e.run.facts }

// Planned returns what the steps of this run plan to change, as later
// steps' plans need to know it (set during the plan phase).
func (e *Env) Planned() *Intent { e.init(); return e.run.planned }

// Done returns the record of what the steps' Apply did in this run.
func (e *Env) Done() *Record { e.init(); return e.run.done }

func (e *Env) report(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = e.Now()
	}
	if ev.Title == "" {
		e.run.mu.Lock()
		ev.Title = e.run.titles[ev.Step]
		e.run.mu.Unlock()
	}
	e.Reporter.Report(ev)
}

// Report sends an event to the run's reporter (for steps defined outside
// this package).
func (e *Env) Report(ev Event) { e.init(); e.report(ev) }

// fail records a host's failure; later steps leave the host alone.
func (e *Env) fail(he *HostError) {
	e.run.mu.Lock()
	if _, dup := e.run.failed[he.Host]; !dup {
		e.run.failed[he.Host] = he
	}
	e.run.mu.Unlock()
	e.report(Event{Step: he.Step, Host: he.Host, Phase: PhaseApply, Status: StatusFailed,
		Err: he.Err.Error() + logSuffix(he.Log), Hint: he.Fix})
}

// Fail records that one agent host failed in step: the host is left alone
// by the rest of the run and ends as failed (for steps defined outside this
// package).
func (e *Env) Fail(step, host string, err error, fix string) {
	e.init()
	e.fail(&HostError{Host: host, Step: step, Err: err, Fix: orDefault(fix, hint(err))})
}

func logSuffix(l string) string {
	if l == "" {
		return ""
	}
	return "\nagent log: " + l
}

// Failed returns the hosts that failed in this run.
func (e *Env) Failed() []*HostError {
	e.init()
	e.run.mu.Lock()
	defer e.run.mu.Unlock()
	out := make([]*HostError, 0, len(e.run.failed))
	for _, k := range sortedKeys(e.run.failed) {
		out = append(out, e.run.failed[k])
	}
	return out
}

func (e *Env) failure(name string) *HostError {
	e.run.mu.Lock()
	defer e.run.mu.Unlock()
	return e.run.failed[name]
}

func (e *Env) isFailed(name string) bool { return e.failure(name) != nil }

// Live returns the agents that have not failed in this run.
func (e *Env) Live() []*Agent { e.init(); return e.live() }

func (e *Env) live() []*Agent {
	var out []*Agent
	for _, a := range e.Agents {
		if !e.isFailed(a.Name) {
			out = append(out, a)
		}
	}
	return out
}

// noteNotStarted records why a host's work was not started (shown in the
// summary when the host ends not started).
func (e *Env) noteNotStarted(name, why string) {
	e.run.mu.Lock()
	if e.run.notes[name] == "" {
		e.run.notes[name] = why
	}
	e.run.mu.Unlock()
}

func (e *Env) markVerified(step string) {
	e.run.mu.Lock()
	e.run.verified[step] = true
	e.run.mu.Unlock()
}

func (e *Env) isVerified(step string) bool {
	e.run.mu.Lock()
	defer e.run.mu.Unlock()
	return e.run.verified[step]
}

func (e *Env) isSelected(step string) bool {
	e.run.mu.Lock()
	defer e.run.mu.Unlock()
	for _, s := range e.run.selected {
		if s == step {
			return true
		}
	}
	return false
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

// dial connects a.
func (e *Env) dial(ctx context.Context, a *Agent) error {
	if e.Dial == nil {
		return &HostError{Host: a.Name, Step: "connect", Err: fmt.Errorf("no connection"), Fix: "give the host's SSH settings under agents"}
	}
	h, err := e.Dial(ctx, a.AgentHost)
	if err != nil {
		return &HostError{Host: a.Name, Step: "connect", Err: err, Fix: orDefault(hint(err), "check that the host is up and reachable over SSH (agents.ssh, the host's address and port)")}
	}
	a.Host = h
	return nil
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

// progress counts hosts done in a fan-out, for Done/Total in events.
type progress struct {
	mu sync.Mutex
	n  int
}

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
