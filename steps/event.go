package steps

import "time"

// Phase is where in a step's life an event comes from.
type Phase string

const (
	PhasePlan   Phase = "plan"
	PhaseApply  Phase = "apply"
	PhaseVerify Phase = "verify"
)

// Status is what happened.
type Status string

const (
	StatusStart     Status = "start"     // work began
	StatusProgress  Status = "progress"  // a message while working (Detail), or Done/Total moved
	StatusOK        Status = "ok"        // finished and verified
	StatusChanged   Status = "changed"   // applied a change
	StatusUnchanged Status = "unchanged" // nothing to do: already in the wanted state
	StatusSkipped   Status = "skipped"   // not run (--skip, --only, or not needed)
	StatusWarn      Status = "warn"      // went on, but the user should know (Detail)
	StatusFailed    Status = "failed"    // Err says why; Hint names the fix
)

// Event is one thing that happened. Host is empty for server-side and
// whole-step events. Events carry no secrets.
type Event struct {
	Time   time.Time `json:"time"`
	Step   string    `json:"step"`            // stable kebab id, e.g. "push-cert"
	Title  string    `json:"title,omitempty"` // human title, e.g. "Step 3: copy the server PEM to the agents"
	Host   string    `json:"host,omitempty"`
	Phase  Phase     `json:"phase"`
	Status Status    `json:"status"`
	Detail string    `json:"detail,omitempty"`
	// Done and Total count hosts (or items) for progress bars.
	Done  int    `json:"done,omitempty"`
	Total int    `json:"total,omitempty"`
	Err   string `json:"error,omitempty"`
	Hint  string `json:"hint,omitempty"`
}

// Reporter receives events. Implementations must be safe for concurrent use:
// per-host work runs in parallel.
type Reporter interface {
	Report(Event)
}

// ReporterFunc adapts a function to Reporter.
type ReporterFunc func(Event)

func (f ReporterFunc) Report(e Event) { f(e) }
