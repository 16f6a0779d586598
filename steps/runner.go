package steps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Options steer one run.
type Options struct {
	// Only and Skip select steps by id (--only, --skip).
	Only, Skip []string
	// DryRun plans and stops: nothing is changed.
	DryRun bool
	// Confirm is shown the plan before anything changes; false stops the
	// run with nothing changed. nil means go ahead (--yes).
	Confirm func(ctx context.Context, p Plan) (bool, error)
	// Command names the run in the locks it takes on the hosts it changes
	// (e.g. "cmtls init"); "" = this program's command words.
	Command string
	// LockWait bounds how long the run waits for a lock another run holds
	// on the server or an agent host before it stops naming the holder
	// (0: DefaultLockWait).
	LockWait time.Duration
}

// StepResult is how one step ended.
type StepResult struct {
	Step   string `json:"step"`
	Title  string `json:"title"`
	Status Status `json:"status"` // changed | unchanged | skipped | failed
	Error  string `json:"error,omitempty"`
	Hint   string `json:"hint,omitempty"`
}

// Result is what a run did.
type Result struct {
	Plan  Plan         `json:"plan"`
	Steps []StepResult `json:"steps"`
	Hosts []HostResult `json:"hosts"`
	// Applied is false when nothing was changed (dry run, declined, or
	// stopped during planning).
	Applied bool `json:"applied"`
	// DryRun is true when the run only planned.
	DryRun bool `json:"dry_run,omitempty"`
	// Interrupted is true when the run was stopped by its context (Ctrl-C).
	Interrupted bool `json:"interrupted,omitempty"`
}

// ErrDeclined is returned when Confirm said no.
var ErrDeclined = errors.New("plan not confirmed; nothing was changed")

