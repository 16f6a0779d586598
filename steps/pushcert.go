package steps

import (
	"context"
	"fmt"
	"strings"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/steps/agentcfg"
)

// PushCert is Step 3: the server's PEM to every agent (pem_dest) and
// verify_cert_file (with use_tls=1 when Step 1 is on) set in config.ini's
// [Security]. The per-host edit is package agentcfg's: backup, the
// pre-cmtls original kept once for rollback, atomic writes. Restarts are
// Step 5's, so that a canary goes first.
type PushCert struct{}

func (PushCert) Name() string { return "push-cert" }
func (PushCert) Title() string {
	return "Step 3: copy the server PEM to the agents, set verify_cert_file"
}

func (e *Env) agentSpec(a *Agent, pem []byte) agentcfg.Spec {
	return agentcfg.Spec{PEM: pem, PEMDest: a.PEMDest, ConfigPath: a.ConfigPath, UseTLS: e.agentEncryption()}
}

func (s PushCert) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	pem, leaf, err := env.serverPEM(ctx)
	if err != nil {
		return ch, err
	}
	if env.cert == nil {
		// server-cert was skipped: its pre-flight still guards the push.
		if err := env.preflight(ctx, leaf); err != nil {
			return ch, err
		}
	}
	agents := env.live()
	plans := make([]*agentcfg.Change, len(agents))
	idx := map[*Agent]int{}
	for i, a := range agents {
		idx[a] = i
	}
	fanOut(ctx, agents, env.parallelism(), func(ctx context.Context, a *Agent) {
		p, err := agentcfg.Plan(ctx, a.Host, env.agentSpec(a, pem))
		if err != nil {
			env.fail(&HostError{Host: a.Name, Step: s.Name(), Err: err, Fix: hint(err)})
			return
		}
		plans[idx[a]] = p
	})
	env.mu.Lock()
	if env.agentPlans == nil {
		env.agentPlans = map[string]*agentcfg.Change{}
	}
	env.mu.Unlock()
	for i, a := range agents {
		p := plans[i]
		if p == nil {
			continue
		}
		env.mu.Lock()
		env.agentPlans[a.Name] = p
		env.mu.Unlock()
		if p.PEMChanged {
			old := ""
			if p.PEMOldSHA256 != "" {
				old = "sha256:" + p.PEMOldSHA256[:16]
			}
			ch.Add(Item{Host: a.Name, Kind: KindFile, Target: p.PEMDest, Old: old, New: "sha256:" + p.PEMNewSHA256[:16] + " 0644"})
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
				ch.Add(Item{Host: a.Name, Kind: KindINI, Target: fmt.Sprintf("%s [%s] %s", p.ConfigPath, agentcfg.Section, k.Key), Old: old, New: k.New})
			}
		}
		for _, w := range p.Warnings {
			env.report(Event{Step: s.Name(), Host: a.Name, Phase: PhasePlan, Status: StatusWarn, Detail: w})
		}
		if p.Restart {
			env.setAgentChanged(a.Name)
		}
	}
	// A host that joins later: init again changes only the new host(s),
	// and the plan says the others stay as they are.
	if changed, same := ch.Hosts(), unchangedHosts(agents, plans); len(changed) > 0 && len(same) > 0 {
		ch.Notes = append(ch.Notes, fmt.Sprintf("changes only %s; unchanged (already done): %s", nameList(changed), nameList(same)))
	}
	return ch, nil
}

// unchangedHosts names the agents whose plan changes nothing.
func unchangedHosts(agents []*Agent, plans []*agentcfg.Change) []string {
	var out []string
	for i, a := range agents {
		if p := plans[i]; p != nil && !p.Changed() {
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

func (e *Env) agentPlan(name string) *agentcfg.Change {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.agentPlans[name]
}

func (s PushCert) Apply(ctx context.Context, env *Env) error {
	var todo []*Agent
	for _, a := range env.live() {
		if p := env.agentPlan(a.Name); p != nil && (p.ConfigChanged || p.PEMChanged) {
			todo = append(todo, a)
		}
	}
	prog := newProgress(len(todo))
	fanOut(ctx, todo, env.parallelism(), func(ctx context.Context, a *Agent) {
		p := env.agentPlan(a.Name)
		applied, err := agentcfg.Apply(ctx, a.Host, p, env.Now())
		if err != nil {
			env.fail(&HostError{Host: a.Name, Step: s.Name(), Err: err, Fix: hint(err)})
			return
		}
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
	})
	return nil
}

func (s PushCert) Verify(ctx context.Context, env *Env) error {
	pem, _, err := env.serverPEM(ctx)
	if err != nil {
		return err
	}
	fanOut(ctx, env.live(), env.parallelism(), func(ctx context.Context, a *Agent) {
		p, err := agentcfg.Plan(ctx, a.Host, env.agentSpec(a, pem))
		if err == nil && (p.ConfigChanged || p.PEMChanged) {
			err = fmt.Errorf("after the edit %s or %s still differs from what was written", a.ConfigPath, a.PEMDest)
		}
		if err != nil {
			env.fail(&HostError{Host: a.Name, Step: s.Name(), Err: err, Fix: hint(err)})
		}
	})
	return nil
}
