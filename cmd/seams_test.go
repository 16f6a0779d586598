package cmd

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/cmtls/cmtls/steps"
)

// seamRun parses argv as cmtls does (the command under a parent with the
// root's flag-error handling, so flag mistakes exit as they do in the
// binary) with runF in place of the run. It returns the options runF got
// (nil when it was not called), the exit code and stdout.
func seamRun[O any](t *testing.T, newCmd func(*Factory, func(context.Context, *O) error) *cobra.Command, argv []string) (*O, *Factory, int, string) {
	t.Helper()
	f, out, _ := testFactory(nil)
	var got *O
	c := newCmd(f, func(_ context.Context, o *O) error { got = o; return nil })
	parent := &cobra.Command{Use: "cmtls", SilenceUsage: true, SilenceErrors: true}
	parent.SetFlagErrorFunc(NewRootCmd(f).FlagErrorFunc())
	parent.AddCommand(c)
	parent.SetArgs(append([]string{c.Name()}, argv...))
	parent.SetOut(&bytes.Buffer{})
	parent.SetErr(&bytes.Buffer{})
	err := parent.Execute()
	return got, f, exitCode(err), out.String()
}

// seamBad checks that argv fails with exit code want before runF runs.
func seamBad[O any](t *testing.T, newCmd func(*Factory, func(context.Context, *O) error) *cobra.Command, argv []string, want int) string {
	t.Helper()
	got, _, code, out := seamRun(t, newCmd, argv)
	if got != nil || code != want {
		t.Fatalf("%q: exit %d (want %d), runF called: %v", argv, code, want, got != nil)
	}
	return out
}

// seamGood checks that argv reaches runF with the options want (want.f is
// set to the command's Factory before comparing).
func seamGood[O any](t *testing.T, newCmd func(*Factory, func(context.Context, *O) error) *cobra.Command, argv []string, want O, setF func(*O, *Factory)) {
	t.Helper()
	got, f, code, _ := seamRun(t, newCmd, argv)
	if got == nil || code != ExitOK {
		t.Fatalf("%q: exit %d, runF called: %v", argv, code, got != nil)
	}
	setF(&want, f)
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("%q:\n got %+v\nwant %+v", argv, *got, want)
	}
}

func TestSeamsInit(t *testing.T) {
	t.Parallel()
	setF := func(o *initOptions, f *Factory) { o.f = f }
	for _, tc := range []struct {
		argv []string
		want initOptions
	}{
		{nil, initOptions{}},
		{[]string{"--answers", "a.yaml", "--dry-run", "--json"}, initOptions{answersPath: "a.yaml", dryRun: true, json: true}},
		{[]string{"--answers=a.yaml", "--yes", "--only", "push-cert,restart-agents", "--only", "verify-heartbeats", "--report", "CHG1.md"},
			initOptions{answersPath: "a.yaml", yes: true, only: []string{"push-cert", "restart-agents", "verify-heartbeats"}, report: "CHG1.md"}},
		{[]string{"--answers", "a.yaml", "--yes", "--skip", "console-tls", "--accept-new-host-keys"},
			initOptions{answersPath: "a.yaml", yes: true, skip: []string{"console-tls"}, acceptNewHostKeys: true}},
		// headless without --yes is refused by runInit, so runF sees it
		{[]string{"--answers", "a.yaml"}, initOptions{answersPath: "a.yaml"}},
	} {
		seamGood(t, newInitCmd, tc.argv, tc.want, setF)
	}
	seamBad(t, newInitCmd, []string{"a.yaml"}, ExitUsage)
}

func TestSeamsRenew(t *testing.T) {
	t.Parallel()
	setF := func(o *renewOptions, f *Factory) { o.f = f }
	for _, tc := range []struct {
		argv []string
		want renewOptions
	}{
		{[]string{"--answers", "a.yaml", "--dry-run", "--json"}, renewOptions{answersPath: "a.yaml", dryRun: true, json: true}},
		{[]string{"--answers", "a.yaml", "--yes", "--keep-old", "--saml-answers", "s.yaml", "--report", "r.json"},
			renewOptions{answersPath: "a.yaml", yes: true, keepOld: true, samlAnswers: "s.yaml", report: "r.json"}},
		{[]string{"--answers", "a.yaml", "--yes", "--csr", "cm1.csr", "--accept-new-host-keys"},
			renewOptions{answersPath: "a.yaml", yes: true, csr: "cm1.csr", acceptNewHostKeys: true}},
		// --rollback with --csr is refused by runRenew, so runF sees both
		{[]string{"--answers", "a.yaml", "--yes", "--rollback", "--csr", "x.csr"},
			renewOptions{answersPath: "a.yaml", yes: true, rollback: true, csr: "x.csr"}},
	} {
		seamGood(t, newRenewCmd, tc.argv, tc.want, setF)
	}
	seamBad(t, newRenewCmd, []string{"--answers", "a.yaml", "--keep-old=perhaps"}, ExitUsage)
}

