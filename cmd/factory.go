package cmd

import (
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// Factory carries what commands reach for at the edges: the three streams,
// the environment, the clock and whether a human is at a terminal. Tests
// build their own.
type Factory struct {
	In     io.Reader
	Out    io.Writer // results: --json, the final summary
	ErrOut io.Writer // the story: progress, prompts, warnings, errors
	// LookupEnv reads the environment; tests pass a map's lookup.
	LookupEnv func(string) (string, bool)
	// Now is the clock.
	Now func() time.Time
	// IsTerminal reports whether stdin and stdout are both terminals, the
	// condition for the interactive TUI (gh's CanPrompt).
	IsTerminal func() bool
	// Version is the build's version string.
	Version string
}

// Getenv returns the value of an environment variable or "".
func (f *Factory) Getenv(name string) string {
	v, _ := f.LookupEnv(name)
	return v
}

// CanPrompt reports whether a human can be asked: both ends are terminals
// and neither --no-input nor CMTLS_NO_INPUT=1 said otherwise.
func (f *Factory) CanPrompt() bool {
	if f.Getenv("CMTLS_NO_INPUT") == "1" {
		return false
	}
	return f.IsTerminal != nil && f.IsTerminal()
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
