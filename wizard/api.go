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
	// CheckAPI, when set, tries the CM API credentials once they are typed
	// (one call); the SAML wizard uses it, init uses LookupHosts.
	CheckAPI func(ctx context.Context, api answers.API) error
	// ConsoleTLS: the Admin Console is already on https (Step 7 done), so
	// the API URL offered is https://FQDN:7183 and a CA file is asked.
	ConsoleTLS bool
	// CAFile is the CA file offered for an https API (the server's PEM).
	CAFile string
	// CheckInventory and CheckFile, when set, read a file the user names
	// (an inventory, a CA file) so that a wrong path is refused when typed.
	CheckInventory func(path string) error
	CheckFile      func(path string) error
}

// ErrAborted is returned when the user leaves a form or the plan screen
// (Ctrl-C). It wraps context.Canceled, so the command exits 130.
var ErrAborted error = abortError{}

type abortError struct{}

func (abortError) Error() string { return "stopped by the user" }
func (abortError) Unwrap() error { return context.Canceled }
