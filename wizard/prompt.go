package wizard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh"
	"github.com/charmbracelet/x/term"
)

// Ask is one question a command asks outside the wizard's forms: a
// passphrase, a host key to trust, a plan to apply.
type Ask struct {
	Title string
	Desc  string
	// Default is the answer an empty line (or enter) keeps; for Confirm,
	// "yes" makes yes the default.
	Default string
	// Options are Select's choices.
	Options []string
	// Given says how to give the answer without a prompt (a flag, an
	// environment variable or an answers-file path); the no-prompt
	// Prompter's error names it.
	Given string
}

// Prompter is the one way commands ask a human. Three implementations:
// the TUI (huh), line prompts (huh's accessible mode: --accessible,
// TERM=dumb, or input that is not a terminal) and none (--no-input, no
// terminal), which answers every question with a MissingInputError naming
// how to give the answer instead.
//
// The TUI and line prompters are safe for concurrent use: questions from
// parallel work (host keys while dialling many hosts) are asked one at a
// time.
type Prompter interface {
	Input(ctx context.Context, a Ask) (string, error)
	Password(ctx context.Context, a Ask) ([]byte, error)
	Select(ctx context.Context, a Ask) (string, error)
	Confirm(ctx context.Context, a Ask) (bool, error)
}

// MissingInputError is the no-prompt Prompter's answer: a question that
// cannot be asked. It is bad input (exit 2): nothing was changed by it.
type MissingInputError struct {
	Title string
	Given string
}

func (e *MissingInputError) Error() string {
	return fmt.Sprintf("%s: not asked (--no-input, or no terminal)", strings.TrimSuffix(e.Title, "?"))
}

// BadInput marks the error as bad input for the exit code.
func (e *MissingInputError) BadInput() bool { return true }

// Hint names how to give the answer without a prompt.
func (e *MissingInputError) Hint() string {
	if e.Given == "" {
		return "run it at a terminal without --no-input to be asked"
	}
	return "give it with " + e.Given + ", or run at a terminal without --no-input to be asked"
}

// NewPrompter returns the Prompter for o: line prompts when o.Accessible,
// the TUI otherwise. noInput gives the Prompter that never asks.
func NewPrompter(o Options, noInput bool) Prompter {
	if noInput {
		return NoPrompter{}
	}
	if o.Accessible {
		return &linePrompter{o: o, lr: &lineReader{r: o.in()}}
	}
	return &tuiPrompter{o: o}
}

// NoPrompter never asks: every question is a MissingInputError.
type NoPrompter struct{}

func (NoPrompter) Input(_ context.Context, a Ask) (string, error) {
	return "", &MissingInputError{Title: a.Title, Given: a.Given}
}
func (NoPrompter) Password(_ context.Context, a Ask) ([]byte, error) {
	return nil, &MissingInputError{Title: a.Title, Given: a.Given}
}
func (NoPrompter) Select(_ context.Context, a Ask) (string, error) {
	return "", &MissingInputError{Title: a.Title, Given: a.Given}
}
func (NoPrompter) Confirm(_ context.Context, a Ask) (bool, error) {
	return false, &MissingInputError{Title: a.Title, Given: a.Given}
}

// tuiPrompter asks each question as a one-field huh form.
type tuiPrompter struct {
	mu sync.Mutex
	o  Options
}

func (p *tuiPrompter) run(ctx context.Context, fl huh.Field) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := huh.NewForm(huh.NewGroup(fl)).WithShowHelp(true).WithTheme(Theme()).
		WithInput(p.o.in()).WithOutput(p.o.out())
	if p.o.Width > 0 {
		f = f.WithWidth(p.o.Width)
	}
	err := f.RunWithContext(ctx)
	if errors.Is(err, huh.ErrUserAborted) || errors.Is(err, tea.ErrProgramKilled) || errors.Is(err, huh.ErrTimeout) {
		return ErrAborted
	}
	if err != nil {
		return err
	}
	return ctx.Err()
}

