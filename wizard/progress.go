package wizard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/bubbles/progress"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/cmtls/cmtls/steps"
)

// EventMsg carries one runner event into the progress view.
type EventMsg steps.Event

// DoneMsg tells the progress view the run returned Err.
type DoneMsg struct{ Err error }

// maxHostLines bounds the per-host lines of one step; past it the view
// shows the hosts still working or failed and counts the rest.
const maxHostLines = 8

var (
	styleOK    = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
	styleFail  = lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true)
	styleWarn  = lipgloss.NewStyle().Foreground(lipgloss.Color("3"))
	styleDim   = lipgloss.NewStyle().Faint(true)
	styleTitle = lipgloss.NewStyle().Bold(true)
)

// StepState is what the view knows of one step.
type StepState struct {
	ID, Title   string
	Phase       steps.Phase
	Status      steps.Status // "" until the first event; start/progress while working
	Detail      string
	Done, Total int
	Err, Hint   string
	Hosts       []*HostState
	byHost      map[string]*HostState
	// Verified is set by the step's verify/ok event: only then is the
	// step ticked (a plan or an apply alone proves nothing).
	Verified bool
	// base counts the hosts of earlier batches (the canaries), so the bar
	// counts every host of the step: restart-agents 3/3 for 3 agents.
	base, lastDone, lastTotal int
}

// HostState is what the view knows of one host within a step.
type HostState struct {
	Name      string
	Status    steps.Status
	Detail    string
	Err, Hint string
}

// ProgressModel is the live view of a run: a line per step with a spinner
// while it works, a bar and a line per host for fan-out steps, warnings and
// failures with their hints, and a summary when the run returns.
type ProgressModel struct {
	Title string

	Steps    []*StepState
	byID     map[string]*StepState
	Warnings []steps.Event
	Failures []steps.Event

	// Finished is set by DoneMsg; Err is the run's error.
	Finished bool
	Err      error
	// Cancelled is set when the user pressed Ctrl-C.
	Cancelled bool

	cancel  context.CancelFunc
	spinner spinner.Model
	bar     progress.Model
	width   int
	height  int
	// plan is the plan screen shown while the run waits for a yes or no
	// (ConfirmPlan called from inside run); req is who waits.
	plan *PlanModel
	req  *planRequest
	// printAfter: RunWithProgress prints the final view after the program,
	// as plain lines, so that all of it reaches the scrollback.
	printAfter bool
	start      time.Time
	elapsed    time.Duration
}

// NewProgressModel returns the view of a run titled title. cancel is called
// on Ctrl-C (it should cancel the run's context); it may be nil.
func NewProgressModel(title string, cancel context.CancelFunc) *ProgressModel {
	return &ProgressModel{
		Title:   title,
		byID:    map[string]*StepState{},
		cancel:  cancel,
		spinner: spinner.New(spinner.WithSpinner(spinner.MiniDot)),
		bar:     progress.New(progress.WithSolidFill("6"), progress.WithWidth(40)),
		width:   80,
		height:  24,
		start:   time.Now(),
	}
}

// SetWidth fixes the width the view renders for.
func (m *ProgressModel) SetWidth(w int) {
	if w > 0 {
		m.width = w
		m.bar.Width = min(40, max(10, w-20))
	}
}

func (m *ProgressModel) Init() tea.Cmd { return m.spinner.Tick }

