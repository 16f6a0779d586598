package steps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// Step is one unit of a procedure. The runner calls Plan for every selected
// step before anything changes, then Apply (only when the plan is not
// empty) and Verify for each in order.
type Step interface {
	// Name is a stable kebab id used in events, JSON and --only/--skip.
	Name() string
	// Title is the human title ("Step 3: copy the server PEM to the agents").
	Title() string
	// Plan is read-only: it says what Apply would change. An empty Change
	// means "already done".
	Plan(ctx context.Context, env *Env) (Change, error)
	// Apply makes the planned change. It is idempotent, backs up what it
	// edits and writes atomically.
	Apply(ctx context.Context, env *Env) error
	// Verify is read-only and proves the outcome.
	Verify(ctx context.Context, env *Env) error
}

// Item kinds of a Change.
const (
	KindFile     = "file"     // a file written (Target = path)
	KindINI      = "ini"      // a config.ini key (Target = "path [Section] key")
	KindSetting  = "setting"  // a CM setting through the API (Target = name)
	KindKeystore = "keystore" // a keystore entry (Target = "path alias")
	KindService  = "service"  // a restart (Target = the command or service)
	KindCheck    = "check"    // something proven after the change (Target = what)
)

// Item is one thing a step would change. Old and New are printable and
// never hold a secret (secrets show as "[redacted]").
type Item struct {
	Host   string `json:"host,omitempty"` // "" for the server / the API
	Kind   string `json:"kind"`
	Target string `json:"target"`
	Old    string `json:"old,omitempty"`
	New    string `json:"new,omitempty"`
	Note   string `json:"note,omitempty"`
}

// Change is what a step's Plan found to do.
type Change struct {
	Step  string `json:"step"`
	Title string `json:"title"`
	Items []Item `json:"items"`
	// Notes are remarks that are not changes (e.g. "3 hosts already done").
	Notes []string `json:"notes,omitempty"`
}

// Empty reports whether the step has nothing to do.
func (c Change) Empty() bool { return len(c.Items) == 0 }

// Add appends an item.
func (c *Change) Add(it Item) { c.Items = append(c.Items, it) }

// Hosts returns the distinct hosts the change touches, in order.
func (c Change) Hosts() []string {
	var out []string
	seen := map[string]bool{}
	for _, it := range c.Items {
		if it.Host != "" && !seen[it.Host] {
			seen[it.Host] = true
			out = append(out, it.Host)
		}
	}
	return out
}

// Plan is the whole run's plan: one Change per selected step.
type Plan []Change

// Empty reports whether no step has anything to do.
func (p Plan) Empty() bool {
	for _, c := range p {
		if !c.Empty() {
			return false
		}
	}
	return true
}

// WriteText prints the plan for humans (--dry-run, the confirmation
// screen): every file, key, setting and service that would change, with old
// and new values.
func (p Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	width := len("server")
	for _, c := range p {
		for _, it := range c.Items {
			width = max(width, len(it.Host))
		}
	}
	for _, c := range p {
		fmt.Fprintf(&b, "%s  [%s]\n", c.Title, c.Step)
		if c.Empty() {
			b.WriteString("    nothing to do\n")
		}
		for _, it := range c.Items {
			host := it.Host
			if host == "" {
				host = "server"
			}
			fmt.Fprintf(&b, "    %-*s  %-8s %s", width, host, it.Kind, it.Target)
			switch {
			case it.Old != "" || it.New != "":
				fmt.Fprintf(&b, ": %s -> %s", orNone(it.Old), orNone(it.New))
			}
			if it.Note != "" {
				fmt.Fprintf(&b, "  (%s)", it.Note)
			}
			b.WriteByte('\n')
		}
		for _, n := range c.Notes {
			fmt.Fprintf(&b, "    note: %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// shortSum is the first 16 hex digits of data's SHA-256 (enough to tell
// files apart in a plan).
func shortSum(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:8])
}

// TLSSteps returns Steps 1-7 of the TLS procedure in order.
func TLSSteps() []Step {
	return []Step{EnableAgentTLS{}, ServerCert{}, &PushCert{}, RestartServer{}, RestartAgents{}, VerifyHeartbeats{}, &ConsoleTLS{}}
}