func TestSeamsRollback(t *testing.T) {
	t.Parallel()
	setF := func(o *rollbackOptions, f *Factory) { o.f = f }
	for _, tc := range []struct {
		argv []string
		want rollbackOptions
	}{
		{[]string{"--answers", "a.yaml", "--dry-run"}, rollbackOptions{answersPath: "a.yaml", dryRun: true}},
		{[]string{"--answers", "a.yaml", "--yes", "--force", "--json", "--report", "r.md", "--accept-new-host-keys"},
			rollbackOptions{answersPath: "a.yaml", yes: true, force: true, json: true, report: "r.md", acceptNewHostKeys: true}},
	} {
		seamGood(t, newRollbackCmd, tc.argv, tc.want, setF)
	}
	seamBad(t, newRollbackCmd, []string{"--answers", "a.yaml", "--froce"}, ExitUsage)
}

func TestSeamsStatus(t *testing.T) {
	t.Parallel()
	setF := func(o *statusOptions, f *Factory) { o.f = f }
	for _, tc := range []struct {
		argv []string
		want statusOptions
	}{
		{nil, statusOptions{}},
		{[]string{"--answers", "a.yaml", "--json", "--accept-new-host-keys"}, statusOptions{answersPath: "a.yaml", json: true, acceptNewHostKeys: true}},
	} {
		seamGood(t, newStatusCmd, tc.argv, tc.want, setF)
	}
	seamBad(t, newStatusCmd, []string{"--answers"}, ExitUsage)
}

func TestSeamsCheck(t *testing.T) {
	t.Parallel()
	setF := func(o *checkOptions, f *Factory) { o.f = f }
	def := checkOptions{warn: "30d", critical: "7d", heartbeatMaxAge: steps.DefaultHeartbeatMaxAge}
	for _, tc := range []struct {
		argv []string
		want checkOptions
	}{
		{[]string{"--answers", "a.yaml"}, func() checkOptions { o := def; o.answersPath = "a.yaml"; return o }()},
		{[]string{"--answers", "a.yaml", "--warn", "60d", "--critical", "14d", "--heartbeat-max-age", "2m", "--json", "--prometheus", "m.prom", "--accept-new-host-keys"},
			checkOptions{answersPath: "a.yaml", warn: "60d", critical: "14d", heartbeatMaxAge: 2 * time.Minute, json: true, prometheus: "m.prom", acceptNewHostKeys: true}},
		// --warn and --critical are parsed by runCheck (days), so runF sees the text
		{[]string{"--warn", "5x", "--critical", "1y"}, func() checkOptions { o := def; o.warn, o.critical = "5x", "1y"; return o }()},
	} {
		seamGood(t, newCheckCmd, tc.argv, tc.want, setF)
	}
	// a monitoring plugin given a bad flag is UNKNOWN (3), never CRITICAL (2)
	out := seamBad(t, newCheckCmd, []string{"--heartbeat-max-age", "soon"}, int(steps.CheckUnknown))
	if !strings.HasPrefix(out, "CMTLS UNKNOWN - ") || !strings.Contains(out, `"soon"`) {
		t.Fatalf("check's bad flag printed %q", out)
	}
	// and so is an argument it does not take
	out = seamBad(t, newCheckCmd, []string{"extra-arg"}, int(steps.CheckUnknown))
	if !strings.HasPrefix(out, "CMTLS UNKNOWN - ") || !strings.Contains(out, "extra-arg") {
		t.Fatalf("check's stray argument printed %q", out)
	}
}

func TestSeamsDemo(t *testing.T) {
	t.Parallel()
	setF := func(o *demoOptions, f *Factory) { o.f = f }
	for _, tc := range []struct {
		argv []string
		want demoOptions
	}{
		{nil, demoOptions{agents: 3}},
		{[]string{"--agents", "7", "--keep"}, demoOptions{agents: 7, keep: true}},
		// the 1..50 bound is runDemo's, so runF sees 0
		{[]string{"--agents=0"}, demoOptions{agents: 0}},
	} {
		seamGood(t, newDemoCmd, tc.argv, tc.want, setF)
	}
	seamBad(t, newDemoCmd, []string{"--agents", "three"}, ExitUsage)
}