func (m *ProgressModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case EventMsg:
		m.Apply(steps.Event(msg))
	case DoneMsg:
		if m.req != nil {
			m.req.reply <- planReply{err: errors.New("the run ended before the plan was answered")}
			m.req, m.plan = nil, nil
		}
		m.Finished, m.Err = true, msg.Err
		m.elapsed = time.Since(m.start)
		return m, tea.Quit
	case tea.WindowSizeMsg:
		m.SetWidth(msg.Width)
		if msg.Height > 0 {
			m.height = msg.Height
		}
		if m.plan != nil {
			m.plan.Update(msg)
		}
	case planRequest:
		if m.req != nil {
			msg.reply <- planReply{err: errors.New("a plan is already waiting for an answer")}
			return m, nil
		}
		r := msg
		m.req, m.plan = &r, NewPlanModel(msg.title, msg.plan, m.width, m.height)
		// The planning's warnings (e.g. a server host only this machine
		// can resolve) belong before the answer.
		var ws []string
		for _, w := range m.Warnings {
			ws = append(ws, where(w)+w.Detail)
		}
		m.plan.SetWarnings(ws)
		return m, tea.EnterAltScreen
	case tea.KeyMsg:
		if m.plan != nil {
			m.plan.Update(msg) // its tea.Quit is for a program of its own: dropped
			if !m.plan.Decided {
				return m, nil
			}
			r := planReply{ok: m.plan.Apply}
			if m.plan.Aborted {
				r.err = ErrAborted
				m.Cancelled = true
				if m.cancel != nil {
					m.cancel()
				}
			}
			m.req.reply <- r
			m.req, m.plan = nil, nil
			return m, tea.ExitAltScreen
		}
		if msg.Type == tea.KeyCtrlC && !m.Cancelled {
			// The run ends itself on the cancelled context; the view
			// stays until it has (DoneMsg), so nothing is left half-shown.
			m.Cancelled = true
			if m.cancel != nil {
				m.cancel()
			}
		}
	case spinner.TickMsg:
		if m.Finished {
			return m, nil
		}
		var cmd tea.Cmd
		m.spinner, cmd = m.spinner.Update(msg)
		return m, cmd
	}
	return m, nil
}

// maxWarnLines bounds the warnings shown while running (the summary is
// printed after; every warning is also in the run's result).
const maxWarnLines = 5

// done reports a step's final status other than failed.
func done(s steps.Status) bool {
	return s == steps.StatusOK || s == steps.StatusChanged || s == steps.StatusUnchanged || s == steps.StatusSkipped
}

func working(s steps.Status) bool { return s == steps.StatusStart || s == steps.StatusProgress }

// Apply records one event.
func (m *ProgressModel) Apply(e steps.Event) {
	s := m.byID[e.Step]
	if s == nil {
		s = &StepState{ID: e.Step, Title: e.Step, byHost: map[string]*HostState{}}
		m.byID[e.Step] = s
		m.Steps = append(m.Steps, s)
	}
	if e.Title != "" {
		s.Title = e.Title
	}
	if e.Total > 0 {
		if s.lastTotal > 0 && (e.Total != s.lastTotal || e.Done < s.lastDone) {
			// a new batch (the rest after the canaries)
			s.base += s.lastDone
		}
		s.lastDone, s.lastTotal = e.Done, e.Total
		s.Done, s.Total = s.base+e.Done, s.base+e.Total
	}
	switch e.Status {
	case steps.StatusWarn:
		m.Warnings = append(m.Warnings, e)
	case steps.StatusFailed:
		m.Failures = append(m.Failures, e)
	}
	if e.Host == "" {
		s.Phase = e.Phase
		switch e.Status {
		case steps.StatusWarn:
			// A warning does not change how the step stands.
		case steps.StatusProgress:
			if e.Detail != "" {
				s.Detail = e.Detail
			}
			if s.Status == "" {
				s.Status = steps.StatusStart
			}
		default:
			m.stepStatus(s, e)
		}
		return
	}
	h := s.byHost[e.Host]
	if h == nil {
		h = &HostState{Name: e.Host}
		s.byHost[e.Host] = h
		s.Hosts = append(s.Hosts, h)
	}
	if (s.Status == "" || s.Status == statusPlanned) && e.Phase != steps.PhasePlan {
		s.Status, s.Phase, s.Detail = steps.StatusStart, e.Phase, ""
	}
	switch e.Status {
	case steps.StatusWarn:
		if e.Detail != "" {
			h.Detail = e.Detail
		}
	case steps.StatusProgress:
		if e.Detail != "" {
			h.Detail = e.Detail
		}
		if h.Status == "" {
			h.Status = steps.StatusStart
		}
	default:
		h.Status, h.Detail = e.Status, e.Detail
		if e.Status == steps.StatusFailed {
			h.Err, h.Hint = e.Err, e.Hint
		}
	}
}

