package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Exit codes of cmtls (README "Exit codes"). This file alone turns errors
// into these numbers.
const (
	ExitOK          = 0   // done and verified
	ExitFailed      = 1   // failed
	ExitUsage       = 2   // usage or invalid input; nothing changed
	ExitPartial     = 3   // some hosts failed; the rest are done and verified
	ExitInterrupted = 130 // interrupted (Ctrl-C)
)

// Packages below cmd say the kind of a failure by behaviour, never by a
// number: an error in the chain with BadInput() true is bad input (nothing
// changed); one with Partial() true means some hosts failed while the rest
// are done; context.Canceled is an interrupt; anything else failed. An error
// that knows the next action has a Hint method.
type badInputer interface{ BadInput() bool }
type partialer interface{ Partial() bool }
type hinter interface{ Hint() string }

// UsageError marks bad command-line or file input: exit code 2.
type UsageError struct {
	Err  error
	hint string
}

func (e *UsageError) Error() string  { return e.Err.Error() }
func (e *UsageError) Unwrap() error  { return e.Err }
func (e *UsageError) BadInput() bool { return true }
func (e *UsageError) Hint() string   { return e.hint }

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
	if anyInTree(err, func(e error) bool { b, ok := e.(badInputer); return ok && b.BadInput() }) {
		return ExitUsage
	}
	if anyInTree(err, func(e error) bool { p, ok := e.(partialer); return ok && p.Partial() }) {
		return ExitPartial
	}
	return ExitFailed
}

// anyInTree reports whether is holds for err or any error it wraps (%w
// chains and errors.Join alike).
func anyInTree(err error, is func(error) bool) bool {
	if err == nil {
		return false
	}
	if is(err) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return anyInTree(u.Unwrap(), is)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if anyInTree(e, is) {
				return true
			}
		}
	}
	return false
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
