package steps

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
)

// ErrNotStarted is the result of an item a fan-out did not start because
// the run was interrupted first; it wraps context.Canceled.
var ErrNotStarted = fmt.Errorf("not started: the run was interrupted (%w)", context.Canceled)

type abortKey struct{}

// WithAbort returns ctx carrying abort. Run stops gracefully when ctx is
// cancelled (the first Ctrl-C): no new host work starts, and work already
// started goes on until it finishes or times out. Cancelling abort (the
// second Ctrl-C) stops the work in flight too.
func WithAbort(ctx, abort context.Context) context.Context {
	return context.WithValue(ctx, abortKey{}, abort)
}

// InFlight returns the context for host work that has started: it is not
// cancelled with ctx (an interrupted run lets started work finish or time
// out), only with the abort context given to WithAbort. Call stop when the
// work is over.
func InFlight(ctx context.Context) (c context.Context, stop func()) {
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	abort, _ := ctx.Value(abortKey{}).(context.Context)
	if abort == nil {
		return c, cancel
	}
	unhook := context.AfterFunc(abort, cancel)
	return c, func() { unhook(); cancel() }
}

// FanOut calls fn for every item with at most parallelism calls at once and
// returns one error per item, in the items' order (nil: done). One item's
// failure never stops the others; a panic in fn becomes that item's error.
// Once ctx is done no further item starts (those get ErrNotStarted); items
// already started run on under InFlight(ctx) until they return.
func FanOut[T any](ctx context.Context, items []T, parallelism int, fn func(ctx context.Context, item T) error) []error {
	errs := make([]error, len(items))
	if parallelism < 1 {
		parallelism = 1
	}
	work, stop := InFlight(ctx)
	defer stop()
	sem := make(chan struct{}, parallelism)
	var wg sync.WaitGroup
	for i, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			for j := i; j < len(items); j++ {
				errs[j] = ErrNotStarted
			}
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			defer func() {
				if r := recover(); r != nil {
					errs[i] = fmt.Errorf("internal error (a bug in cmtls; please report it): %v\n%s", r, debug.Stack())
				}
			}()
			errs[i] = fn(work, it)
		}()
	}
	wg.Wait()
	return errs
}

// each runs fn for every agent in as (FanOut with the run's parallelism),
// connecting first an agent not connected yet. An error fails that host
// in step (a *HostError keeps its own step and fix); a host the interrupt
// kept from starting is not failed.
func (e *Env) each(ctx context.Context, step string, as []*Agent, fn func(ctx context.Context, a *Agent) error) {
	errs := FanOut(ctx, as, e.parallelism(), func(ctx context.Context, a *Agent) error {
		if a.Host == nil {
			if err := e.dial(ctx, a); err != nil {
				return err
			}
		}
		return fn(ctx, a)
	})
	for i, err := range errs {
		if err == nil || errors.Is(err, ErrNotStarted) {
			continue
		}
		var he *HostError
		if !errors.As(err, &he) || he.Host != as[i].Name {
			he = &HostError{Host: as[i].Name, Step: step, Err: err, Fix: hint(err)}
		}
		e.fail(he)
	}
}

// Each runs fn for every agent in as, at most agents.parallelism at once,
// connecting first an agent not connected yet (for steps defined outside
// this package). An error fails that host in step: the rest of the run
// leaves it alone and it ends as failed. After an interrupt no new host
// starts; work started runs on under InFlight.
func (e *Env) Each(ctx context.Context, step string, as []*Agent, fn func(ctx context.Context, a *Agent) error) {
	e.init()
	e.each(ctx, step, as, fn)
}

// CanaryFirst applies the canary rule of every rollout (see canaryFirst):
// work on the first agents.canary hosts of todo, prove them, then the
// rest; a failed canary stops the rest with a *CanaryError.
func (e *Env) CanaryFirst(ctx context.Context, step string, todo []*Agent, work func(ctx context.Context, a *Agent) error, prove func(ctx context.Context, canaries []*Agent)) error {
	e.init()
	return e.canaryFirst(ctx, step, todo, work, prove)
}

// canaryFirst is the canary rule of every rollout: work runs on the first
// agents.canary hosts of todo (in the answers' order; a host that already
// failed in this step counts as a failed canary), prove checks them, and
// only when none of them failed does work run on the rest. Otherwise the
// rest are not started and a *CanaryError says so.
func (e *Env) canaryFirst(ctx context.Context, step string, todo []*Agent, work func(ctx context.Context, a *Agent) error, prove func(ctx context.Context, canaries []*Agent)) error {
	n := e.canary()
	in := map[string]bool{}
	for _, a := range todo {
		in[a.Name] = true
	}
	var canaries []*Agent
	for _, a := range e.Agents {
		if len(canaries) >= n {
			break
		}
		if he := e.failure(a.Name); in[a.Name] || (he != nil && he.Step == step) {
			canaries = append(canaries, a)
		}
	}
	isCanary := map[string]bool{}
	var start []*Agent
	for _, a := range canaries {
		isCanary[a.Name] = true
		if !e.isFailed(a.Name) {
			start = append(start, a)
		}
	}
	var rest []*Agent
	for _, a := range todo {
		if !isCanary[a.Name] {
			rest = append(rest, a)
		}
	}
	if len(canaries) > 0 {
		e.each(ctx, step, start, work)
		if prove != nil && ctx.Err() == nil {
			prove(ctx, liveOf(e, start))
		}
		for _, c := range canaries {
			if e.isFailed(c.Name) {
				names := make([]string, len(rest))
				for i, a := range rest {
					names[i] = a.Name
					e.noteNotStarted(a.Name, "the canary host "+c.Name+" failed")
				}
				if len(rest) == 0 {
					return nil
				}
				return &CanaryError{Canary: c.Name, Hosts: names}
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	e.each(ctx, step, rest, work)
	return nil
}

func liveOf(env *Env, as []*Agent) []*Agent {
	var out []*Agent
	for _, a := range as {
		if !env.isFailed(a.Name) {
			out = append(out, a)
		}
	}
	return out
}
