package steps

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/cmtls/cmtls/remote/cmapi"
)

// Errors say the kind of a failure by behaviour (BadInput, Partial); the
// command maps kinds to exit codes.

// InputError is bad input found before anything changed.
type InputError struct {
	Err error
	Fix string
}

func (e *InputError) Error() string  { return e.Err.Error() }
func (e *InputError) Unwrap() error  { return e.Err }
func (e *InputError) BadInput() bool { return true }
func (e *InputError) Hint() string   { return e.Fix }

func inputErrorf(fix, format string, args ...any) error {
	return &InputError{Err: fmt.Errorf(format, args...), Fix: fix}
}

// HostError is one host's failure; the other hosts go on.
type HostError struct {
	Host string
	Step string
	Err  error
	Fix  string
	// Log is the reason line read from the agent's log, when there is one.
	Log string
}

func (e *HostError) Error() string {
	// lower layers often name the host already
	inner := strings.TrimPrefix(e.Err.Error(), "host "+e.Host+": ")
	msg := fmt.Sprintf("host %s: %s: %s", e.Host, e.Step, inner)
	if e.Log != "" {
		msg += "\n    agent log: " + e.Log
	}
	return msg
}
func (e *HostError) Unwrap() error { return e.Err }
func (e *HostError) Hint() string  { return e.Fix }

// PartialError says some hosts failed while the rest are done and
// verified (Partial, when any is done); re-running continues with the
// failed hosts.
type PartialError struct {
	Failed []*HostError
	Done   int // hosts done and verified
}

func (e *PartialError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d host(s) failed, %d done and verified:", len(e.Failed), e.Done)
	for _, h := range e.Failed {
		b.WriteString("\n  ")
		b.WriteString(h.Error())
	}
	return b.String()
}

// Partial is true when some host is done: with none done the run failed.
func (e *PartialError) Partial() bool { return e.Done > 0 }
func (e *PartialError) Hint() string {
	for _, h := range e.Failed {
		if h.Fix != "" {
			return h.Fix + "; then re-run the same command to finish the failed hosts"
		}
	}
	return "fix the failed hosts and re-run the same command; hosts already done are left as they are"
}
func (e *PartialError) Unwrap() []error {
	out := make([]error, len(e.Failed))
	for i, h := range e.Failed {
		out[i] = h
	}
	return out
}

// NoAgentsError is a run stopped before any change because not one agent
// host could be reached: the server's TLS settings and restart would cut
// every agent off with none of them ready for it. A failure, nothing
// changed.
type NoAgentsError struct {
	Failed []*HostError
}

func (e *NoAgentsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "none of the %d agent host(s) could be reached; nothing was changed, on the server either:", len(e.Failed))
	for _, h := range e.Failed {
		b.WriteString("\n  ")
		b.WriteString(h.Error())
	}
	return b.String()
}
func (e *NoAgentsError) Hint() string {
	for _, h := range e.Failed {
		if h.Fix != "" && strings.Contains(h.Fix, "re-run") {
			return h.Fix
		}
		if h.Fix != "" {
			return h.Fix + "; then re-run the same command"
		}
	}
	return "make the agent hosts reachable over SSH (agents.ssh, each host's address and port), then re-run the same command"
}
func (e *NoAgentsError) Unwrap() []error {
	out := make([]error, len(e.Failed))
	for i, h := range e.Failed {
		out[i] = h
	}
	return out
}

// allFailedError is a step with no agent host left: every one failed
// earlier in the run, each reported with its own fix. A failure.
type allFailedError struct{ msg string }

func (e *allFailedError) Error() string { return e.msg }
func (e *allFailedError) Hint() string {
	return "every agent host failed (each is listed above with its fix); fix them, then re-run the same command"
}

// RefusedError is a step that refuses to run now (Step 7 before Steps 1-6
// are verified): bad input, nothing was changed.
type RefusedError struct {
	Step   string
	Reason string
	Fix    string
}

func (e *RefusedError) Error() string  { return fmt.Sprintf("%s refused: %s", e.Step, e.Reason) }
func (e *RefusedError) BadInput() bool { return true }
func (e *RefusedError) Hint() string   { return e.Fix }

// CredentialsAsInput makes a plan-time refusal of the CM API credentials
// (401, 403) bad input: nothing changed yet and the fix is in the
// answers file (server.api.user, server.api.password). Other errors pass.
func CredentialsAsInput(err error) error {
	var ae *cmapi.APIError
	if err == nil || !errors.As(err, &ae) || (ae.Status != http.StatusUnauthorized && ae.Status != http.StatusForbidden) {
		return err
	}
	var ie *InputError
	if errors.As(err, &ie) {
		return err
	}
	return &InputError{Err: err, Fix: hint(err)}
}

// hint returns the first hint in err's tree.
func hint(err error) string {
	for err != nil {
		if h, ok := err.(interface{ Hint() string }); ok && h.Hint() != "" {
			return h.Hint()
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				if s := hint(e); s != "" {
					return s
				}
			}
			return ""
		}
		err = errors.Unwrap(err)
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// SkipError is returned by Apply when a step decides not to run after all
// (Step 7 while some agent hosts failed): the runner reports it skipped,
// does not verify it, and goes on; the run's exit code comes from the
// hosts that failed.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "skipped: " + e.Reason }

// CanaryError stops a rollout whose canary host failed: the other hosts
// were not started (a failure; files an earlier step wrote stay changed).
type CanaryError struct {
	Canary string   // the first canary that failed
	Hosts  []string // not started
}

func (e *CanaryError) Error() string {
	return fmt.Sprintf("the canary host %s failed; the other %d agent(s) were not started (%s)", e.Canary, len(e.Hosts), strings.Join(e.Hosts, ", "))
}
func (e *CanaryError) Hint() string {
	return "fix the canary (see its reason above) and re-run, or undo with `cmtls rollback`"
}

// PlanError is a dry run that could not plan some hosts (unreachable, no
// config.ini): a failure; nothing was changed.
type PlanError struct {
	Failed  []*HostError
	Planned int // hosts planned
}

func (e *PlanError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "could not plan %d host(s) (%d planned); nothing was changed:", len(e.Failed), e.Planned)
	for _, h := range e.Failed {
		b.WriteString("\n  ")
		b.WriteString(h.Error())
	}
	return b.String()
}
func (e *PlanError) Hint() string {
	for _, h := range e.Failed {
		if h.Fix != "" {
			return h.Fix
		}
	}
	return "make the hosts reachable, then plan again"
}
func (e *PlanError) Unwrap() []error {
	out := make([]error, len(e.Failed))
	for i, h := range e.Failed {
		out[i] = h
	}
	return out
}
