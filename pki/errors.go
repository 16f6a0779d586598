package pki

import (
	"errors"
	"fmt"
)

// Sentinels for errors.Is. Every one of them is bad input: the user must
// change a file, a password or a flag, and nothing was written.
var (
	ErrWrongStorePassword = errors.New("keystore password incorrect")
	ErrWrongKeyPassword   = errors.New("key password incorrect")
	ErrUnknownFormat      = errors.New("neither a JKS nor a PKCS#12 keystore")
	ErrTruncated          = errors.New("keystore is truncated or damaged")
	ErrNoSuchAlias        = errors.New("no such alias")
	ErrNotKeyEntry        = errors.New("alias is not a private key entry")
	ErrBadPassword        = errors.New("password not usable")
	ErrCertNotValid       = errors.New("certificate not valid now")
	ErrKeyMismatch        = errors.New("certificate does not match the private key")
	ErrChainInvalid       = errors.New("certificate chain does not verify")
	ErrBadPEM             = errors.New("not a usable certificate file")
	ErrBadArgument        = errors.New("invalid argument")
	ErrStoreTypeMismatch  = errors.New("keystore type does not match the file")
)

// InputError is bad input: exit code 2 and a hint naming the fix. It wraps
// one of the Err* sentinels.
type InputError struct {
	Err error
	Fix string
}

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// BadInput says this is "usage or invalid input": nothing changed.
func (e *InputError) BadInput() bool { return true }

// Hint names the fix.
func (e *InputError) Hint() string { return e.Fix }

// inputErr builds an InputError whose message is format (which should %w a
// sentinel) and whose hint is fix.
func inputErr(fix, format string, args ...any) error {
	return &InputError{Err: fmt.Errorf(format, args...), Fix: fix}
}