// stepStatus records a step-level outcome. Only a verify/ok event ticks a
// step: a plan's "changed" is a plan, and an apply's "changed" is not yet
// proven; both show as the step working or waiting.
func (m *ProgressModel) stepStatus(s *StepState, e steps.Event) {
	switch {
	case e.Status == steps.StatusFailed:
		s.Status, s.Detail, s.Err, s.Hint = e.Status, "", e.Err, e.Hint
	case e.Status == steps.StatusSkipped:
		s.Status, s.Detail = e.Status, e.Detail
	case e.Status == steps.StatusStart:
		s.Status, s.Detail = e.Status, ""
	case e.Phase == steps.PhasePlan:
		// planned: waits for its turn
		s.Status, s.Detail = statusPlanned, e.Detail
	case e.Phase == steps.PhaseVerify && e.Status == steps.StatusOK:
		s.Status, s.Detail, s.Verified = steps.StatusOK, e.Detail, true
		if s.Detail == "verified" {
			s.Detail = "" // the word says it
		}
	case e.Phase == steps.PhaseApply:
		// applied; its Verify comes next
		s.Status, s.Detail = steps.StatusProgress, e.Detail
	default:
		s.Status, s.Detail = e.Status, e.Detail
	}
}

// statusPlanned is the view's own state of a step whose plan is made and
// whose turn has not come.
const statusPlanned steps.Status = "planned"

func (m *ProgressModel) icon(s steps.Status) string {
	switch s {
	case steps.StatusOK, steps.StatusChanged, steps.StatusUnchanged:
		return styleOK.Render("✓")
	case steps.StatusFailed:
		return styleFail.Render("✗")
	case steps.StatusSkipped:
		return styleDim.Render("-")
	case steps.StatusWarn:
		return styleWarn.Render("!")
	case "", statusPlanned:
		return styleDim.Render("·")
	}
	if m.Finished {
		return styleWarn.Render("?")
	}
	return m.spinner.View()
}

func (m *ProgressModel) word(s steps.Status) string {
	switch s {
	case steps.StatusStart, steps.StatusProgress:
		if m.Finished {
			return "did not finish"
		}
		return "working"
	case "":
		return "waiting"
	case statusPlanned:
		if m.Finished {
			return "not run"
		}
		return "planned"
	case steps.StatusOK:
		return "verified"
	}
	return string(s)
}

// wrap word-wraps plain text to the screen: the first line starts with
// prefix, the others with as many spaces (errors and fixes are shown
// whole: they are what the user acts on).
func (m *ProgressModel) wrap(prefix, s string, style lipgloss.Style) string {
	indent := lipgloss.Width(prefix)
	w := max(20, m.width-indent)
	body := lipgloss.NewStyle().Width(w).Render(strings.ReplaceAll(s, "\n", " "))
	var b strings.Builder
	for i, l := range strings.Split(body, "\n") {
		l = strings.TrimRight(l, " ")
		if l == "" {
			continue
		}
		if i == 0 {
			b.WriteString(prefix)
		} else {
			b.WriteString(strings.Repeat(" ", indent))
		}
		b.WriteString(style.Render(l) + "\n")
	}
	return b.String()
}

var stylePlain = lipgloss.NewStyle()

// View renders the steps, then warnings, then (when finished) the summary;
// or the plan screen while a plan waits for an answer.
func (m *ProgressModel) View() string {
	if m.plan != nil {
		return m.plan.View()
	}
	if m.Finished && m.printAfter {
		// the final screen is printed whole after the program ends: a
		// frame taller than the terminal would lose its top lines
		return ""
	}
	// A frame taller than the terminal loses its top lines: fold host
	// lines, bars of finished steps and older warnings until it fits.
	v := m.render(fullView)
	for _, l := range []viewLimits{{hosts: 3, warns: 2, doneBars: true}, {hosts: 1, warns: 1}, {warns: 1}, {warns: 1, foldDone: true}} {
		if strings.Count(v, "\n") < m.height {
			break
		}
		v = m.render(l)
	}
	return v
}

