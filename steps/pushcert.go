package steps

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/steps/agentcfg"
)

// PushCert is Step 3: the server's PEM to every agent (pem_dest) and
// verify_cert_file (with use_tls=1 when Step 1 is on) set in config.ini's
// [Security]. The per-host edit is package agentcfg's: backup, the
// pre-cmtls original kept once for rollback, atomic writes. Restarts are
// Step 5's, so that a canary goes first.
type PushCert struct {
	mu    sync.Mutex
	plans map[string]*agentcfg.Change // this run's plan per host
}

func (*PushCert) Name() string { return "push-cert" }
func (*PushCert) Title() string {
	return "Step 3: copy the server PEM to the agents, set verify_cert_file"
}

// agentSpec is what a of this run must hold: with the run's agent lock
// (taken by the plan, released by the apply or releasePlans) and its
// journal id, unless this is a dry run.
func (e *Env) agentSpec(a *Agent, pem []byte) agentcfg.Spec {
	lock, wait, runID := e.lockInfo()
	return agentcfg.Spec{PEM: pem, PEMDest: a.PEMDest, ConfigPath: a.ConfigPath, UseTLS: e.agentEncryption(),
		Lock: lock, LockWait: wait, RunID: runID}
}

// releasePlans frees the locks and shells of plans not applied.
func (s *PushCert) releasePlans() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.plans {
		p.Release()
	}
}

func (s *PushCert) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	pem, leaf, err := env.serverPEM()
	if err != nil {
		return ch, err
	}
	if env.Planned().ServerCert() == nil {
		// server-cert is not in this run: its pre-flight still guards the
		// push.
		if err := env.preflight(s.Name(), leaf); err != nil {
			return ch, err
		}
	}
	// A host whose files, as the runner read them, already hold what the
	// edit would write needs no plan (and no second read).
	var agents []*Agent
	for _, a := range env.live() {
		af := env.Facts().Agent(a.Name)
		if af.Err != nil || !env.agentSpec(a, pem).UpToDate(af.Config, af.PEM, af.PEMExists, af.Pending) {
			agents = append(agents, a)
		}
	}
	plans := env.planAgents(ctx, s.Name(), agents, func(a *Agent) agentcfg.Spec { return env.agentSpec(a, pem) })
	s.mu.Lock()
	s.plans = plans
	s.mu.Unlock()
	for _, a := range agents {
		p := s.plans[a.Name]
		if p == nil {
			continue
		}
		ch.Items = append(ch.Items, agentItems(a.Name, p)...)
		for _, w := range p.Warnings {
			env.report(Event{Step: s.Name(), Host: a.Name, Phase: PhasePlan, Status: StatusWarn, Detail: w})
		}
		if p.Restart {
			env.Planned().ChangeAgentFiles(a.Name)
		}
	}
	// A host that joins later: init again changes only the new host(s),
	// and the plan says the others stay as they are.
	if changed, same := ch.Hosts(), unchangedHosts(env.live(), ch.Hosts()); len(changed) > 0 && len(same) > 0 {
		ch.Notes = append(ch.Notes, fmt.Sprintf("changes only %s; unchanged (already done): %s", nameList(changed), nameList(same)))
	}
	return ch, nil
}

// agentItems lists what an agentcfg plan changes on host.
func agentItems(host string, p *agentcfg.Change) []Item {
	var out []Item
	if p.PEMChanged {
		old := ""
		if p.PEMOldSHA256 != "" {
			old = "sha256:" + p.PEMOldSHA256[:16]
		}
		out = append(out, Item{Host: host, Kind: KindFile, Target: p.PEMDest, Old: old, New: "sha256:" + p.PEMNewSHA256[:16] + " 0644"})
	}
	if p.ConfigChanged {
		for _, k := range p.Keys {
			if k.OldSet && k.Old == k.New {
				continue
			}
			old := k.Old
			if !k.OldSet {
				old = "(unset)"
			}
			out = append(out, Item{Host: host, Kind: KindINI, Target: fmt.Sprintf("%s [%s] %s", p.ConfigPath, agentcfg.Section, k.Key), Old: old, New: k.New})
		}
	}
	return out
}

// unchangedHosts names the agents of all that the plan does not change.
func unchangedHosts(all []*Agent, changed []string) []string {
	var out []string
	for _, a := range all {
		if !slices.Contains(changed, a.Name) {
			out = append(out, a.Name)
		}
	}
	return out
}

// nameList joins host names, the first ten of them.
func nameList(names []string) string {
	if len(names) > 10 {
		return strings.Join(names[:10], ", ") + fmt.Sprintf(" and %d more", len(names)-10)
	}
	return strings.Join(names, ", ")
}

func (s *PushCert) Apply(ctx context.Context, env *Env) error {
	var todo []*Agent
	for _, a := range env.live() {
		if p := s.plans[a.Name]; p != nil && (p.ConfigChanged || p.PEMChanged) {
			todo = append(todo, a)
		}
	}
	// plans with nothing to write (a restart owed only, Step 5's) let
	// their host's lock go now
	for name, p := range s.plans {
		if !p.ConfigChanged && !p.PEMChanged {
			p.Release()
			delete(s.plans, name)
		}
	}
	prog := &progress{}
	env.each(ctx, s.Name(), todo, func(ctx context.Context, a *Agent) error {
		s.mu.Lock()
		p := s.plans[a.Name]
		s.mu.Unlock()
		applied, err := agentcfg.Apply(ctx, a.Host, p, env.Now())
		if err != nil {
			return &HostError{Host: a.Name, Step: s.Name(), Err: err, Fix: hint(err)}
		}
		env.Done().Changed(a.Name)
		// A restart is owed until Step 5 does it: the marker makes a run
		// cut off before then restart this agent next time (Step 5
		// removes it), also on a CM that does not report agent TLS.
		if res, err := a.Host.Run(ctx, ": > "+remote.Quote(agentcfg.PendingPath(a.ConfigPath)), nil); err != nil || res.Code != 0 {
			env.report(Event{Step: s.Name(), Host: a.Name, Phase: PhaseApply, Status: StatusWarn, Detail: "cannot write the restart marker " + agentcfg.PendingPath(a.ConfigPath)})
		}
		detail := "PEM " + p.PEMDest + " and config.ini written"
		if applied.BackupPath != "" {
			detail += "; backup " + applied.BackupPath
		}
		env.report(Event{Step: s.Name(), Host: a.Name, Phase: PhaseApply, Status: StatusChanged, Detail: detail, Done: prog.next(), Total: len(todo)})
		return nil
	})
	return nil
}

func (s *PushCert) Verify(ctx context.Context, env *Env) error {
	pem, _, err := env.serverPEM()
	if err != nil {
		return err
	}
	// The hosts written in this run are read back; the others were read by
	// the plan a moment ago and found as wanted.
	var written []*Agent
	for _, a := range env.live() {
		if env.Done().IsChanged(a.Name) {
			written = append(written, a)
		}
	}
	env.each(ctx, s.Name(), written, func(ctx context.Context, a *Agent) error {
		spec := env.agentSpec(a, pem)
		spec.Lock = nil // a read; this run's lock was released by the apply
		p, err := agentcfg.Plan(ctx, a.Host, spec)
		if err != nil {
			return err
		}
		p.Release()
		if p.ConfigChanged || p.PEMChanged {
			return fmt.Errorf("after the edit %s or %s still differs from what was written", a.ConfigPath, a.PEMDest)
		}
		return nil
	})
	return nil
}
