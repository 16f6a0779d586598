package cmd

import (
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/wizard"
)

// Factory carries what commands reach for at the edges: the three streams,
// the environment, the clock, whether a human is at a terminal, the global
// flags, and constructors for the Prompter, the SSH dialer and the CM API
// client. Tests build their own (gh's cmdutil.Factory).
type Factory struct {
	In     io.Reader
	Out    io.Writer // results: --json, the final summary
	ErrOut io.Writer // the story: progress, prompts, warnings, errors; io.Discard-like under -q
	// LookupEnv reads the environment; tests pass a map's lookup.
	LookupEnv func(string) (string, bool)
	// Now is the clock.
	Now func() time.Time
	// IsTerminal reports whether stdin and stdout are both terminals, the
	// condition for the interactive TUI (gh's CanPrompt).
	IsTerminal func() bool
	// Version is the build's version string.
	Version string

	// Global flags, set by the root command before any command runs.
	NoInput    bool // --no-input or CMTLS_NO_INPUT=1: never ask
	Accessible bool // --accessible or TERM=dumb: line prompts, no TUI
	NoColor    bool // --no-color or NO_COLOR: no colours
	Quiet      bool // -q: errors only on stderr
	Verbose    bool // -v: every event
	// Limit is --limit: an Ansible host pattern over the agent hosts.
	Limit string

	// Prompter returns the one way to ask a human (nil: from the flags).
	Prompter func() wizard.Prompter
	// NewDialer builds the SSH dialer (nil: remote.NewDialer).
	NewDialer func(remote.Options) (*remote.Dialer, error)
	// NewAPI builds a CM API client (nil: cmapi.New).
	NewAPI func(baseURL, user string, password []byte, opts ...cmapi.Option) (*cmapi.Client, error)

	// errOut is the real stderr: errors and prompts still reach it under -q.
	errOut io.Writer
	// prompter is the default Prompter, built once (it owns the input).
	prompter wizard.Prompter
	// argv is the command line Run was given (for the change record).
	argv []string
}

// Getenv returns the value of an environment variable or "".
func (f *Factory) Getenv(name string) string {
	if f.LookupEnv == nil {
		return ""
	}
	v, _ := f.LookupEnv(name)
	return v
}

// CanPrompt reports whether a human can be asked: both ends are terminals
// and neither --no-input nor CMTLS_NO_INPUT=1 said otherwise.
func (f *Factory) CanPrompt() bool {
	if f.NoInput || f.Getenv("CMTLS_NO_INPUT") == "1" {
		return false
	}
	return f.IsTerminal != nil && f.IsTerminal()
}

// Stderr is where prompts, the TUI and errors go: stderr even under -q.
func (f *Factory) Stderr() io.Writer {
	if f.errOut != nil {
		return f.errOut
	}
	return f.ErrOut
}

// WizardOptions is how the wizard and the Prompter meet the terminal:
// line prompts under --accessible or TERM=dumb.
func (f *Factory) WizardOptions() wizard.Options {
	return wizard.Options{In: f.In, Out: f.Stderr(), Accessible: f.Accessible || f.Getenv("TERM") == "dumb"}
}

// Ask returns the Prompter: the given one, else the TUI at a terminal, line
// prompts in accessible mode or when stdin is not a real terminal (tests,
// a pipe while stdout is a terminal), and the no-prompt one under
// --no-input or without a terminal.
func (f *Factory) Ask() wizard.Prompter {
	if f.Prompter != nil {
		return f.Prompter()
	}
	if f.prompter == nil {
		o := f.WizardOptions()
		if fd, ok := f.In.(interface{ Fd() uintptr }); !ok || !term.IsTerminal(int(fd.Fd())) {
			o.Accessible = true
		}
		f.prompter = wizard.NewPrompter(o, !f.CanPrompt())
	}
	return f.prompter
}

// Dialer builds the SSH dialer with o.
func (f *Factory) Dialer(o remote.Options) (*remote.Dialer, error) {
	if f.NewDialer != nil {
		return f.NewDialer(o)
	}
	return remote.NewDialer(o)
}

// API builds a CM API client.
func (f *Factory) API(baseURL, user string, password []byte, opts ...cmapi.Option) (*cmapi.Client, error) {
	if f.NewAPI != nil {
		return f.NewAPI(baseURL, user, password, opts...)
	}
	return cmapi.New(baseURL, user, password, opts...)
}

func newSystemFactory() *Factory {
	return &Factory{
		In:        os.Stdin,
		Out:       os.Stdout,
		ErrOut:    os.Stderr,
		LookupEnv: os.LookupEnv,
		Now:       time.Now,
		IsTerminal: func() bool {
			return term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd()))
		},
		Version: version,
	}
}
