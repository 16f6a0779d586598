package steps

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps/agentcfg"
)

// RollbackOptions steer a rollback.
type RollbackOptions struct {
	// Force restores files edited since cmtls wrote them; each edited file
	// is first kept beside its backups (<file>.cmtls-<time>.edited).
	Force bool
}

// RollbackSteps undo the most recent change cmtls made (see
// RollbackStepsWith), refusing files edited since.
func RollbackSteps() []Step { return RollbackStepsWith(RollbackOptions{}) }

// RollbackStepsWith undo the most recent change cmtls made to the agents,
// one run at a time: after `agents push` the push (the agents go back to
// init's state, the server's settings stay), after init init itself
// (every agent's config.ini and PEM back byte for byte, AGENT_TLS and
// WEB_TLS off). The server and the restored agents are restarted and the
// heartbeats verified over the transport the undone state wants.
func RollbackStepsWith(o RollbackOptions) []Step {
	r := &RestoreAgents{Force: o.Force}
	// RenewalGuard first: after a renewal the way back is renew --rollback
	return []Step{RenewalGuard{}, r, &DisableTLS{restore: r}, RestartServer{}, &rollbackRestart{r: r}, &rollbackHeartbeats{r: r}}
}

// RestoreAgents undoes, on each agent, the most recent run recorded in the
// journals beside its config.ini and PEM (agentcfg.RestoreWith): each file
// gets its before-image back, a PEM that run created is removed with the
// directories made for it. One run is undone fleet-wide: the most recent
// one; a host whose newest change is of another run is left for a later
// rollback. A file edited since cmtls wrote it is refused (the diff in
// the error) unless Force. Hosts changed before cmtls kept journals are
// restored from <config>.cmtls.orig.
type RestoreAgents struct {
	Force bool
	// all: every recorded change is undone, not the most recent run's
	// (set when that run was a renewal)
	all bool

	mu    sync.Mutex
	hosts map[string]*hostRestore
	// undo is the run undone ("" when no host has a journal: the
	// originals); undoesInit: it is init's (or the originals), so the
	// server's TLS settings go back too.
	undo       string
	undoesInit bool
}

// hostRestore is one host's planned restore.
type hostRestore struct {
	legacy bool   // from <config>.cmtls.orig, no journal
	run    string // the run its newest change belongs to
	when   time.Time
	files  []*remote.FileRestore
	want   map[string]string // path -> SHA-256 after the restore ("" = no file)
	drift  []*remote.FileRestore
	items  []Item
}

func (*RestoreAgents) Name() string { return "restore-agents" }
func (*RestoreAgents) Title() string {
	return "Rollback: undo cmtls's most recent change on every agent, byte for byte"
}