// viewLimits bound the lines of the live view.
type viewLimits struct {
	hosts, warns int  // host lines per step, warnings
	doneBars     bool // bars of finished steps
	foldDone     bool // the verified steps as one line
}

var fullView = viewLimits{hosts: maxHostLines, warns: maxWarnLines, doneBars: true}

// render is the view of the steps, warnings and, once finished, the
// summary, within lim.
func (m *ProgressModel) render(lim viewLimits) string {
	var b strings.Builder
	b.WriteString(styleTitle.Render(m.Title) + "\n\n")
	var folded []string
	for _, s := range m.Steps {
		if lim.foldDone && s.Verified && s.Err == "" {
			folded = append(folded, s.ID)
		}
	}
	if len(folded) > 0 {
		b.WriteString(m.wrap(m.icon(steps.StatusOK)+" ", fmt.Sprintf("%d steps verified: %s", len(folded), strings.Join(folded, ", ")), stylePlain))
	}
	for _, s := range m.Steps {
		if lim.foldDone && s.Verified && s.Err == "" {
			continue
		}
		line := s.Title + "  " + m.word(s.Status)
		if s.Phase != "" && working(s.Status) {
			line += " (" + string(s.Phase) + ")"
		}
		if s.Detail != "" {
			line += ": " + s.Detail
		}
		b.WriteString(m.wrap(m.icon(s.Status)+" ", line, stylePlain))
		if s.Total > 0 && (lim.doneBars || !done(s.Status)) {
			pct := float64(s.Done) / float64(s.Total)
			b.WriteString(fmt.Sprintf("    %s %d/%d hosts\n", m.bar.ViewAs(pct), s.Done, s.Total))
		}
		hosts := s.Hosts
		hidden := 0
		if done(s.Status) {
			// A finished step folds to its line and bar; only hosts that
			// failed stay, with their fixes.
			var keep []*HostState
			for _, h := range hosts {
				if h.Status == steps.StatusFailed {
					keep = append(keep, h)
				}
			}
			hosts = keep
		}
		if len(hosts) > lim.hosts {
			var keep []*HostState
			for _, h := range hosts {
				if h.Status == steps.StatusFailed || working(h.Status) {
					keep = append(keep, h)
				}
			}
			if len(keep) > lim.hosts {
				keep = keep[:lim.hosts]
			}
			hidden = len(hosts) - len(keep)
			hosts = keep
		}
		for _, h := range hosts {
			line := h.Name + "  " + m.word(h.Status)
			if h.Detail != "" && h.Err == "" {
				line += ": " + h.Detail
			}
			b.WriteString(m.wrap("    "+m.icon(h.Status)+" ", line, stylePlain))
			if h.Err != "" {
				b.WriteString(m.wrap("        ", h.Err, styleFail))
			}
			if h.Hint != "" {
				b.WriteString(m.wrap("        fix: ", h.Hint, stylePlain))
			}
		}
		if hidden > 0 {
			b.WriteString(styleDim.Render(fmt.Sprintf("    … %d more hosts done", hidden)) + "\n")
		}
		if s.Err != "" {
			b.WriteString(m.wrap("    error: ", s.Err, styleFail))
		}
		if s.Hint != "" {
			b.WriteString(m.wrap("    fix: ", s.Hint, stylePlain))
		}
	}
	if len(m.Warnings) > 0 {
		b.WriteString("\n")
		ws := m.Warnings
		if len(ws) > lim.warns {
			b.WriteString(styleDim.Render(fmt.Sprintf("(%d earlier warnings)", len(ws)-lim.warns)) + "\n")
			ws = ws[len(ws)-lim.warns:]
		}
		for _, w := range ws {
			b.WriteString(m.wrap(styleWarn.Render("! "), where(w)+w.Detail, stylePlain))
		}
	}
	switch {
	case m.Finished:
		b.WriteString("\n" + m.Summary())
	case m.Cancelled:
		b.WriteString("\n" + styleWarn.Render("Cancelling: waiting for the running work to stop…") + "\n")
	default:
		b.WriteString("\n" + styleDim.Render("ctrl+c cancels") + "\n")
	}
	return b.String()
}

