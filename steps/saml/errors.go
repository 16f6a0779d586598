package saml

import (
	"errors"
	"fmt"

	"github.com/cmtls/cmtls/steps"
)

// Error is a failed SAML step; it names the fix.
type Error struct {
	Step string
	Err  error
	Fix  string
	// input marks bad input found before anything changed.
	input bool
}

// Error is the cause alone: the runner names the step.
func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Hint names the fix: the step's own, else the cause's.
func (e *Error) Hint() string {
	type hinter interface{ Hint() string }
	var h hinter
	if e.Fix == "" && errors.As(e.Err, &h) {
		return h.Hint()
	}
	return e.Fix
}

// BadInput reports bad input found before anything changed.
func (e *Error) BadInput() bool { return e.input }

func inputErr(step string, err error, fix string) *Error {
	return &Error{Step: step, Err: err, Fix: fix, input: true}
}

// credentialsErr is a failed read of the CM API during planning: refused
// credentials are bad input (nothing changed yet, the fix is server.api).
func credentialsErr(step, what string, err error) *Error {
	e := &Error{Step: step, Err: fmt.Errorf("%s: %w", what, err), Fix: "check server.api (url, user, password)"}
	if _, ok := steps.CredentialsAsInput(err).(*steps.InputError); ok {
		e.input = true
	}
	return e
}