// initRun: a journal run id of init (or of a run before run ids named their
// command, which init made).
func initRun(id string) bool {
	return id == "" || strings.HasPrefix(id, "init-") || strings.HasPrefix(id, "cmtls-")
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (s *RestoreAgents) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	agents := env.live()
	s.mu.Lock()
	s.hosts = map[string]*hostRestore{}
	s.mu.Unlock()
	env.each(ctx, s.Name(), agents, func(ctx context.Context, a *Agent) error {
		hr, skip, err := s.planHost(ctx, a)
		if err != nil {
			return err
		}
		if skip != "" {
			env.report(Event{Step: s.Name(), Host: a.Name, Phase: PhasePlan, Status: StatusSkipped, Detail: skip})
			return nil
		}
		s.mu.Lock()
		s.hosts[a.Name] = hr
		s.mu.Unlock()
		return nil
	})
	// the run to undo: the most recent one among the hosts
	var latest time.Time
	journaled := false
	for _, hr := range s.hosts {
		if !hr.legacy {
			journaled = true
			if !hr.when.Before(latest) {
				latest, s.undo = hr.when, hr.run
			}
		}
	}
	s.undoesInit = initRun(s.undo)
	if !s.all && (strings.HasPrefix(s.undo, "renew-") || renewalFinished(ctx, env)) {
		// Undoing a renewal's agent files alone would give the agents back
		// the old PEM while the server serves the new certificate: every
		// agent would refuse it. After a renewal, rollback turns TLS off
		// altogether: every change cmtls made, back to the files before
		// it, with AGENT_TLS and WEB_TLS off (cmtls renew --rollback is
		// the way back to the old certificate with TLS kept on).
		s.all = true
		return s.Plan(ctx, env)
	}
	if s.all {
		s.undo, s.undoesInit = remote.AllRuns, true
		journaled = false // every host restores all it has: none is left for later
	}
	for _, a := range agents {
		hr := s.hosts[a.Name]
		if hr == nil {
			continue
		}
		if journaled && (hr.legacy || hr.run != s.undo) {
			// another run's change is newest here: left for a later
			// rollback, so that one rollback undoes one run everywhere
			delete(s.hosts, a.Name)
			what := "its last change by cmtls is of run " + hr.run
			if hr.legacy {
				what = "cmtls changed it before it kept journals"
			}
			env.report(Event{Step: s.Name(), Host: a.Name, Phase: PhasePlan, Status: StatusSkipped,
				Detail: fmt.Sprintf("left as it is: %s, not of %s (run rollback again to undo that)", what, s.undo)})
			continue
		}
		if len(hr.drift) > 0 && !s.Force {
			delete(s.hosts, a.Name)
			env.fail(&HostError{Host: a.Name, Step: s.Name(), Err: &remote.DriftError{Host: a.Name, Files: hr.drift},
				Fix: "someone edited the file after cmtls wrote it (the diff shows what the rollback would change): keep the edit (do nothing), or run cmtls rollback --force, which keeps the edited file beside its backups as <file>.cmtls-<time>.edited"})
			continue
		}
		ch.Items = append(ch.Items, hr.items...)
		if len(hr.items) > 0 {
			env.Planned().ChangeAgentFiles(a.Name)
		}
	}
	switch {
	case s.all:
		ch.Notes = append(ch.Notes, "the most recent change on the agents was a certificate renewal: every change cmtls made is undone (the agents go back to their files before cmtls) and the server's TLS settings go off")
	case s.undo != "" && !s.undoesInit:
		ch.Notes = append(ch.Notes, fmt.Sprintf("undoes run %s on the agents (not init): AGENT_TLS and WEB_TLS stay as they are; a second rollback undoes the change before it", s.undo))
	case s.undo != "":
		ch.Notes = append(ch.Notes, fmt.Sprintf("undoes init (run %s): the agents go back to their files before cmtls, and the server's TLS settings go off", s.undo))
	}
	return ch, nil
}

// planHost reads one host's journals (or its pre-journal original) and
// plans its restore; skip says why there is nothing to do.
func (s *RestoreAgents) planHost(ctx context.Context, a *Agent) (hr *hostRestore, skip string, err error) {
	fail := func(err error) (*hostRestore, string, error) {
		if errors.Is(err, remote.ErrSymlink) {
			return nil, "", &HostError{Host: a.Name, Step: s.Name(), Err: err,
				Fix: "cmtls does not write through symbolic links: set agents.config_path and pem_dest (or the host's) to the files the links point to, then re-run"}
		}
		return nil, "", &HostError{Host: a.Name, Step: s.Name(), Err: err, Fix: orDefault(hint(err), agentcfg.ReadFix(err))}
	}
	undoRun := ""
	if s.all {
		undoRun = remote.AllRuns
	}
	plan, err := remote.PlanRestore(ctx, a.Host, undoRun, a.ConfigPath, a.PEMDest)
	plan.Release() // planned again, under the host's lock, by the apply
	switch {
	case errors.Is(err, remote.ErrNoHistory) && plan != nil && plan.Journaled:
		return nil, "nothing left to undo: every change cmtls recorded here is undone", nil
	case errors.Is(err, remote.ErrNoHistory):
		return s.planLegacy(ctx, a)
	case err != nil:
		return fail(err)
	}
	hr = &hostRestore{run: plan.UndoRun, files: plan.Files, want: map[string]string{}, drift: plan.Drifted()}
	for _, f := range plan.Files {
		if f.Latest.Time.After(hr.when) {
			hr.when = f.Latest.Time
		}
		hr.want[f.Path] = f.Change.Before
		it := Item{Host: a.Name, Kind: KindFile, Target: f.Path, Old: "sha256:" + shortOrNone(f.Current),
			New: "sha256:" + shortHex(f.Change.Before) + " (before run " + f.Change.RunID + ", from " + f.Change.BeforePath + ")"}
		if f.Change.Before == "" {
			it.New = "(removed: run " + f.Change.RunID + " created it)"
			if f.Change.MadeDir != "" {
				it.New = "(removed with " + f.Change.MadeDir + ": run " + f.Change.RunID + " created them)"
			}
		}
		if f.Drift {
			it.Note = "edited since cmtls wrote it; --force keeps the edited file beside its backups"
		}
		hr.items = append(hr.items, it)
	}
	return hr, "", nil
}