// Select returns the steps named by only (all when empty) minus skip, in
// their order. An unknown id is bad input.
func Select(all []Step, only, skip []string) ([]Step, error) {
	known := make([]string, len(all))
	for i, s := range all {
		known[i] = s.Name()
	}
	for _, id := range append(slices.Clone(only), skip...) {
		if !slices.Contains(known, id) {
			return nil, inputErrorf("use step ids from: "+strings.Join(known, ", "), "unknown step id %q", id)
		}
	}
	var out []Step
	for _, s := range all {
		if len(only) > 0 && !slices.Contains(only, s.Name()) {
			continue
		}
		if slices.Contains(skip, s.Name()) {
			continue
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, inputErrorf("--only and --skip leave no step", "no step selected")
	}
	return out, nil
}

// Run connects the agents and reads the Facts, plans every selected step
// (read-only; any bad input stops here with nothing changed), then, unless
// DryRun, applies each non-empty plan and verifies every step, in order.
// Host failures do not stop the other hosts: they end in a *PartialError.
//
// When ctx is cancelled (the first Ctrl-C) no new host work starts, work
// in flight finishes or times out (see WithAbort), no further step runs,
// and Run returns an error wrapping context.Canceled; the result says per
// host what was done and proven.
func Run(ctx context.Context, env *Env, all []Step, opts Options) (*Result, error) {
	env.run = nil // a new run: nothing carried over from an earlier one
	env.init()
	res := &Result{DryRun: opts.DryRun}
	sel, err := Select(all, opts.Only, opts.Skip)
	if err != nil {
		return res, err
	}
	env.run.mu.Lock()
	for _, s := range all {
		env.run.titles[s.Name()] = s.Title()
	}
	for _, s := range sel {
		env.run.selected = append(env.run.selected, s.Name())
	}
	env.run.mu.Unlock()
	if !opts.DryRun {
		// locks for a run that changes hosts; dry runs and status read only
		release, err := env.takeLocks(ctx, opts)
		if err != nil {
			return res, env.finish(ctx, res, err)
		}
		defer release()
		defer releasePlans(all)
	}
	env.discover(ctx)

	if err := env.planAll(ctx, sel, res); err != nil {
		return res, env.finish(ctx, res, err)
	}
	if opts.DryRun {
		return res, env.finish(ctx, res, nil)
	}
	// Not one agent host answered: changing the server now (AGENT_TLS,
	// its certificate, a restart) would leave every agent unable to
	// heartbeat, with none of them changed to match. Stop here instead.
	if failed := env.Failed(); len(env.Agents) > 0 && len(failed) == len(env.Agents) && !res.Plan.Empty() {
		return res, env.finish(ctx, res, &NoAgentsError{Failed: failed})
	}
	if opts.Confirm != nil && !res.Plan.Empty() {
		ok, err := opts.Confirm(ctx, res.Plan)
		if err == nil && !ok {
			err = ErrDeclined
		}
		if err != nil {
			return res, env.finish(ctx, res, err)
		}
	}
	res.Applied = true
	for i, s := range sel {
		if err := ctx.Err(); err != nil {
			return res, env.finish(ctx, res, err)
		}
		if err := env.applyVerify(ctx, s, res.Plan[i], res); err != nil {
			return res, env.finish(ctx, res, err)
		}
	}
	return res, env.finish(ctx, res, nil)
}

// planAll plans every selected step in order.
func (env *Env) planAll(ctx context.Context, sel []Step, res *Result) error {
	for _, s := range sel {
		if err := ctx.Err(); err != nil {
			return err
		}
		env.report(Event{Step: s.Name(), Title: s.Title(), Phase: PhasePlan, Status: StatusStart})
		ch, err := s.Plan(ctx, env)
		ch.Step, ch.Title = s.Name(), s.Title()
		res.Plan = append(res.Plan, ch)
		if err != nil {
			err = CredentialsAsInput(err)
			env.report(Event{Step: s.Name(), Title: s.Title(), Phase: PhasePlan, Status: StatusFailed, Err: err.Error(), Hint: hint(err)})
			res.Steps = append(res.Steps, StepResult{Step: s.Name(), Title: s.Title(), Status: StatusFailed, Error: err.Error(), Hint: hint(err)})
			return fmt.Errorf("plan %s: %w", s.Name(), err)
		}
		st := StatusChanged
		if ch.Empty() {
			st = StatusUnchanged
		}
		env.report(Event{Step: s.Name(), Title: s.Title(), Phase: PhasePlan, Status: st, Detail: fmt.Sprintf("%d change(s)", len(ch.Items))})
	}
	return nil
}

// applyVerify applies one step's plan (when not empty) and verifies it.
func (env *Env) applyVerify(ctx context.Context, s Step, plan Change, res *Result) error {
	sr := StepResult{Step: s.Name(), Title: s.Title(), Status: StatusUnchanged}
	ev := Event{Step: s.Name(), Title: s.Title(), Phase: PhaseApply}
	if plan.Empty() {
		ev.Status, ev.Detail = StatusUnchanged, "already done"
		env.report(ev)
	} else {
		ev.Status = StatusStart
		env.report(ev)
		if err := s.Apply(ctx, env); err != nil {
			var skip *SkipError
			if errors.As(err, &skip) {
				sr.Status = StatusSkipped
				ev.Status, ev.Detail = StatusSkipped, skip.Reason
				env.report(ev)
				res.Steps = append(res.Steps, sr)
				return nil
			}
			return env.stepFailed(ctx, res, sr, PhaseApply, err)
		}
		sr.Status = StatusChanged
		if err := ctx.Err(); err != nil {
			// Interrupted while applying: what started is done, but the
			// step is not verified (and not claimed changed in full).
			sr.Status = StatusStopped
			res.Steps = append(res.Steps, sr)
			return err
		}
		ev.Status, ev.Detail = StatusChanged, summary(plan)
		env.report(ev)
	}
	ev.Phase, ev.Status, ev.Detail = PhaseVerify, StatusStart, ""
	env.report(ev)
	if err := s.Verify(ctx, env); err != nil {
		return env.stepFailed(ctx, res, sr, PhaseVerify, err)
	}
	if err := ctx.Err(); err != nil {
		sr.Status = StatusStopped
		res.Steps = append(res.Steps, sr)
		return err
	}
	env.markVerified(s.Name())
	ev.Status, ev.Detail = StatusOK, "verified"
	env.report(ev)
	res.Steps = append(res.Steps, sr)
	return nil
}

func summary(c Change) string {
	// A plan of checks only (Step 6) changes nothing: say "check(s)", so
	// the operator does not look for what the verify step changed.
	what := "check(s)"
	for _, it := range c.Items {
		if it.Kind != KindCheck {
			what = "change(s)"
			break
		}
	}
	hosts := c.Hosts()
	if len(hosts) == 0 {
		return fmt.Sprintf("%d %s", len(c.Items), what)
	}
	return fmt.Sprintf("%d %s on %d host(s)", len(c.Items), what, len(hosts))
}

func (e *Env) stepFailed(ctx context.Context, res *Result, sr StepResult, ph Phase, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		sr.Status = StatusStopped
		res.Steps = append(res.Steps, sr)
		return err
	}
	sr.Status, sr.Error, sr.Hint = StatusFailed, err.Error(), hint(err)
	res.Steps = append(res.Steps, sr)
	e.report(Event{Step: sr.Step, Title: sr.Title, Phase: ph, Status: StatusFailed, Err: err.Error(), Hint: hint(err)})
	return fmt.Errorf("%s: %w", sr.Step, err)
}

// finish fills the per-host results and returns the run's error: err, or
// the interrupt, or the hosts that failed.
func (e *Env) finish(ctx context.Context, res *Result, err error) error {
	interrupted := ctx.Err() != nil
	res.Interrupted = interrupted
	complete := err == nil && !interrupted && res.Applied
	res.Hosts = e.hostResults(res, complete)
	switch {
	case interrupted && !errors.Is(err, context.Canceled):
		if err == nil {
			return ctx.Err()
		}
		return errors.Join(err, ctx.Err())
	case err != nil:
		return err
	case res.DryRun:
		return e.couldNotPlan()
	}
	return e.partial(res)
}

// partial returns a *PartialError when some hosts failed.
func (e *Env) partial(res *Result) error {
	failed := e.Failed()
	if len(failed) == 0 {
		return nil
	}
	done := 0
	for _, h := range res.Hosts {
		if h.Status == HostVerified || h.Status == HostUnchanged {
			done++
		}
	}
	return &PartialError{Failed: failed, Done: done}
}

// couldNotPlan returns a *PlanError when a dry run could not plan some
// hosts.
func (e *Env) couldNotPlan() error {
	if failed := e.Failed(); len(failed) > 0 {
		return &PlanError{Failed: failed, Planned: len(e.Agents) - len(failed)}
	}
	return nil
}
