package steps

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cmtls/cmtls/remote"
)

// hostStatuses maps each host to how the run says it ended.
func hostStatuses(res *Result) map[string]Status {
	got := map[string]Status{}
	for _, h := range res.Hosts {
		got[h.Host] = h.Status
	}
	return got
}

func summaryText(t *testing.T, res *Result, err error) string {
	t.Helper()
	var b bytes.Buffer
	if werr := res.WriteSummary(&b, err); werr != nil {
		t.Fatal(werr)
	}
	return b.String()
}

// cancelAt cancels the run when the step starts applying: the interrupt
// lands on a step boundary.
type cancelAt struct {
	Collector
	step   string
	cancel context.CancelFunc
}

func (c *cancelAt) Report(e Event) {
	c.Collector.Report(e)
	if e.Step == c.step && e.Phase == PhaseApply && e.Status == StatusStart && e.Host == "" {
		c.cancel()
	}
}

// An interrupt at the step boundary before push-cert: no agent host was
// touched, and the summary says so (none "verified", all not started);
// exit 130.
func TestInterruptAtStepBoundaryClaimsNothing(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 3, nil)
	before := fx.snapshot()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep := &cancelAt{step: "push-cert", cancel: cancel}
	res, err := Run(ctx, fx.env(rep), TLSSteps(), Options{})
	if exitOf(err) != 130 {
		t.Fatalf("exit %d (%v), want 130", exitOf(err), err)
	}
	if d := cmp.Diff(map[string]Status{"agent1": HostNotStarted, "agent2": HostNotStarted, "agent3": HostNotStarted}, hostStatuses(res)); d != "" {
		t.Errorf("hosts (-want +got):\n%s", d)
	}
	for _, a := range fx.answers.AgentHosts() {
		if b, _ := os.ReadFile(a.ConfigPath); string(b) != before[a.ConfigPath] {
			t.Errorf("%s: config.ini changed after the interrupt", a.Name)
		}
	}
	s := summaryText(t, res, err)
	if !strings.HasPrefix(s, "interrupted: 3 not started (agent hosts)\n") || strings.Contains(s, "verified") {
		t.Errorf("summary:\n%s", s)
	}
	for _, st := range res.Steps {
		if st.Step == "push-cert" && st.Status != StatusStopped {
			t.Errorf("push-cert step %s, want %s", st.Status, StatusStopped)
		}
	}
}

// cancelOnRun cancels the run when the command it watches starts on the
// host: the interrupt lands while that command runs.
type cancelOnRun struct {
	remote.Host
	cmd    string
	cancel context.CancelFunc
	seen   atomic.Int32
}

func (h *cancelOnRun) Run(ctx context.Context, cmd string, stdin io.Reader) (*remote.Result, error) {
	if cmd == h.cmd {
		h.seen.Add(1)
		h.cancel()
		if ctx.Err() != nil {
			return nil, errors.New("the restart in flight was given a cancelled context")
		}
	}
	return h.Host.Run(ctx, cmd, stdin)
}

// An interrupt while the canary's restart command runs: the restart
// finishes (it is not killed), no other agent is restarted, and the
// summary matches the hosts: every one has new files and none is verified.
func TestInterruptMidRestartLetsItFinish(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env := fx.env(&Collector{})
	a1 := fx.answers.AgentHosts()[0]
	watch := &cancelOnRun{Host: remote.NewLocal(a1.Name), cmd: a1.RestartCommand, cancel: cancel}
	env.Agents[0].Host = watch
	res, err := Run(ctx, env, TLSSteps(), Options{})
	if exitOf(err) != 130 {
		t.Fatalf("exit %d (%v), want 130", exitOf(err), err)
	}
	if watch.seen.Load() != 1 {
		t.Fatalf("the canary restart ran %d times", watch.seen.Load())
	}
	if n := restartCount(t, filepath.Join(fx.dir, "agent1", "restarts")); n != 1 {
		t.Errorf("agent1's restart in flight did not finish: %d restarts", n)
	}
	for _, n := range []string{"agent2", "agent3"} {
		if c := restartCount(t, filepath.Join(fx.dir, n, "restarts")); c != 0 {
			t.Errorf("%s restarted after the interrupt", n)
		}
	}
	if d := cmp.Diff(map[string]Status{"agent1": HostDone, "agent2": HostDone, "agent3": HostDone}, hostStatuses(res)); d != "" {
		t.Errorf("hosts (-want +got):\n%s", d)
	}
	s := summaryText(t, res, err)
	if !strings.HasPrefix(s, "interrupted: 3 done but not verified (agent hosts)\n") || strings.Contains(s, "ok:") || strings.Contains(s, "FAILED") {
		t.Errorf("summary:\n%s", s)
	}
}

