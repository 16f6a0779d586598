package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cmtls/cmtls/remote/cmapi"
)

// saml configure builds its CM API client through the Factory, and its
// dry run's change record says nothing was changed, with the settings it
// would change, secrets redacted.
func TestSAMLConfigureReportAndFactoryAPI(t *testing.T) {
	dir, cmURL := samlWorld(t)
	p := writeSAMLAnswers(t, dir, cmURL)
	f, out, errOut := testFactory(map[string]string{"CM_PW": "admin", "KS_PW": "changeit", "USER": "ops"})
	var built atomic.Int32
	f.NewAPI = func(u, user string, pw []byte, opts ...cmapi.Option) (*cmapi.Client, error) {
		built.Add(1)
		return cmapi.New(u, user, pw, opts...)
	}
	rep := filepath.Join(dir, "saml.json")
	if code := Run(context.Background(), f, []string{"saml", "configure", "--answers", p, "--dry-run", "--report", rep}); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if built.Load() == 0 {
		t.Error("saml configure did not build its API client with the Factory's NewAPI")
	}
	b, err := os.ReadFile(rep)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Command, Outcome, Undo, User string
		Changed                      bool
		DryRun                       bool `json:"dry_run"`
		Hosts                        []struct {
			Name    string
			Changes []struct{ Target, New, State string }
		}
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if r.Outcome != "dry run: nothing was changed" || r.Changed || !r.DryRun || !strings.HasPrefix(r.Undo, "nothing to undo") ||
		!strings.HasPrefix(r.User, "ops@") || !strings.Contains(r.Command, "saml configure --answers") {
		t.Errorf("record: %+v", r)
	}
	got := map[string]string{}
	for _, h := range r.Hosts {
		for _, c := range h.Changes {
			got[c.Target] = c.New + " / " + c.State
		}
	}
	if got["External Authentication Type"] != "SAML / would change (dry run)" || got["SAML Keystore Password"] != "[redacted] / would change (dry run)" {
		t.Errorf("changes: %v", got)
	}
	if strings.Contains(string(b), "changeit") {
		t.Fatal("a secret is in the change record")
	}
}

// At a terminal, saml configure --answers without --yes shows the plan and
// asks once (line prompts here: TERM=dumb); "n" changes nothing, exit 0,
// and the record says the plan was not confirmed.
func TestSAMLConfigureAtATerminalAsksFirst(t *testing.T) {
	dir, cmURL := samlWorld(t)
	p := writeSAMLAnswers(t, dir, cmURL)
	f, out, errOut := testFactory(map[string]string{"CM_PW": "admin", "KS_PW": "changeit", "TERM": "dumb"})
	f.IsTerminal = func() bool { return true }
	f.In = strings.NewReader("n\n")
	rep := filepath.Join(dir, "declined.md")
	code := Run(context.Background(), f, []string{"saml", "configure", "--answers", p, "--report", rep})
	s := errOut.String()
	if code != 0 || !strings.Contains(s, "cmtls saml configure: plan") || !strings.Contains(s, "Apply these changes? [y/N]") ||
		!strings.Contains(s, "External Authentication Type") || !strings.Contains(s, "nothing was changed") {
		t.Fatalf("exit %d\n%s\n%s", code, out, s)
	}
	if strings.Contains(s, "needs --yes") {
		t.Fatal("refused for --yes at a terminal")
	}
	b, err := os.ReadFile(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"**Nothing was changed.**", "| Outcome | the plan was not confirmed: nothing was changed |", "| Exit code | 0 |"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("record lacks %q:\n%s", want, b)
		}
	}
}

// An interrupted run still leaves its record, saying so (exit 130).
func TestReportAfterInterrupt(t *testing.T) {
	dir := t.TempDir()
	url, _ := fakeCMHosts(t, "a1")
	p := filepath.Join(dir, "a.yaml")
	if err := os.WriteFile(p, fmt.Appendf(nil, `version: 1
server:
  host: cm1.example.com
  api: {url: %s, user: admin, password: {env: CM_PW}}
  keystore: {path: %s, password: {env: KS_PW}, generate: {validity_days: 30}}
  restart_command: "true"
agents:
  hosts: [a1]
  ssh: {user: root, port: %d, known_hosts: %s}
`, url, filepath.Join(dir, "ks.jks"), closedPort(t), filepath.Join(dir, "known_hosts")), 0o600); err != nil {
		t.Fatal(err)
	}
	f, out, errOut := testFactory(map[string]string{"CM_PW": "api-secret", "KS_PW": "changeit", "HOME": dir})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep := filepath.Join(dir, "r.json")
	if code := Run(ctx, f, []string{"init", "--answers", p, "--yes", "--report", rep}); code != ExitInterrupted {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	b, err := os.ReadFile(rep)
	if err != nil {
		t.Fatalf("no record after an interrupt: %v\n%s", err, errOut)
	}
	var r struct {
		Outcome  string
		ExitCode int `json:"exit_code"`
		Changed  bool
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.ExitCode != ExitInterrupted || r.Changed || !strings.HasPrefix(r.Outcome, "interrupted") || !strings.Contains(r.Outcome, "nothing was changed") {
		t.Errorf("record after an interrupt: %+v", r)
	}
	if strings.Contains(string(b), "api-secret") || strings.Contains(string(b), "changeit") {
		t.Fatal("a secret is in the record")
	}
}
