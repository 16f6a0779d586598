package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// testFactory returns a Factory with buffers for the streams and env as the
// environment.
func testFactory(env map[string]string) (*Factory, *bytes.Buffer, *bytes.Buffer) {
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	return &Factory{
		In:         strings.NewReader(""),
		Out:        out,
		ErrOut:     errOut,
		LookupEnv:  func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Now:        func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) },
		IsTerminal: func() bool { return false },
		Version:    "v0.0.0-test",
	}, out, errOut
}

// codedErr says its kind the way lower packages do: 2 is bad input, 3 is
// partial, anything else is a plain failure.
type codedErr struct{ code int }

func (e codedErr) Error() string  { return fmt.Sprintf("code %d", e.code) }
func (e codedErr) BadInput() bool { return e.code == 2 }
func (e codedErr) Partial() bool  { return e.code == 3 }
func (e codedErr) Hint() string   { return "do the thing" }

func TestExitCode(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("boom"), 1},
		{usageErrorf("", "bad"), 2},
		{fmt.Errorf("wrapped: %w", codedErr{3}), 3},
		{errors.Join(errors.New("a"), codedErr{2}), 2},
		{codedErr{1}, 1},
		{errors.Join(codedErr{3}, codedErr{2}), 2},
		{context.Canceled, 130},
		{errors.Join(codedErr{2}, context.Canceled), 130},
		{fmt.Errorf("step: %w", context.Canceled), 130},
	}
	for _, c := range cases {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

func TestPrintErrorHint(t *testing.T) {
	var b bytes.Buffer
	printError(&b, fmt.Errorf("outer: %w", codedErr{2}))
	if got := b.String(); got != "error: outer: code 2\nhint: do the thing\n" {
		t.Fatalf("got %q", got)
	}
}

func TestRunVersionAndBadFlag(t *testing.T) {
	f, out, _ := testFactory(nil)
	if code := Run(context.Background(), f, []string{"--version"}); code != 0 {
		t.Fatalf("--version exit %d", code)
	}
	if !strings.Contains(out.String(), "cmtls v0.0.0-test") {
		t.Fatalf("version output %q", out.String())
	}
	f, _, errOut := testFactory(nil)
	if code := Run(context.Background(), f, []string{"--no-such-flag"}); code != 2 {
		t.Fatalf("bad flag exit %d, want 2", code)
	}
	if !strings.Contains(errOut.String(), "hint: see 'cmtls --help'") {
		t.Fatalf("stderr %q", errOut.String())
	}
	f, _, _ = testFactory(nil)
	if code := Run(context.Background(), f, []string{"no-such-command"}); code != 2 {
		t.Fatalf("unknown command exit %d, want 2", code)
	}
}