// planLegacy plans the restore of a host cmtls changed before it kept
// journals: config.ini from <config>.cmtls.orig, the PEM from its .orig
// or removed.
func (s *RestoreAgents) planLegacy(ctx context.Context, a *Agent) (*hostRestore, string, error) {
	files, err := remote.ReadFiles(ctx, a.Host, agentcfg.OrigPath(a.ConfigPath), a.ConfigPath, agentcfg.OrigPath(a.PEMDest), a.PEMDest)
	if err != nil {
		return nil, "", &HostError{Host: a.Name, Step: s.Name(), Err: err, Fix: orDefault(hint(err), agentcfg.ReadFix(err))}
	}
	orig, cur, pemOrig, pem := files[0], files[1], files[2], files[3]
	if !orig.Info.Exists {
		return nil, "cmtls has not changed this host (no journal, no " + orig.Path + ")", nil
	}
	hr := &hostRestore{legacy: true, want: map[string]string{a.ConfigPath: sha(orig.Data)}}
	if !bytes.Equal(orig.Data, cur.Data) {
		hr.items = append(hr.items, Item{Host: a.Name, Kind: KindFile, Target: a.ConfigPath, Old: "sha256:" + shortSum(cur.Data), New: "sha256:" + shortSum(orig.Data) + " (from " + orig.Path + ")"})
	}
	switch {
	case pemOrig.Info.Exists:
		hr.want[a.PEMDest] = sha(pemOrig.Data)
		if !bytes.Equal(pemOrig.Data, pem.Data) {
			hr.items = append(hr.items, Item{Host: a.Name, Kind: KindFile, Target: a.PEMDest, Old: "sha256:" + shortSum(pem.Data), New: "sha256:" + shortSum(pemOrig.Data)})
		}
	case pem.Info.Exists:
		hr.want[a.PEMDest] = ""
		hr.items = append(hr.items, Item{Host: a.Name, Kind: KindFile, Target: a.PEMDest, Old: "sha256:" + shortSum(pem.Data), New: "(removed)"})
	}
	return hr, "", nil
}

