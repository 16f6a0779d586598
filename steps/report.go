package steps

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// TextReporter writes the story for humans (stderr): one line per event
// that matters, hosts and hints included. It is safe for concurrent use.
type TextReporter struct {
	W io.Writer
	// Verbose also prints start and progress events.
	Verbose bool

	mu   sync.Mutex
	last string // step of the last header printed
}

// NewTextReporter returns a TextReporter writing to w.
func NewTextReporter(w io.Writer) *TextReporter { return &TextReporter{W: w} }

func (r *TextReporter) Report(e Event) {
	mark := ""
	switch e.Status {
	case StatusOK:
		mark = "ok"
	case StatusChanged:
		mark = "changed"
	case StatusUnchanged:
		mark = "unchanged"
	case StatusSkipped:
		mark = "skipped"
	case StatusWarn:
		mark = "WARN"
	case StatusFailed:
		mark = "FAILED"
	default: // start, progress
		if !r.Verbose && (e.Detail == "" || e.Status == StatusStart) {
			return
		}
		mark = "..."
	}
	if e.Phase == PhasePlan && e.Status != StatusFailed && e.Status != StatusWarn && !r.Verbose {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	if e.Step != r.last {
		title := e.Title
		if title == "" {
			title = e.Step
		}
		fmt.Fprintf(&b, "==> %s\n", title)
		r.last = e.Step
	}
	who := e.Host
	if who == "" {
		who = "-"
	}
	// A failure without a detail puts its reason on the FAILED line
	// instead of leaving that line blank. A step-level failure (no host)
	// ends the run, and the command closes with the same error and hint
	// ("error: ...", "hint: ..."), so here it gets only its first line.
	detail := e.Detail
	errLines := []string(nil)
	if e.Err != "" {
		errLines = strings.Split(e.Err, "\n")
	}
	hintLine := e.Hint
	if e.Status == StatusFailed && detail == "" && len(errLines) > 0 {
		detail, errLines = errLines[0], errLines[1:]
		if e.Host == "" {
			errLines, hintLine = nil, ""
		}
	}
	fmt.Fprintf(&b, "  %-9s %-14s %s", mark, who, detail)
	if e.Total > 0 {
		fmt.Fprintf(&b, " [%d/%d]", e.Done, e.Total)
	}
	b.WriteByte('\n')
	for _, l := range errLines {
		fmt.Fprintf(&b, "            %s\n", l)
	}
	if hintLine != "" {
		fmt.Fprintf(&b, "            hint: %s\n", hintLine)
	}
	r.flush(&b)
}

func (r *TextReporter) flush(b *strings.Builder) {
	if b.Len() > 0 {
		_, _ = io.WriteString(r.W, b.String())
	}
}

// Collector keeps every event for the JSON result. It is safe for
// concurrent use.
type Collector struct {
	mu     sync.Mutex
	events []Event
}

func (c *Collector) Report(e Event) {
	c.mu.Lock()
	c.events = append(c.events, e)
	c.mu.Unlock()
}

// Events returns a copy of the events so far.
func (c *Collector) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// Tee sends every event to each reporter.
type Tee []Reporter

func (t Tee) Report(e Event) {
	for _, r := range t {
		if r != nil {
			r.Report(e)
		}
	}
}

// JSONResult is what --json prints on stdout: the plan, every event, the
// outcome per host and the exit code. It holds no secrets.
type JSONResult struct {
	Command  string       `json:"command"`
	DryRun   bool         `json:"dry_run,omitempty"`
	ExitCode int          `json:"exit_code"`
	Error    string       `json:"error,omitempty"`
	Hint     string       `json:"hint,omitempty"`
	Plan     Plan         `json:"plan"`
	Steps    []StepResult `json:"steps"`
	Hosts    []HostResult `json:"hosts"`
	// Counts counts the hosts by status.
	Counts map[string]int `json:"counts"`
	Events []Event        `json:"events"`
}

// WriteJSON writes v as indented JSON and a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
