package wizard

import (
	"context"
	"io"
	"os"

	"github.com/cmtls/cmtls/steps/answers"
)

// Options says where the wizard reads and writes and how it looks.
type Options struct {
	In  io.Reader // keys (a terminal in real use)
	Out io.Writer // where the TUI is drawn (stderr in real use)
	// Accessible asks with plain line prompts instead of the TUI (huh's
	// accessible mode; --accessible or TERM=dumb).
	Accessible bool
	// Width and Height fix the screen size (tests); 0 means the terminal's.
	Width, Height int
}

func (o Options) in() io.Reader {
	if o.In == nil {
		return os.Stdin
	}
	return o.In
}

func (o Options) out() io.Writer {
	if o.Out == nil {
		return os.Stderr
	}
	return o.Out
}

// Discovered holds defaults cmtls found before asking: this machine's FQDN,
// an existing keystore, the hosts the CM API knows, the API's URL.
type Discovered struct {
	FQDN         string
	KeystorePath string
	Hosts        []string
	APIURL       string
	// LookupHosts, when set and Hosts is empty, lists the hosts CM knows
	// through its API once the user has answered the API questions (the
	// caller wires it to its CM API client).
	LookupHosts func(ctx context.Context, api answers.API) ([]string, error)
}

// ErrAborted is returned when the user leaves a form or the plan screen
// (Ctrl-C). It wraps context.Canceled, so the command exits 130.
var ErrAborted error = abortError{}

type abortError struct{}

func (abortError) Error() string { return "stopped by the user" }
func (abortError) Unwrap() error { return context.Canceled }
