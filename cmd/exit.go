package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Exit codes of the contract (CONTRACT.md "Exit codes").
const (
	ExitOK          = 0   // done and verified
	ExitFailed      = 1   // failed
	ExitUsage       = 2   // usage or invalid input; nothing changed
	ExitPartial     = 3   // some hosts failed; the rest are done and verified
	ExitInterrupted = 130 // interrupted (Ctrl-C)
)

// An error decides its own exit code by having an ExitCode method, and its
// own next action by having a Hint method. Packages below cmd define their
// own error types with these methods; nothing else is shared.
type exitCoder interface{ ExitCode() int }
type hinter interface{ Hint() string }

// UsageError marks bad command-line or file input: exit code 2.
type UsageError struct {
	Err  error
	hint string
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }
func (e *UsageError) ExitCode() int { return ExitUsage }
func (e *UsageError) Hint() string  { return e.hint }

// usageErrorf returns a UsageError with a hint naming the fix.
func usageErrorf(hint, format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...), hint: hint}
}

// pluginExit ends `cmtls check`: a monitoring plugin's exit status is its
// service state (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN: the Monitoring
// Plugins Development Guidelines), not the contract's codes, and its status
// line on stdout has said everything, so nothing more is printed.
type pluginExit struct{ state int }

func (e *pluginExit) Error() string { return fmt.Sprintf("check: state %d", e.state) }

// exitCode maps an error to the contract's exit code.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	if pe := (*pluginExit)(nil); errors.As(err, &pe) {
		return pe.state
	}
	if errors.Is(err, context.Canceled) {
		return ExitInterrupted
	}
	var ec exitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return ExitFailed
}

// printError writes "error: msg" and, when some error in the chain knows the
// fix, "hint: fix" to w.
func printError(w io.Writer, err error) {
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(w, "interrupted: stopped cleanly; re-run the same command to continue")
		return
	}
	if pe := (*pluginExit)(nil); errors.As(err, &pe) {
		return
	}
	fmt.Fprintf(w, "error: %s\n", err)
	if hint := findHint(err); hint != "" {
		fmt.Fprintf(w, "hint: %s\n", hint)
	}
}

// findHint returns the first non-empty hint in err's tree (errors.Join and
// %w chains alike).
func findHint(err error) string {
	if err == nil {
		return ""
	}
	if h, ok := err.(hinter); ok && strings.TrimSpace(h.Hint()) != "" {
		return h.Hint()
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return findHint(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if h := findHint(e); h != "" {
				return h
			}
		}
	}
	return ""
}