// A dry run with an unreachable host plans the others, says "could not
// plan" for it, never "done" or "verified", and fails (exit 1), with
// nothing changed.
func TestDryRunWithUnreachableHost(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 2, nil)
	fx.down["agent2"] = true
	before := fx.snapshot()
	res, _, err := fx.run(Options{DryRun: true})
	var pe *PlanError
	if !errors.As(err, &pe) || exitOf(err) != 1 || len(pe.Failed) != 1 || pe.Failed[0].Host != "agent2" {
		t.Fatalf("err %v (exit %d), want a PlanError for agent2, exit 1", err, exitOf(err))
	}
	if d := cmp.Diff(map[string]Status{"agent1": HostWouldChange, "agent2": HostCouldNotPlan}, hostStatuses(res)); d != "" {
		t.Errorf("hosts (-want +got):\n%s", d)
	}
	s := summaryText(t, res, err)
	if !strings.HasPrefix(s, "dry run: 1 would change, 1 could not plan (agent hosts); nothing was changed\n") ||
		!strings.Contains(s, "agent2               could not plan (connect): dial agent2: connection refused") ||
		strings.Contains(s, "verified") || strings.Contains(s, "done") {
		t.Errorf("summary:\n%s", s)
	}
	if d := cmp.Diff(before, fx.snapshot()); d != "" {
		t.Errorf("dry run changed files:\n%s", d)
	}
}

// panicStep panics in its per-host work for one host.
type panicStep struct{ host string }

func (panicStep) Name() string  { return "panic-step" }
func (panicStep) Title() string { return "a step whose work panics on one host" }
func (s panicStep) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	for _, a := range env.Live() {
		ch.Add(Item{Host: a.Name, Kind: KindCheck, Target: "x"})
	}
	return ch, nil
}
func (s panicStep) Apply(ctx context.Context, env *Env) error {
	env.each(ctx, s.Name(), env.live(), func(ctx context.Context, a *Agent) error {
		if a.Name == s.host {
			panic("a bug in the step")
		}
		env.Done().Changed(a.Name)
		return nil
	})
	return nil
}
func (panicStep) Verify(context.Context, *Env) error { return nil }

// A panic in one host's work becomes that host's failure; the other hosts
// finish and the run is partly done (exit 3).
func TestPanicInOneHostIsThatHostsFailure(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 3, nil)
	res, err := Run(t.Context(), fx.env(nil), []Step{panicStep{host: "agent2"}}, Options{})
	if exitOf(err) != 3 {
		t.Fatalf("exit %d (%v), want 3", exitOf(err), err)
	}
	if d := cmp.Diff(map[string]Status{"agent1": HostVerified, "agent2": HostFailed, "agent3": HostVerified}, hostStatuses(res)); d != "" {
		t.Errorf("hosts (-want +got):\n%s", d)
	}
	for _, h := range res.Hosts {
		if h.Host == "agent2" && (!strings.Contains(h.Error, "internal error") || !strings.Contains(h.Error, "a bug in the step")) {
			t.Errorf("agent2: %+v", h)
		}
	}
}

