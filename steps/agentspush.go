package steps

import (
	"context"
	"fmt"
	"sync"

	"github.com/cmtls/cmtls/steps/agentcfg"
)

// PushAgents is `cmtls agents push`: Steps 3 and 5 of the TLS procedure on
// the agent hosts alone (no server, no API). Per host, over one SSH
// session: Plan reads config.ini, the PEM and the backup state in one
// command; Apply writes the PEM and config.ini (package agentcfg: backup,
// the pre-cmtls original kept once, atomic renames), restarts the agent
// when anything changed and runs its check command, in one command. The
// canary hosts go first and must pass before the rest start.
type PushAgents struct {
	// PEM is the certificate (or CA bundle) the agents are to trust.
	PEM []byte

	mu      sync.Mutex
	plans   map[string]*agentcfg.Change
	applied map[string]*agentcfg.Applied
}

// NewPushSteps returns the step list of `cmtls agents push` for pem.
func NewPushSteps(pem []byte) []Step { return []Step{&PushAgents{PEM: pem}} }

func (*PushAgents) Name() string { return "push-agents" }
func (*PushAgents) Title() string {
	return "Steps 3 and 5 on the agents: PEM, config.ini, restart, check"
}

// spec is a's target; outside a dry run its plan takes the host's lock,
// held until the apply (or the check of an unchanged host) ends, or
// releasePlans.
func (s *PushAgents) spec(env *Env, a *Agent) agentcfg.Spec {
	lock, wait, runID := env.lockInfo()
	return agentcfg.Spec{PEM: s.PEM, PEMDest: a.PEMDest, ConfigPath: a.ConfigPath, RestartCommand: a.RestartCommand,
		CheckCommand: a.CheckCommand, UseTLS: env.agentEncryption(), LogPath: a.LogPath,
		Lock: lock, LockWait: wait, RunID: runID}
}

// releasePlans frees the locks and shells of plans not applied (the
// rollout stopped, or the run was declined or interrupted).
func (s *PushAgents) releasePlans() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.plans {
		p.Release()
	}
}

func (s *PushAgents) plan(name string) *agentcfg.Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.plans[name]
}

func (s *PushAgents) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	agents := env.live()
	plans := env.planAgents(ctx, s.Name(), agents, func(a *Agent) agentcfg.Spec { return s.spec(env, a) })
	s.mu.Lock()
	s.plans, s.applied = plans, map[string]*agentcfg.Applied{}
	s.mu.Unlock()
	for _, a := range agents {
		p := s.plans[a.Name]
		if p == nil {
			continue
		}
		ch.Items = append(ch.Items, agentItems(a.Name, p)...)
		if p.Restart {
			why := "config.ini or PEM changed"
			if !p.ConfigChanged && !p.PEMChanged {
				why = "a restart owed by an earlier run that was cut off"
			}
			ch.Add(Item{Host: a.Name, Kind: KindService, Target: a.RestartCommand, Note: why})
			env.Planned().ChangeAgentFiles(a.Name)
		}
		for _, w := range p.Warnings {
			env.report(Event{Step: s.Name(), Host: a.Name, Phase: PhasePlan, Status: StatusWarn, Detail: w})
		}
	}
	return ch, nil
}

func (s *PushAgents) Apply(ctx context.Context, env *Env) error {
	var todo []*Agent
	for _, a := range env.live() {
		if p := s.plan(a.Name); p != nil && p.Changed() {
			todo = append(todo, a)
		}
	}
	prog := &progress{}
	return env.canaryFirst(ctx, s.Name(), todo, func(ctx context.Context, a *Agent) error {
		return s.applyHost(ctx, env, a, prog, len(todo))
	}, nil)
}

// applyHost writes, restarts and checks one host (one remote command).
func (s *PushAgents) applyHost(ctx context.Context, env *Env, a *Agent, prog *progress, total int) error {
	p := s.plan(a.Name)
	t := env.Now()
	applied, err := agentcfg.Apply(ctx, a.Host, p, t)
	if applied != nil && (applied.ConfigChanged || applied.PEMChanged) {
		env.Done().Changed(a.Name)
	}
	if applied != nil && applied.Restarted {
		env.Done().Restarted(a.Name, t)
	}
	if err != nil {
		return &HostError{Host: a.Name, Step: s.Name(), Err: err, Fix: hint(err)}
	}
	s.mu.Lock()
	s.applied[a.Name] = applied
	s.mu.Unlock()
	env.Done().Verified(a.Name)
	detail := "changed, verified"
	if applied.Restarted {
		detail = "changed, restarted, verified"
	}
	if applied.BackupPath != "" {
		detail += "; backup " + applied.BackupPath
	}
	env.report(Event{Step: s.Name(), Host: a.Name, Phase: PhaseApply, Status: StatusChanged, Detail: detail, Done: prog.next(), Total: total})
	return nil
}

// Verify runs the check command on the hosts Apply did not touch (their
// plan was empty), through the session their Plan kept: a host already
// done is verified, not assumed. Hosts Apply changed were checked by the
// same remote command that changed them.
func (s *PushAgents) Verify(ctx context.Context, env *Env) error {
	var todo []*Agent
	s.mu.Lock()
	for _, a := range env.live() {
		if s.applied[a.Name] == nil && s.plans[a.Name] != nil {
			todo = append(todo, a)
		}
	}
	s.mu.Unlock()
	env.each(ctx, s.Name(), todo, func(ctx context.Context, a *Agent) error {
		p := s.plan(a.Name)
		if p.Changed() {
			return fmt.Errorf("not applied (the rollout stopped before this host)")
		}
		applied, err := agentcfg.Apply(ctx, a.Host, p, env.Now())
		if err != nil {
			return &HostError{Host: a.Name, Step: s.Name(), Err: err, Fix: hint(err)}
		}
		if applied.ConfigChanged || applied.PEMChanged || applied.Restarted {
			return fmt.Errorf("the check changed the host (a bug in cmtls; please report it)")
		}
		env.Done().Verified(a.Name)
		env.report(Event{Step: s.Name(), Host: a.Name, Phase: PhaseVerify, Status: StatusOK, Detail: "unchanged, verified"})
		return nil
	})
	return nil
}
