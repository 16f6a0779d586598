package wizard

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

// PlanModel shows a plan (the diff of what will change) on its own screen,
// scrollable, and asks whether to apply it: y applies, n / q / esc does not,
// ctrl+c aborts.
type PlanModel struct {
	Title string
	// Decided is set once the user answered; Apply is the answer.
	Decided, Apply, Aborted bool
	// Warnings are shown between the plan and the question, so that they
	// are read before the answer (not after it).
	Warnings []string

	plan   string
	vp     viewport.Model
	width  int
	height int
}

// planChrome is the lines around the plan: title, blank, blank, question.
const planChrome = 4

// NewPlanModel returns the plan screen for a width x height terminal (0:
// 80x24 until the terminal says).
func NewPlanModel(title, plan string, width, height int) *PlanModel {
	if width <= 0 {
		width = 80
	}
	if height <= 0 {
		height = 24
	}
	m := &PlanModel{Title: title, plan: plan}
	m.resize(width, height)
	return m
}

func (m *PlanModel) resize(w, h int) {
	m.width, m.height = w, h
	body := wrapText(strings.TrimRight(m.plan, "\n"), w)
	lines := strings.Count(body, "\n") + 1
	warn := m.warnText()
	chrome := planChrome
	if warn != "" {
		chrome += strings.Count(warn, "\n") + 1
	}
	vh := min(lines, max(3, h-chrome))
	m.vp = viewport.New(w, vh)
	m.vp.SetContent(body)
}

// SetWarnings sets the warnings shown above the question.
func (m *PlanModel) SetWarnings(ws []string) {
	m.Warnings = ws
	m.resize(m.width, m.height)
}

func (m *PlanModel) warnText() string {
	if len(m.Warnings) == 0 {
		return ""
	}
	var b strings.Builder
	for _, w := range m.Warnings {
		b.WriteString(wrapText("! "+w, m.width) + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// wrapText wraps every line to width columns, so nothing is cut at the
// screen's edge: words at blanks, and a long path or value anywhere (at a
// "/" when it can). Continuation lines keep the line's indent plus two.
func wrapText(s string, width int) string {
	if width < 20 {
		width = 20
	}
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if ansi.StringWidth(line) <= width {
			out = append(out, line)
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if indent > width/2 {
			indent = width / 2
		}
		cont := strings.Repeat(" ", indent+2)
		body := ansi.Wrap(strings.TrimLeft(line, " "), width-len(cont), "/:")
		for i, part := range strings.Split(body, "\n") {
			part = strings.TrimRight(strings.TrimLeft(part, " "), " ")
			if i == 0 {
				out = append(out, strings.Repeat(" ", indent)+part)
			} else if part != "" {
				out = append(out, cont+part)
			}
		}
	}
	return strings.Join(out, "\n")
}

func (m *PlanModel) Init() tea.Cmd { return nil }

func (m *PlanModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		off := m.vp.YOffset
		m.resize(msg.Width, msg.Height)
		m.vp.SetYOffset(off)
		return m, nil
	case tea.KeyMsg:
		switch msg.String() {
		case "y", "Y":
			m.Decided, m.Apply = true, true
			return m, tea.Quit
		case "n", "N", "q", "esc":
			m.Decided = true
			return m, tea.Quit
		case "ctrl+c":
			m.Decided, m.Aborted = true, true
			return m, tea.Quit
		}
	}
	var cmd tea.Cmd
	m.vp, cmd = m.vp.Update(msg)
	return m, cmd
}

func (m *PlanModel) View() string {
	var b strings.Builder
	b.WriteString(styleTitle.Render(m.Title) + "\n")
	b.WriteString(m.vp.View() + "\n")
	if w := m.warnText(); w != "" {
		b.WriteString(styleWarn.Render(w) + "\n")
	}
	scroll := ""
	if !(m.vp.AtTop() && m.vp.AtBottom()) {
		scroll = fmt.Sprintf(" (↑/↓ scroll, %d%%)", int(m.vp.ScrollPercent()*100))
	}
	switch {
	case m.Decided && m.Apply:
		b.WriteString("\nApplying.\n")
	case m.Decided:
		b.WriteString("\nNothing changed.\n")
	default:
		b.WriteString("\n" + styleTitle.Render("Apply these changes? [y/N]") + styleDim.Render(scroll) + "\n")
	}
	return b.String()
}

// ConfirmPlan shows the plan text on its own screen and asks whether to
// apply it. It returns ErrAborted on ctrl+c. In accessible mode it prints
// the plan and reads one line (y or yes applies). Called with the context
// RunWithProgress gives its run, it shows the plan inside the progress view
// (one program owns the terminal) and the run goes on after the answer.
func ConfirmPlan(ctx context.Context, title, plan string, o Options) (bool, error) {
	if s, _ := ctx.Value(sessionKey{}).(*session); s != nil && !o.Accessible {
		if apply, ok, err := s.confirm(ctx, title, plan); ok {
			return apply, err
		}
	}
	if o.Accessible {
		out := o.out()
		fmt.Fprintf(out, "%s\n%s\n", title, strings.TrimRight(plan, "\n"))
		fmt.Fprint(out, "Apply these changes? [y/N]: ")
		var line string
		err := untilDone(ctx, o.in(), out, func() error {
			var err error
			line, err = bufio.NewReader(&lineReader{r: o.in()}).ReadString('\n')
			if err != nil && line == "" {
				return fmt.Errorf("read the answer: %w", err)
			}
			return nil
		})
		if err != nil {
			return false, err
		}
		fmt.Fprintln(out)
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return true, nil
		}
		return false, nil
	}
	m := NewPlanModel(title, plan, o.Width, o.Height)
	opts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithInput(o.in()), tea.WithOutput(o.out())}
	if _, err := tea.NewProgram(m, opts...).Run(); err != nil {
		if errors.Is(err, tea.ErrProgramKilled) || errors.Is(err, tea.ErrInterrupted) {
			return false, ErrAborted
		}
		return false, fmt.Errorf("plan screen: %w", err)
	}
	if m.Aborted {
		return false, ErrAborted
	}
	return m.Apply, nil
}