func where(e steps.Event) string {
	if e.Host != "" {
		return e.Step + " " + e.Host + ": "
	}
	return e.Step + ": "
}

// Summary is the closing screen: what each step ended as, every failure
// with its fix, and the outcome.
func (m *ProgressModel) Summary() string {
	var b strings.Builder
	counts := map[string]int{}
	var order []string
	for _, s := range m.Steps {
		w := m.word(s.Status)
		if counts[w] == 0 {
			order = append(order, w)
		}
		counts[w]++
	}
	var parts []string
	for _, w := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[w], w))
	}
	b.WriteString(styleTitle.Render("Summary") + fmt.Sprintf(": %d steps", len(m.Steps)))
	if len(parts) > 0 {
		b.WriteString(" (" + strings.Join(parts, ", ") + ")")
	}
	b.WriteString(fmt.Sprintf(" in %s\n", m.elapsed.Round(100*time.Millisecond)))
	switch {
	case m.Cancelled:
		b.WriteString(styleWarn.Render("Cancelled.") + " Run the same command again to finish; done steps are skipped.\n")
	case m.Err != nil && m.shown(m.Err):
		// the failure and its fix are on screen above, once
		b.WriteString(styleFail.Render("Failed") + ": see the step marked ✗ above.\n")
	case m.Err != nil:
		b.WriteString(m.wrap(styleFail.Render("Failed: "), m.Err.Error(), stylePlain))
		if h := findHint(m.Err); h != "" {
			b.WriteString(m.wrap("  fix: ", h, stylePlain))
		}
	default:
		b.WriteString(styleOK.Render("Done."))
		all := len(m.Steps) > 0
		for _, s := range m.Steps {
			all = all && (s.Verified || s.Status == steps.StatusSkipped)
		}
		if all {
			b.WriteString(" Every step verified.")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// shown reports whether err's message is already on screen (a failure
// event of a step or host carried it).
func (m *ProgressModel) shown(err error) bool {
	msg := err.Error()
	for _, f := range m.Failures {
		if f.Err != "" && strings.Contains(msg, f.Err) {
			return true
		}
	}
	return false
}

// findHint is the first hint in err's chain.
func findHint(err error) string {
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return h.Hint()
	}
	return ""
}

// ShownError is a run's error the progress view has already shown with its
// fix; the caller prints no second copy (Shown), and still takes the exit
// code from the error it wraps.
type ShownError struct{ Err error }

func (e *ShownError) Error() string { return e.Err.Error() }
func (e *ShownError) Unwrap() error { return e.Err }

// Shown marks the error as already on screen.
func (e *ShownError) Shown() bool { return true }

// plainReporter writes events as lines: the accessible mode of the
// progress view, and its fallback when the TUI cannot run.
type plainReporter struct {
	mu sync.Mutex
	w  io.Writer
	m  *ProgressModel
}

func (p *plainReporter) Report(e steps.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m.Apply(e)
	if e.Status == steps.StatusProgress && e.Detail == "" {
		return // only a counter moved
	}
	line := fmt.Sprintf("%-9s %s", e.Status, e.Step)
	if e.Host != "" {
		line += " " + e.Host
	}
	if e.Title != "" && e.Host == "" && e.Status == steps.StatusStart {
		line += " (" + e.Title + ")"
	}
	if e.Total > 0 {
		line += fmt.Sprintf(" [%d/%d]", e.Done, e.Total)
	}
	if e.Detail != "" {
		line += ": " + e.Detail
	}
	if e.Err != "" {
		line += ": " + e.Err
	}
	fmt.Fprintln(p.w, line)
	if e.Hint != "" {
		fmt.Fprintln(p.w, "          fix: "+e.Hint)
	}
}

// RunWithProgress runs run in a goroutine and shows its events live: per
// step (name, status, spinner), per host with a bar for fan-out steps,
// warnings and failures with their hints, then a summary. It returns run's
// error. Ctrl-C cancels run's context; the view waits for run to end and
// the result wraps context.Canceled. In accessible mode, or when the TUI
// cannot start, events are printed as lines instead.
func RunWithProgress(ctx context.Context, o Options, title string, run func(ctx context.Context, r steps.Reporter) error) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := o.out()
	m := NewProgressModel(title, cancel)
	if o.Width > 0 {
		m.SetWidth(o.Width)
	}
	plain := &plainReporter{w: out, m: m}
	if o.Accessible {
		fmt.Fprintln(out, title)
		err := run(rctx, plain)
		m.Finished, m.Err, m.elapsed = true, err, time.Since(m.start)
		fmt.Fprint(out, "\n"+m.Summary())
		return err
	}

	opts := []tea.ProgramOption{tea.WithOutput(out), tea.WithInput(o.in()), tea.WithContext(ctx), tea.WithoutSignalHandler()}
	m.printAfter = true
	p := tea.NewProgram(m, opts...)

	sess := &session{p: p, tui: true, ended: make(chan struct{}), o: o}
	rep := steps.ReporterFunc(func(e steps.Event) {
		sess.mu.Lock()
		defer sess.mu.Unlock()
		if sess.tui {
			p.Send(EventMsg(e))
			return
		}
		plain.Report(e)
	})
	res := make(chan error, 1)
	go func() {
		err := run(context.WithValue(rctx, sessionKey{}, sess), rep)
		res <- err
		p.Send(DoneMsg{Err: err})
	}()
	_, perr := p.Run()
	sess.mu.Lock()
	sess.tui = false
	sess.mu.Unlock()
	close(sess.ended)
	if perr != nil && !errors.Is(perr, tea.ErrProgramKilled) {
		fmt.Fprintf(out, "cmtls: the progress view stopped (%v); showing events as lines\n", perr)
	}
	err := <-res
	if !m.Finished {
		// The view ended before the run (it could not start, or the
		// parent context was cancelled): close with the plain summary.
		m.Finished, m.Err, m.elapsed = true, err, time.Since(m.start)
		fmt.Fprint(out, "\n"+m.Summary())
	} else {
		fmt.Fprint(out, m.render(fullView))
	}
	if (m.Cancelled || ctx.Err() != nil) && !errors.Is(err, context.Canceled) {
		return errors.Join(err, context.Canceled)
	}
	if err != nil && !m.Cancelled && m.shown(err) {
		return &ShownError{Err: err}
	}
	return err
}

// planRequest asks the running progress view to show a plan and answer
// on reply.
type planRequest struct {
	title, plan string
	reply       chan planReply
}

type planReply struct {
	ok  bool
	err error
}

// session is a running progress view, found through the context run gets,
// so that ConfirmPlan called inside run shows the plan in the same program
// (two programs cannot share the terminal).
type session struct {
	mu    sync.Mutex
	p     *tea.Program
	tui   bool
	ended chan struct{}
	o     Options
}

type sessionKey struct{}

// confirm shows the plan in the running view and waits for the answer. ok
// is false when the view is gone (the caller then asks on its own).
func (s *session) confirm(ctx context.Context, title, plan string) (apply, ok bool, err error) {
	s.mu.Lock()
	live := s.tui
	s.mu.Unlock()
	if !live {
		return false, false, nil
	}
	reply := make(chan planReply, 1)
	s.p.Send(planRequest{title: title, plan: plan, reply: reply})
	select {
	case r := <-reply:
		return r.ok, true, r.err
	case <-s.ended:
		return false, false, nil
	case <-ctx.Done():
		return false, true, ctx.Err()
	}
}
