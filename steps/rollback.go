package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps/agentcfg"
)

// RollbackSteps undo what init changed: every agent's config.ini back byte
// for byte (and its PEM), AGENT_TLS and WEB_TLS off, the server and the
// restored agents restarted, and plain heartbeats verified.
func RollbackSteps() []Step {
	return []Step{RenewalGuard{}, RestoreAgents{}, DisableTLS{}, RestartServer{}, RestartAgents{Rollback: true}, VerifyHeartbeats{Plain: true}}
}

// RestoreAgents puts back each agent's config.ini from the original cmtls
// kept (<config>.cmtls.orig) and its PEM (removed when cmtls created it).
type RestoreAgents struct{}

func (RestoreAgents) Name() string { return "restore-agents" }
func (RestoreAgents) Title() string {
	return "Rollback: restore every agent's config.ini byte for byte"
}

func (s RestoreAgents) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	agents := env.live()
	items := make([][]Item, len(agents))
	idx := map[*Agent]int{}
	for i, a := range agents {
		idx[a] = i
	}
	env.each(ctx, s.Name(), agents, func(ctx context.Context, a *Agent) error {
		files, err := remote.ReadFiles(ctx, a.Host, agentcfg.OrigPath(a.ConfigPath), a.ConfigPath, agentcfg.OrigPath(a.PEMDest), a.PEMDest)
		if errors.Is(err, remote.ErrSymlink) {
			return &HostError{Host: a.Name, Step: s.Name(), Err: err,
				Fix: "cmtls does not write through symbolic links: set agents.config_path and pem_dest (or the host's) to the files the links point to, then re-run"}
		}
		if err != nil {
			return &HostError{Host: a.Name, Step: s.Name(), Err: err, Fix: orDefault(hint(err), agentcfg.ReadFix(err))}
		}
		orig, cur, pemOrig, pem := files[0], files[1], files[2], files[3]
		if !orig.Info.Exists {
			env.report(Event{Step: s.Name(), Host: a.Name, Phase: PhasePlan, Status: StatusSkipped, Detail: "cmtls has not changed this host (no " + orig.Path + ")"})
			return nil
		}
		var its []Item
		if !bytes.Equal(orig.Data, cur.Data) {
			its = append(its, Item{Host: a.Name, Kind: KindFile, Target: a.ConfigPath, Old: "sha256:" + shortSum(cur.Data), New: "sha256:" + shortSum(orig.Data) + " (from " + orig.Path + ")"})
		}
		switch {
		case pemOrig.Info.Exists && !bytes.Equal(pemOrig.Data, pem.Data):
			its = append(its, Item{Host: a.Name, Kind: KindFile, Target: a.PEMDest, Old: "sha256:" + shortSum(pem.Data), New: "sha256:" + shortSum(pemOrig.Data)})
		case !pemOrig.Info.Exists && pem.Info.Exists:
			its = append(its, Item{Host: a.Name, Kind: KindFile, Target: a.PEMDest, Old: "sha256:" + shortSum(pem.Data), New: "(removed)"})
		}
		if len(its) > 0 {
			env.Planned().ChangeAgentFiles(a.Name)
		}
		items[idx[a]] = its
		return nil
	})
	for _, its := range items {
		ch.Items = append(ch.Items, its...)
	}
	return ch, nil
}

func (s RestoreAgents) Apply(ctx context.Context, env *Env) error {
	var todo []*Agent
	for _, a := range env.live() {
		if env.Planned().AgentFilesChange(a.Name) {
			todo = append(todo, a)
		}
	}
	env.each(ctx, s.Name(), todo, func(ctx context.Context, a *Agent) error {
		if _, err := agentcfg.Restore(ctx, a.Host, a.ConfigPath, a.PEMDest); err != nil {
			return &HostError{Host: a.Name, Step: s.Name(), Err: err, Fix: hint(err)}
		}
		env.Done().Changed(a.Name)
		env.report(Event{Step: s.Name(), Host: a.Name, Phase: PhaseApply, Status: StatusChanged, Detail: "config.ini restored"})
		return nil
	})
	return nil
}

func (s RestoreAgents) Verify(ctx context.Context, env *Env) error {
	// The hosts restored in this run are read back; the others were read
	// by the plan a moment ago and found as wanted.
	var restored []*Agent
	for _, a := range env.live() {
		if env.Done().IsChanged(a.Name) {
			restored = append(restored, a)
		}
	}
	env.each(ctx, s.Name(), restored, func(ctx context.Context, a *Agent) error {
		files, err := remote.ReadFiles(ctx, a.Host, agentcfg.OrigPath(a.ConfigPath), a.ConfigPath)
		if err == nil && files[0].Info.Exists && !bytes.Equal(files[0].Data, files[1].Data) {
			err = fmt.Errorf("%s still differs from %s", a.ConfigPath, files[0].Path)
		}
		return err
	})
	return nil
}

// DisableTLS turns AGENT_TLS and WEB_TLS back off through the API.
type DisableTLS struct{}

func (DisableTLS) Name() string  { return "disable-tls" }
func (DisableTLS) Title() string { return "Rollback: AGENT_TLS and WEB_TLS off" }

func (s DisableTLS) want(ctx context.Context, env *Env) (map[string]string, []Item, error) {
	cfg, err := env.API.Config(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read CM settings: %w", err)
	}
	set := map[string]string{}
	var items []Item
	for _, n := range []string{settingWebTLS, settingAgentTLS} {
		if it, _ := cmapi.FindByName(cfg, n); isTrue(it.Value) {
			set[n] = "false"
			items = append(items, Item{Kind: KindSetting, Target: n, Old: it.Value, New: "false"})
		}
	}
	return set, items, nil
}

func (s DisableTLS) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	set, items, err := s.want(ctx, env)
	if err != nil {
		return ch, err
	}
	ch.Items = items
	if len(set) > 0 {
		env.Planned().ReloadServer(s.Name())
	}
	if _, ok := set[settingWebTLS]; ok {
		env.Planned().TurnWebTLSOff()
	}
	return ch, nil
}

func (s DisableTLS) Apply(ctx context.Context, env *Env) error {
	set, _, err := s.want(ctx, env)
	if err != nil || len(set) == 0 {
		return err
	}
	if err := env.API.SetConfig(ctx, set); err != nil {
		return err
	}
	env.Done().ServerChanged()
	return nil
}

func (s DisableTLS) Verify(ctx context.Context, env *Env) error {
	_, items, err := s.want(ctx, env)
	if err != nil {
		return err
	}
	if len(items) > 0 {
		return fmt.Errorf("%s still on", items[0].Target)
	}
	return nil
}