func (p *tuiPrompter) Input(ctx context.Context, a Ask) (string, error) {
	v := a.Default
	err := p.run(ctx, huh.NewInput().Title(a.Title).Description(a.Desc).Value(&v))
	return strings.TrimSpace(v), err
}

func (p *tuiPrompter) Password(ctx context.Context, a Ask) ([]byte, error) {
	var v string
	err := p.run(ctx, huh.NewInput().Title(a.Title).Description(a.Desc).EchoMode(huh.EchoModePassword).Value(&v))
	return []byte(v), err
}

func (p *tuiPrompter) Select(ctx context.Context, a Ask) (string, error) {
	if len(a.Options) == 0 {
		return "", errors.New("wizard: Select needs options")
	}
	v := a.Default
	err := p.run(ctx, huh.NewSelect[string]().Title(a.Title).Description(a.Desc).Options(huh.NewOptions(a.Options...)...).Value(&v))
	return v, err
}

func (p *tuiPrompter) Confirm(ctx context.Context, a Ask) (bool, error) {
	v := a.Default == "yes"
	err := p.run(ctx, huh.NewConfirm().Title(a.Title).Description(a.Desc).Value(&v))
	return v, err
}

// linePrompter asks with plain lines (huh's accessible fields), one line of
// input per answer: every question reads through the same lineReader, so
// none buffers an answer meant for the next.
type linePrompter struct {
	mu sync.Mutex
	o  Options
	lr *lineReader
}

func (p *linePrompter) tty() (uintptr, bool) {
	if f, ok := p.o.in().(interface{ Fd() uintptr }); ok && term.IsTerminal(f.Fd()) {
		return f.Fd(), true
	}
	return 0, false
}

// ask runs one accessible field; it fails when the input ends before an
// answer came.
func (p *linePrompter) ask(ctx context.Context, a Ask, fl huh.Field, r io.Reader) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.o.out()
	if a.Desc != "" {
		fmt.Fprintln(out, a.Desc)
	}
	if p.lr.eof {
		return fmt.Errorf("input ended before %q was answered", a.Title)
	}
	before := p.lr.n
	fl.Init()
	fl.Focus()
	if err := untilDone(ctx, p.o.in(), out, func() error { return fl.RunAccessible(out, r) }); err != nil {
		return err
	}
	if r == p.lr && p.lr.eof && p.lr.n == before {
		return fmt.Errorf("input ended before %q was answered", a.Title)
	}
	return ctx.Err()
}

func (p *linePrompter) Input(ctx context.Context, a Ask) (string, error) {
	v := a.Default
	t := a.Title
	if a.Default != "" {
		t += " [" + a.Default + "]"
	}
	err := p.ask(ctx, a, huh.NewInput().Title(t).Value(&v), p.lr)
	return strings.TrimSpace(v), err
}

func (p *linePrompter) Password(ctx context.Context, a Ask) ([]byte, error) {
	var v string
	if _, ok := p.tty(); ok {
		// read without echo, straight from the terminal
		err := p.ask(ctx, a, huh.NewInput().Title(a.Title).EchoMode(huh.EchoModePassword).Value(&v), p.o.in())
		return []byte(v), err
	}
	// Not a terminal: there is no echo to turn off; the line is read as is.
	err := p.ask(ctx, a, huh.NewInput().Title(a.Title+":").Value(&v), p.lr)
	return []byte(strings.TrimRight(v, "\r")), err
}

func (p *linePrompter) Select(ctx context.Context, a Ask) (string, error) {
	if len(a.Options) == 0 {
		return "", errors.New("wizard: Select needs options")
	}
	v := a.Default
	if !contains(a.Options, v) {
		v = a.Options[0]
	}
	err := p.ask(ctx, a, huh.NewSelect[string]().Title(a.Title).Options(huh.NewOptions(a.Options...)...).Value(&v), p.lr)
	return v, err
}

func (p *linePrompter) Confirm(ctx context.Context, a Ask) (bool, error) {
	v := a.Default == "yes"
	err := p.ask(ctx, a, huh.NewConfirm().Title(a.Title).Value(&v), p.lr)
	return v, err
}
