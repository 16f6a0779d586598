package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// runRecord is one line of the run log.
type runRecord struct {
	Time       time.Time `json:"time"`
	Command    string    `json:"command"`
	Args       []string  `json:"args"`
	ExitCode   int       `json:"exit_code"`
	DurationMS int64     `json:"duration_ms"`
	Version    string    `json:"version,omitempty"`
}

func (f *Factory) now() time.Time {
	if f.Now == nil {
		return time.Now()
	}
	return f.Now()
}

// runLogPath is the run log in the user's state directory, as the XDG Base
// Directory Specification places it: $XDG_STATE_HOME/cmtls/runs.jsonl,
// ~/.local/state/cmtls/runs.jsonl when it is not set. "" when neither is
// known (then nothing is logged).
func runLogPath(f *Factory) string {
	if d := f.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "cmtls", "runs.jsonl")
	}
	if h := f.Getenv("HOME"); h != "" && filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "state", "cmtls", "runs.jsonl")
	}
	return ""
}

// logRun appends one JSON line for this run to the run log: when, which
// command, its arguments with secret-bearing values replaced, the exit
// code and how long it took. Logging never fails a run: a log that cannot
// be written is skipped silently (the run's own output is what counts).
func logRun(f *Factory, args []string, code int, d time.Duration) {
	p := runLogPath(f)
	if p == "" || len(args) == 0 {
		return
	}
	rec := runRecord{Time: f.now().UTC(), Command: commandOf(args), Args: redactArgs(args),
		ExitCode: code, DurationMS: d.Milliseconds(), Version: f.Version}
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return
	}
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	// One write per line: concurrent runs append whole lines (O_APPEND).
	_, _ = fh.Write(append(b, '\n'))
	_ = fh.Close()
}

// commandOf is the command path the arguments name: the leading words that
// are not flags ("agents push").
func commandOf(args []string) string {
	var words []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") || len(words) == 2 {
			break
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

// secretFlag reports whether a flag's value may be a secret: a name about
// passwords, secrets, tokens or keys, unless it names where the secret is
// (a file or an environment variable).
func secretFlag(name string) bool {
	name = strings.ToLower(strings.TrimLeft(name, "-"))
	if strings.HasSuffix(name, "-file") || strings.HasSuffix(name, "-env") || strings.HasSuffix(name, "-path") {
		return false
	}
	for _, w := range []string{"pass", "secret", "token", "key"} {
		if strings.Contains(name, w) && name != "accept-new-host-keys" {
			return true
		}
	}
	return false
}

// redactArgs replaces the values of secret flags with "REDACTED".
func redactArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if !strings.HasPrefix(a, "--") {
			out = append(out, a)
			continue
		}
		name, _, hasValue := strings.Cut(a, "=")
		switch {
		case !secretFlag(name):
			out = append(out, a)
		case hasValue:
			out = append(out, name+"=REDACTED")
		default:
			out = append(out, a)
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				out = append(out, "REDACTED")
				i++
			}
		}
	}
	return out
}