func shortHex(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

func shortOrNone(f remote.FileData) string {
	if !f.Info.Exists {
		return "(no file)"
	}
	return shortSum(f.Data)
}

func (s *RestoreAgents) host(name string) *hostRestore {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hosts[name]
}

func (s *RestoreAgents) Apply(ctx context.Context, env *Env) error {
	var todo []*Agent
	for _, a := range env.live() {
		if hr := s.host(a.Name); hr != nil && len(hr.items) > 0 {
			todo = append(todo, a)
		}
	}
	lock, wait, runID := env.lockInfo()
	env.each(ctx, s.Name(), todo, func(ctx context.Context, a *Agent) error {
		hr := s.host(a.Name)
		o := agentcfg.RestoreOptions{Force: s.Force, Undo: s.undo, RunID: runID, Now: env.Now(), Lock: lock, LockWait: wait}
		if hr.legacy || s.all {
			o.Undo = ""
		}
		o.All = s.all && !hr.legacy
		r, err := agentcfg.RestoreWith(ctx, a.Host, a.ConfigPath, a.PEMDest, o)
		if err != nil {
			return &HostError{Host: a.Name, Step: s.Name(), Err: err, Fix: hint(err)}
		}
		env.Done().Changed(a.Name)
		detail := "config.ini and PEM restored"
		if r.UndoRun != "" {
			detail += " (run " + r.UndoRun + " undone)"
		}
		if r.PEMRemoved {
			detail += "; " + a.PEMDest + " removed"
		}
		if r.DirsRemoved {
			detail += " with the directory cmtls made for it"
		}
		if len(r.EditedCopies) > 0 {
			detail += "; the edited file kept as " + strings.Join(r.EditedCopies, ", ")
		}
		env.report(Event{Step: s.Name(), Host: a.Name, Phase: PhaseApply, Status: StatusChanged, Detail: detail})
		return nil
	})
	if s.all && len(env.Failed()) == 0 && ctx.Err() == nil {
		s.retireRenewState(ctx, env)
	}
	return nil
}

// retireRenewState moves a finished renewal's state aside once every
// change is undone: it describes a cluster that is no more, and left in
// place it would make every later rollback undo everything again. Moved,
// not removed: it is the record of that renewal.
func (s *RestoreAgents) retireRenewState(ctx context.Context, env *Env) {
	if env.Answers == nil || env.Answers.Server == nil || env.Answers.Server.Keystore == nil || env.Server == nil {
		return
	}
	p := renewStatePath(env.Answers.Server.Keystore.Path)
	to := p + ".undone-" + env.Now().UTC().Format("20060102T150405Z")
	res, err := env.Server.Run(ctx, "if [ -f "+remote.Quote(p)+" ]; then mv -f -- "+remote.Quote(p)+" "+remote.Quote(to)+"; fi", nil)
	if err != nil || res.Code != 0 {
		env.report(Event{Step: s.Name(), Host: env.serverName(), Phase: PhaseApply, Status: StatusWarn,
			Detail: "the finished renewal's state " + p + " could not be moved aside; the next rollback undoes every change again"})
		return
	}
	env.report(Event{Step: s.Name(), Host: env.serverName(), Phase: PhaseApply, Status: StatusChanged,
		Detail: "the finished renewal's state kept as " + to})
}

// Verify reads back every restored file: it must hold its before-image's
// bytes (or be gone, when the undone run had created it).
func (s *RestoreAgents) Verify(ctx context.Context, env *Env) error {
	var restored []*Agent
	for _, a := range env.live() {
		if env.Done().IsChanged(a.Name) && s.host(a.Name) != nil {
			restored = append(restored, a)
		}
	}
	env.each(ctx, s.Name(), restored, func(ctx context.Context, a *Agent) error {
		hr := s.host(a.Name)
		files, err := remote.ReadFiles(ctx, a.Host, a.ConfigPath, a.PEMDest)
		if err != nil {
			return err
		}
		for _, f := range files {
			want, ok := hr.want[f.Path]
			if !ok {
				continue
			}
			switch {
			case want == "" && f.Info.Exists:
				return fmt.Errorf("%s is still there after the rollback", f.Path)
			case want != "" && (!f.Info.Exists || sha(f.Data) != want):
				return fmt.Errorf("%s does not hold its state before cmtls's change after the rollback", f.Path)
			}
		}
		return nil
	})
	return nil
}

// DisableTLS turns AGENT_TLS and WEB_TLS back off through the API, when
// the rollback undoes init (not when it undoes an `agents push`: the
// agents keep init's TLS settings, and so does the server).
type DisableTLS struct {
	restore *RestoreAgents // nil: always (the settings init made)
}

func (*DisableTLS) Name() string  { return "disable-tls" }
func (*DisableTLS) Title() string { return "Rollback: AGENT_TLS and WEB_TLS off" }

// keep: this rollback leaves the server's settings as they are.
func (s *DisableTLS) keep() bool { return s.restore != nil && !s.restore.undoesInit }

func (s *DisableTLS) want(ctx context.Context, env *Env) (map[string]string, []Item, error) {
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

func (s *DisableTLS) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	if s.keep() {
		ch.Notes = append(ch.Notes, "the server's settings stay: this rollback undoes "+s.restore.undo+", not init")
		return ch, nil
	}
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

func (s *DisableTLS) Apply(ctx context.Context, env *Env) error {
	if s.keep() {
		return nil
	}
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

func (s *DisableTLS) Verify(ctx context.Context, env *Env) error {
	if s.keep() {
		return nil
	}
	_, items, err := s.want(ctx, env)
	if err != nil {
		return err
	}
	if len(items) > 0 {
		return fmt.Errorf("%s still on", items[0].Target)
	}
	return nil
}

// rollbackRestart restarts the restored agents (canary first) and proves
// the canaries' heartbeats: plain after init is undone, over verified TLS
// after a push is (the agents are back on init's PEM).
type rollbackRestart struct{ r *RestoreAgents }

func (*rollbackRestart) Name() string  { return RestartAgents{}.Name() }
func (*rollbackRestart) Title() string { return RestartAgents{Rollback: true}.Title() }
func (s *rollbackRestart) step(env *Env) RestartAgents {
	return RestartAgents{Rollback: s.r.plainAfter(env)}
}
func (s *rollbackRestart) Plan(ctx context.Context, env *Env) (Change, error) {
	return s.step(env).Plan(ctx, env)
}
func (s *rollbackRestart) Apply(ctx context.Context, env *Env) error {
	return s.step(env).Apply(ctx, env)
}
func (s *rollbackRestart) Verify(ctx context.Context, env *Env) error {
	return s.step(env).Verify(ctx, env)
}

// plainAfter: the agents heartbeat without TLS after this rollback: it
// undoes init (or what came before journals), or the server's AGENT_TLS
// was off anyway (a push to a fleet init never took to TLS).
func (s *RestoreAgents) plainAfter(env *Env) bool {
	if s.undo == "" || s.undoesInit {
		return true
	}
	it, _ := cmapi.FindByName(env.Facts().Settings, settingAgentTLS)
	return !isTrue(it.Value)
}

// rollbackHeartbeats verifies every agent's heartbeat after the rollback:
// plain when init was undone, over verified TLS when a push was.
type rollbackHeartbeats struct{ r *RestoreAgents }

func (*rollbackHeartbeats) Name() string { return VerifyHeartbeats{}.Name() }
func (*rollbackHeartbeats) Title() string {
	return "Rollback: agents heartbeat again (without TLS when init is undone)"
}
func (s *rollbackHeartbeats) step(env *Env) VerifyHeartbeats {
	return VerifyHeartbeats{Plain: s.r.plainAfter(env)}
}
func (s *rollbackHeartbeats) Plan(ctx context.Context, env *Env) (Change, error) {
	return s.step(env).Plan(ctx, env)
}
func (s *rollbackHeartbeats) Apply(ctx context.Context, env *Env) error {
	return s.step(env).Apply(ctx, env)
}
func (s *rollbackHeartbeats) Verify(ctx context.Context, env *Env) error {
	return s.step(env).Verify(ctx, env)
}

// renewalFinished reports whether the server keeps the state of a finished
// certificate renewal (cmtls renew): the agents' files then trust the
// renewed certificate, whatever run id wrote them.
func renewalFinished(ctx context.Context, env *Env) bool {
	if env.Answers == nil || env.Answers.Server == nil || env.Answers.Server.Keystore == nil || env.Server == nil {
		return false
	}
	st, err := readRenewState(ctx, env)
	return err == nil && st != nil && st.Phase == renewPhaseDone
}
