package steps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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
}

// StepResult is how one step ended.
type StepResult struct {
	Step   string `json:"step"`
	Title  string `json:"title"`
	Status Status `json:"status"` // changed | unchanged | skipped | failed
	Error  string `json:"error,omitempty"`
	Hint   string `json:"hint,omitempty"`
}

// HostResult is how one agent host ended.
type HostResult struct {
	Host   string `json:"host"`
	Status Status `json:"status"` // ok | failed
	Step   string `json:"step,omitempty"`
	Error  string `json:"error,omitempty"`
	Hint   string `json:"hint,omitempty"`
	Log    string `json:"log,omitempty"`
}

// Result is what a run did.
type Result struct {
	Plan  Plan         `json:"plan"`
	Steps []StepResult `json:"steps"`
	Hosts []HostResult `json:"hosts"`
	// Applied is false when nothing was changed (dry run, declined, or
	// stopped during planning).
	Applied bool `json:"applied"`
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

// Run plans every selected step (read-only; any bad input stops here with
// nothing changed), then, unless DryRun, applies each non-empty plan and
// verifies every step, in order. Host failures do not stop the other hosts:
// they end in a *PartialError (exit 3).
func Run(ctx context.Context, env *Env, all []Step, opts Options) (*Result, error) {
	env.init()
	res := &Result{}
	sel, err := Select(all, opts.Only, opts.Skip)
	if err != nil {
		return res, err
	}
	env.titles = map[string]string{}
	for _, s := range all {
		env.titles[s.Name()] = s.Title()
	}
	for _, s := range sel {
		env.selected = append(env.selected, s.Name())
	}
	env.connect(ctx)

	for _, s := range sel {
		env.report(Event{Step: s.Name(), Title: s.Title(), Phase: PhasePlan, Status: StatusStart})
		ch, err := s.Plan(ctx, env)
		ch.Step, ch.Title = s.Name(), s.Title()
		if err != nil {
			err = CredentialsAsInput(err)
			env.report(Event{Step: s.Name(), Title: s.Title(), Phase: PhasePlan, Status: StatusFailed, Err: err.Error(), Hint: hint(err)})
			res.Plan = append(res.Plan, ch)
			res.Steps = append(res.Steps, StepResult{Step: s.Name(), Title: s.Title(), Status: StatusFailed, Error: err.Error(), Hint: hint(err)})
			res.Hosts = env.hostResults()
			return res, fmt.Errorf("plan %s: %w", s.Name(), err)
		}
		st := StatusChanged
		if ch.Empty() {
			st = StatusUnchanged
		}
		env.report(Event{Step: s.Name(), Title: s.Title(), Phase: PhasePlan, Status: st, Detail: fmt.Sprintf("%d change(s)", len(ch.Items))})
		res.Plan = append(res.Plan, ch)
	}
	if opts.DryRun {
		res.Hosts = env.hostResults()
		return res, env.partial()
	}
	// Not one agent host answered: changing the server now (AGENT_TLS,
	// its certificate, a restart) would leave every agent unable to
	// heartbeat, with none of them changed to match. Stop here instead.
	if failed := env.Failed(); len(env.Agents) > 0 && len(failed) == len(env.Agents) && !res.Plan.Empty() {
		res.Hosts = env.hostResults()
		return res, &NoAgentsError{Failed: failed}
	}
	if opts.Confirm != nil && !res.Plan.Empty() {
		ok, err := opts.Confirm(ctx, res.Plan)
		if err != nil {
			return res, err
		}
		if !ok {
			return res, ErrDeclined
		}
	}
	res.Applied = true
	for i, s := range sel {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		sr := StepResult{Step: s.Name(), Title: s.Title(), Status: StatusUnchanged}
		ev := Event{Step: s.Name(), Title: s.Title()}
		if !res.Plan[i].Empty() {
			ev.Phase, ev.Status = PhaseApply, StatusStart
			env.report(ev)
			if err := s.Apply(ctx, env); err != nil {
				var skip *SkipError
				if errors.As(err, &skip) {
					sr.Status = StatusSkipped
					ev.Status, ev.Detail = StatusSkipped, skip.Reason
					env.report(ev)
					res.Steps = append(res.Steps, sr)
					continue
				}
				return res, env.stepFailed(res, sr, PhaseApply, err)
			}
			sr.Status = StatusChanged
			ev.Status, ev.Detail = StatusChanged, summary(res.Plan[i])
			env.report(ev)
		} else {
			ev.Phase, ev.Status, ev.Detail = PhaseApply, StatusUnchanged, "already done"
			env.report(ev)
		}
		ev.Phase, ev.Status, ev.Detail = PhaseVerify, StatusStart, ""
		env.report(ev)
		if err := s.Verify(ctx, env); err != nil {
			return res, env.stepFailed(res, sr, PhaseVerify, err)
		}
		env.markVerified(s.Name())
		ev.Status, ev.Detail = StatusOK, "verified"
		env.report(ev)
		res.Steps = append(res.Steps, sr)
	}
	res.Hosts = env.hostResults()
	return res, env.partial()
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

func (e *Env) stepFailed(res *Result, sr StepResult, ph Phase, err error) error {
	sr.Status, sr.Error, sr.Hint = StatusFailed, err.Error(), hint(err)
	res.Steps = append(res.Steps, sr)
	e.report(Event{Step: sr.Step, Title: sr.Title, Phase: ph, Status: StatusFailed, Err: err.Error(), Hint: hint(err)})
	res.Hosts = e.hostResults()
	return fmt.Errorf("%s: %w", sr.Step, err)
}

// partial returns a *PartialError when some hosts failed.
func (e *Env) partial() error {
	failed := e.Failed()
	if len(failed) == 0 {
		return nil
	}
	return &PartialError{Failed: failed, Done: len(e.Agents) - len(failed)}
}

func (e *Env) hostResults() []HostResult {
	out := make([]HostResult, 0, len(e.Agents))
	for _, a := range e.Agents {
		hr := HostResult{Host: a.Name, Status: StatusOK}
		e.mu.Lock()
		he := e.failed[a.Name]
		e.mu.Unlock()
		if he != nil {
			hr.Status, hr.Step, hr.Error, hr.Hint, hr.Log = StatusFailed, he.Step, strings.TrimPrefix(he.Err.Error(), "host "+a.Name+": "), he.Fix, he.Log
		}
		out = append(out, hr)
	}
	return out
}