// FanOut starts nothing once its context is cancelled, lets the items
// already started run on with a live context, and the abort context stops
// them.
func TestFanOutInterruptAndAbort(t *testing.T) {
	t.Parallel()
	abort, stop := context.WithCancel(context.Background())
	defer stop()
	ctx, cancel := context.WithCancel(abort)
	started := make(chan struct{})
	release := make(chan struct{})
	var inFlightErr error
	errs := make(chan []error, 1)
	go func() {
		errs <- FanOut(WithAbort(ctx, abort), []int{1, 2, 3}, 1, func(ctx context.Context, i int) error {
			if i != 1 {
				return nil
			}
			close(started)
			<-release
			inFlightErr = ctx.Err()
			return nil
		})
	}()
	<-started
	cancel()
	close(release)
	got := <-errs
	if inFlightErr != nil || got[0] != nil || !errors.Is(got[1], ErrNotStarted) || !errors.Is(got[2], ErrNotStarted) {
		t.Fatalf("after the first cancel: in flight saw %v; results %v", inFlightErr, got)
	}

	// the abort (second Ctrl-C) reaches the work in flight
	abort2, stop2 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(abort2)
	defer cancel2()
	started2 := make(chan struct{})
	go func() { <-started2; cancel2(); stop2() }()
	res := FanOut(WithAbort(ctx2, abort2), []int{1}, 1, func(ctx context.Context, _ int) error {
		close(started2)
		<-ctx.Done() // returns only when the abort reaches it
		return ctx.Err()
	})
	if !errors.Is(res[0], context.Canceled) {
		t.Fatalf("aborted work returned %v", res[0])
	}
}

// Rollback on a host whose config.ini is a symbolic link names the fix
// (point config_path at the link's target), not the network.
func TestRollbackSymlinkedConfigHint(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 1, nil)
	if _, _, err := fx.run(Options{}); err != nil {
		t.Fatal(err)
	}
	a := fx.answers.AgentHosts()[0]
	real := a.ConfigPath + ".real"
	must(t, os.Rename(a.ConfigPath, real))
	must(t, os.Symlink(real, a.ConfigPath))
	res, err := Run(t.Context(), fx.env(nil), RollbackSteps(), Options{})
	if err == nil {
		t.Fatal("rollback through a symlink succeeded")
	}
	h := res.Hosts[0]
	if h.Status != HostFailed || !strings.Contains(h.Hint, "links point to") || strings.Contains(h.Hint, "reachable") {
		t.Errorf("host %+v", h)
	}
}

// cancelAtApply cancels the run when step reaches its apply phase (whether
// it has work or not).
type cancelAtApply struct {
	Collector
	step   string
	cancel context.CancelFunc
}

func (c *cancelAtApply) Report(e Event) {
	c.Collector.Report(e)
	if e.Step == c.step && e.Phase == PhaseApply && e.Host == "" && (e.Status == StatusStart || e.Status == StatusUnchanged) {
		c.cancel()
	}
}

// A Ctrl-C at every step boundary: exit 130, and the summary matches each
// host's real state: "not started" only on a host with its files and
// restarts untouched, "done" on one that was changed, "verified" only on
// one changed, restarted and heard from; never a failure.
func TestInterruptAtEveryStepBoundary(t *testing.T) {
	t.Parallel()
	for _, s := range TLSSteps() {
		t.Run(s.Name(), func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t, 3, nil)
			before := fx.snapshot()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := Run(ctx, fx.env(&cancelAtApply{step: s.Name(), cancel: cancel}), TLSSteps(), Options{})
			if exitOf(err) != 130 {
				t.Fatalf("exit %d (%v), want 130", exitOf(err), err)
			}
			for _, h := range res.Hosts {
				a := filepath.Join(fx.dir, h.Host)
				cfg, _ := os.ReadFile(filepath.Join(a, "config.ini"))
				changed := string(cfg) != before[filepath.Join(a, "config.ini")]
				restarted := restartCount(t, filepath.Join(a, "restarts")) > 0
				var bad bool
				switch h.Status {
				case HostNotStarted:
					bad = changed || restarted
				case HostDone:
					bad = !changed && !restarted
				case HostVerified:
					bad = !changed || !restarted
				default:
					bad = true
				}
				if bad {
					t.Errorf("%s: %s, but config.ini changed %v, restarted %v", h.Host, h.Status, changed, restarted)
				}
			}
			if s := summaryText(t, res, err); !strings.HasPrefix(s, "interrupted: ") || strings.Contains(s, "FAILED") {
				t.Errorf("summary:\n%s", s)
			}
		})
	}
}
