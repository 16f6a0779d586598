package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps/answers"
)

// exitOf maps an error's kind to the exit code the command gives it
// (bad input 2, partial 3, interrupted 130, else 1), as cmd/exit.go does.
func exitOf(err error) int {
	var bi interface{ BadInput() bool }
	var pa interface{ Partial() bool }
	switch {
	case err == nil:
		return 0
	case errors.Is(err, context.Canceled):
		return 130
	case errors.As(err, &bi) && bi.BadInput():
		return 2
	case errors.As(err, &pa) && pa.Partial():
		return 3
	}
	return 1
}

func TestInitThenSecondRunPlansNothing(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 3, nil)
	res, col, err := fx.run(Options{})
	if err != nil {
		t.Fatalf("first run: %v\nevents: %v", err, col.Events())
	}
	if res.Plan.Empty() {
		t.Fatal("first run planned nothing")
	}
	for _, h := range res.Hosts {
		if h.Status != HostVerified {
			t.Errorf("host %s: %s %s", h.Host, h.Status, h.Error)
		}
	}
	// every agent trusts exactly the certificate the keystore holds
	ks, err := os.ReadFile(fx.answers.Server.Keystore.Path)
	if err != nil {
		t.Fatal(err)
	}
	store, err := pki.ReadKeystore(ks, []byte("changeit"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := store.Certificate("jetty")
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Subject.CommonName != "cm.example.com" || pki.MatchHostname(leaf, "cm.example.com") != nil {
		t.Errorf("certificate CN %q SAN %v", leaf.Subject.CommonName, leaf.DNSNames)
	}
	if fi, _ := os.Stat(fx.answers.Server.Keystore.Path); fi.Mode().Perm() != 0o600 {
		t.Errorf("keystore mode %o, want 600", fi.Mode().Perm())
	}
	for _, a := range fx.answers.AgentHosts() {
		pemBytes, err := os.ReadFile(a.PEMDest)
		if err != nil {
			t.Fatal(err)
		}
		certs, err := pki.ParseCertificates(pemBytes)
		if err != nil || !certs[0].Equal(leaf) {
			t.Errorf("%s: pushed PEM is not the server certificate", a.Name)
		}
		ini, _ := os.ReadFile(a.ConfigPath)
		if !strings.Contains(string(ini), "\nuse_tls=1\n") || !strings.Contains(string(ini), "verify_cert_file="+a.PEMDest+"\n") {
			t.Errorf("%s: config.ini not edited:\n%s", a.Name, ini)
		}
		if n := restartCount(t, filepath.Join(fx.dir, a.Name, "restarts")); n != 1 {
			t.Errorf("%s restarted %d times, want 1", a.Name, n)
		}
	}
	if n := restartCount(t, filepath.Join(fx.dir, "server", "restarts")); n != 1 {
		t.Errorf("server restarted %d times, want 1", n)
	}
	// canary first: its restart event comes before the others' restarts
	var order []string
	for _, e := range col.Events() {
		if e.Step == "restart-agents" && e.Detail == "restarted" {
			order = append(order, e.Host)
		}
	}
	if len(order) != 3 || order[0] != "agent1" {
		t.Errorf("restart order %v, want agent1 (canary) first", order)
	}

	before := fx.snapshot()
	res2, col2, err := fx.run(Options{})
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if !res2.Plan.Empty() {
		var b bytes.Buffer
		_ = res2.Plan.WriteText(&b)
		t.Errorf("second run planned changes:\n%s", b.String())
	}
	if d := cmp.Diff(before, fx.snapshot()); d != "" {
		t.Errorf("second run changed files (-before +after):\n%s", d)
	}
	for _, e := range col2.Events() {
		if e.Status == StatusFailed {
			t.Errorf("second run event failed: %+v", e)
		}
	}
	for _, h := range res2.Hosts {
		if h.Status != HostUnchanged {
			t.Errorf("second run: host %s: %s, want %s (already done, verified)", h.Host, h.Status, HostUnchanged)
		}
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 2, nil)
	before := fx.snapshot()
	res, _, err := fx.run(Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(before, fx.snapshot()); d != "" {
		t.Errorf("dry run changed files:\n%s", d)
	}
	if fx.cm.settings[settingAgentTLS] != "false" {
		t.Error("dry run changed AGENT_TLS")
	}
	var b bytes.Buffer
	if err := res.Plan.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"AGENT_TLS: false -> true", "KEYSTORE_PASSWORD: (none) -> [redacted]", "[Security] verify_cert_file: (unset) -> ",
		"[Security] use_tls: 0 -> 1", "server.pem: (none) -> sha256:", "canary", "cm.keystore alias jetty"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "changeit") {
		t.Error("plan shows the keystore password")
	}
}

func TestPreflightCNMismatchChangesNothing(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 3, func(i int) string {
		if i == 1 {
			return "127.0.0.1"
		}
		return "cm.example.com"
	})
	before := fx.snapshot()
	_, _, err := fx.run(Options{})
	if exitOf(err) != 2 {
		t.Fatalf("exit %d (%v), want 2", exitOf(err), err)
	}
	for _, want := range []string{"agent2", "server_host=127.0.0.1", "nothing was changed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "agent1") || strings.Contains(err.Error(), "agent3") {
		t.Errorf("error names hosts that match: %v", err)
	}
	if hint(err) == "" {
		t.Error("no hint")
	}
	if d := cmp.Diff(before, fx.snapshot()); d != "" {
		t.Errorf("files changed:\n%s", d)
	}
	if fx.cm.settings[settingAgentTLS] != "false" || fx.cm.settings[settingKeystorePath] != "" {
		t.Errorf("settings changed: %v", fx.cm.settings)
	}
}

func TestWrongKeystorePasswordChangesNothing(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 2, nil)
	if _, _, err := fx.run(Options{Only: []string{"server-cert"}}); err != nil {
		t.Fatal(err)
	}
	before := fx.snapshot()
	fx.answers.Server.Keystore.Password = answersSecret("wrongpass")
	_, _, err := fx.run(Options{})
	if exitOf(err) != 2 {
		t.Fatalf("exit %d (%v), want 2", exitOf(err), err)
	}
	if !strings.Contains(err.Error(), "password") {
		t.Errorf("error does not name the password: %v", err)
	}
	// the hint names the answers key the password came from, not the cert
	// subcommands' --storepass flags the user never gave
	if h := hint(err); !strings.Contains(h, "server.keystore.password") || strings.Contains(h, "--storepass") {
		t.Errorf("hint does not name server.keystore.password: %q", h)
	}
	if d := cmp.Diff(before, fx.snapshot()); d != "" {
		t.Errorf("files changed:\n%s", d)
	}
	if fx.cm.settings[settingAgentTLS] != "false" {
		t.Error("AGENT_TLS changed")
	}
}

// cancelOn cancels a run when the step starts verifying, so the run is
// interrupted while it waits for heartbeats.
type cancelOn struct {
	Collector
	step   string
	cancel context.CancelFunc
}

func (c *cancelOn) Report(e Event) {
	c.Collector.Report(e)
	if e.Step == c.step && e.Phase == PhaseVerify && e.Status == StatusStart {
		c.cancel()
	}
}

func TestInterruptedWaitDoesNotBlameTheAgentLog(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 2, nil)
	fx.cm.down["agent2"] = true // never heartbeats: the run waits for it
	// a stale failure in the log, from before the restart
	log := "[23/Nov/2026 12:00:00 +0000] 42 MainThread agent        ERROR    Heartbeating to cm.example.com:7182 failed.\n" +
		"ConnectionClosedException: Reader read 0 bytes.\n"
	must(t, os.WriteFile(filepath.Join(fx.dir, "agent2", "agent.log"), []byte(log), 0o644))
	fx.answers.Verify.HeartbeatTimeout = answers.Duration(20 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep := &cancelOn{step: "verify-heartbeats", cancel: cancel}
	res, err := Run(ctx, fx.env(rep), TLSSteps(), Options{})
	if !errors.Is(err, context.Canceled) || exitOf(err) != 130 {
		t.Fatalf("err %v, want it to wrap context.Canceled (exit 130)", err)
	}
	// The cancel is not a failure of agent2: it is reported as not
	// verified, with no blame from its old log, and ends "done, not
	// verified" (its files were changed and it was restarted).
	var found bool
	for _, e := range rep.Events() {
		if e.Host != "agent2" || e.Step != "verify-heartbeats" {
			continue
		}
		if e.Status == StatusFailed {
			t.Errorf("interrupted wait reported as a failure of agent2: %+v", e)
		}
		if e.Status != StatusWarn {
			continue
		}
		found = true
		if strings.Contains(e.Err, "ConnectionClosedException") || strings.Contains(e.Hint, "AGENT_TLS") || !strings.Contains(e.Hint, "re-run") {
			t.Errorf("interrupted agent2 blamed on its log: %+v", e)
		}
	}
	if !found {
		t.Fatalf("agent2 not reported as stopped: %+v", rep.Events())
	}
	got := map[string]Status{}
	for _, h := range res.Hosts {
		got[h.Host] = h.Status
	}
	if d := cmp.Diff(map[string]Status{"agent1": HostVerified, "agent2": HostDone}, got); d != "" {
		t.Errorf("hosts after the interrupt (-want +got):\n%s", d)
	}
}

// With not one agent host reachable, nothing changes, not even the server:
// AGENT_TLS and a restart would cut off agents none of which could follow.
func TestNoAgentReachableChangesNothing(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 2, nil)
	fx.down["agent1"], fx.down["agent2"] = true, true
	before := fx.snapshot()
	_, _, err := fx.run(Options{})
	var na *NoAgentsError
	if !errors.As(err, &na) || exitOf(err) != 1 || len(na.Failed) != 2 {
		t.Fatalf("err %v (exit %d), want a NoAgentsError naming both hosts, exit 1", err, exitOf(err))
	}
	if !strings.Contains(err.Error(), "nothing was changed") || !strings.Contains(hint(err), "re-run") {
		t.Errorf("error %q hint %q", err, hint(err))
	}
	if d := cmp.Diff(before, fx.snapshot()); d != "" {
		t.Errorf("files changed:\n%s", d)
	}
	if fx.cm.settings[settingAgentTLS] != "false" {
		t.Error("AGENT_TLS turned on with no agent reachable")
	}
	if n := restartCount(t, filepath.Join(fx.dir, "server", "restarts")); n != 0 {
		t.Errorf("server restarted %d times", n)
	}
	// once they answer, the same run finishes
	fx.down = map[string]bool{}
	if _, _, err := fx.run(Options{}); err != nil {
		t.Fatalf("re-run: %v", err)
	}
}

// refusingCM answers every settings read with CM's 401.
type refusingCM struct{ *fakeCM }

func (refusingCM) Config(context.Context) ([]cmapi.ConfigItem, error) {
	return nil, &cmapi.APIError{Status: 401, Method: "GET", Path: "/api/version", Message: "Bad credentials"}
}

// CM refusing the API credentials at plan time is bad input (exit 2) with
// the hint naming server.api.password, and nothing changes.
func TestRefusedAPICredentialsAreInput(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 2, nil)
	before := fx.snapshot()
	env := fx.env(&Collector{})
	env.API = refusingCM{fx.cm}
	_, err := Run(context.Background(), env, TLSSteps(), Options{})
	if exitOf(err) != 2 || !strings.Contains(hint(err), "server.api.password") {
		t.Fatalf("exit %d (%v), hint %q; want 2 naming server.api.password", exitOf(err), err, hint(err))
	}
	if d := cmp.Diff(before, fx.snapshot()); d != "" {
		t.Errorf("files changed:\n%s", d)
	}
}

func TestHostDownIsPartialAndRerunFinishes(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 3, nil)
	fx.down["agent3"] = true
	res, _, err := fx.run(Options{})
	if exitOf(err) != 3 {
		t.Fatalf("exit %d (%v), want 3", exitOf(err), err)
	}
	got := map[string]Status{}
	for _, h := range res.Hosts {
		got[h.Host] = h.Status
	}
	if d := cmp.Diff(map[string]Status{"agent1": HostVerified, "agent2": HostVerified, "agent3": HostFailed}, got); d != "" {
		t.Errorf("hosts (-want +got):\n%s", d)
	}
	if _, err := os.Stat(filepath.Join(fx.dir, "agent3", "server.pem")); err == nil {
		t.Error("the down host got a PEM")
	}
	delete(fx.down, "agent3")
	res, _, err = fx.run(Options{})
	if err != nil {
		t.Fatalf("re-run: %v", err)
	}
	var b bytes.Buffer
	_ = res.Plan.WriteText(&b)
	if strings.Contains(b.String(), "agent1 ") || !strings.Contains(b.String(), "agent3") {
		t.Errorf("re-run should touch agent3 only:\n%s", b.String())
	}
	if n := restartCount(t, filepath.Join(fx.dir, "agent1", "restarts")); n != 1 {
		t.Errorf("agent1 restarted %d times", n)
	}
	if n := restartCount(t, filepath.Join(fx.dir, "agent3", "restarts")); n != 1 {
		t.Errorf("agent3 restarted %d times", n)
	}
}

func TestHeartbeatTimeoutReadsAgentLog(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 2, nil)
	fx.cm.down["agent2"] = true
	log := "[23/Nov/2026 12:00:00 +0000] 42 MainThread agent        ERROR    Heartbeating to cm.example.com:7182 failed.\n" +
		"Traceback (most recent call last):\n" +
		"WrongHost: Peer certificate subjectAltName does not match host, expected cm.example.com, got DNS:other\n"
	if err := os.WriteFile(filepath.Join(fx.dir, "agent2", "agent.log"), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	res, _, err := fx.run(Options{})
	if exitOf(err) != 3 {
		t.Fatalf("exit %d (%v), want 3", exitOf(err), err)
	}
	var h2 HostResult
	for _, h := range res.Hosts {
		if h.Host == "agent2" {
			h2 = h
		}
	}
	if !strings.HasPrefix(h2.Log, "WrongHost: Peer certificate subjectAltName") || !strings.Contains(h2.Hint, "server_host") {
		t.Errorf("agent2 result %+v", h2)
	}
}

func TestCanaryFailureStopsTheRest(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 3, nil)
	fx.cm.down["agent1"] = true
	_, _, err := fx.run(Options{})
	if err == nil || !strings.Contains(err.Error(), "canary") {
		t.Fatalf("err %v, want the canary refusal", err)
	}
	for _, n := range []string{"agent2", "agent3"} {
		if c := restartCount(t, filepath.Join(fx.dir, n, "restarts")); c != 0 {
			t.Errorf("%s restarted although the canary failed", n)
		}
	}
}

func TestConsoleTLSRefusedBeforeLevel2(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 2, nil)
	fx.answers.TLS.AdminConsole = true
	before := fx.snapshot()
	_, _, err := fx.run(Options{Only: []string{"console-tls"}})
	var re *RefusedError
	if !errors.As(err, &re) || exitOf(err) != 2 {
		t.Fatalf("err %v, want a refusal with exit 2", err)
	}
	if !strings.Contains(err.Error(), "lose the ability to connect") {
		t.Errorf("refusal lacks the documented reason: %v", err)
	}
	if fx.cm.settings[settingWebTLS] != "false" {
		t.Error("WEB_TLS changed")
	}
	if d := cmp.Diff(before, fx.snapshot()); d != "" {
		t.Errorf("files changed:\n%s", d)
	}
}

func TestSelectUnknownStep(t *testing.T) {
	t.Parallel()
	_, err := Select(TLSSteps(), []string{"push-certs"}, nil)
	if exitOf(err) != 2 || !strings.Contains(hint(err), "push-cert") {
		t.Errorf("err %v hint %q", err, hint(err))
	}
	sel, err := Select(TLSSteps(), nil, []string{"console-tls", "server-cert"})
	if err != nil || len(sel) != 5 {
		t.Errorf("skip: %d steps, %v", len(sel), err)
	}
}

func TestEventsAndJSONHoldNoSecret(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 2, nil)
	res, col, err := fx.run(Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(JSONResult{Plan: res.Plan, Steps: res.Steps, Hosts: res.Hosts, Events: col.Events()})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("changeit")) {
		t.Error("JSON result holds the keystore password")
	}
	var text bytes.Buffer
	tr := NewTextReporter(&text)
	for _, e := range col.Events() {
		tr.Report(e)
	}
	if strings.Contains(text.String(), "changeit") {
		t.Error("text report holds the keystore password")
	}
}

func TestReasonFromLog(t *testing.T) {
	t.Parallel()
	cases := []struct{ log, reason, fix string }{
		{"x ERROR Heartbeating to 127.0.0.1:7182 failed.\nTraceback\nWrongHost: Peer certificate commonName does not match host, expected 127.0.0.1, got localhost\n",
			"WrongHost: Peer certificate commonName does not match host, expected 127.0.0.1, got localhost", "server_host"},
		{"ERROR Heartbeating to h:7182 failed.\nSSLError: certificate verify failed\n", "SSLError: certificate verify failed", "PEM"},
		{"ERROR Heartbeating to h:7182 failed.\nSSLError: unknown protocol\n", "SSLError: unknown protocol", "restart the server"},
		{"ERROR Heartbeating to h:7182 failed.\nerror: [Errno 111] Connection refused\n", "error: [Errno 111] Connection refused", "nothing listens"},
		{"INFO all good\n", "", "check_command"},
	}
	for _, c := range cases {
		r, fix := reasonFromLog(c.log, "/var/log/a.log")
		if r != c.reason || !strings.Contains(fix, c.fix) {
			t.Errorf("reasonFromLog(%q) = %q, %q", c.log, r, fix)
		}
	}
}

func FuzzParseAgentINI(f *testing.F) {
	f.Add([]byte(sampleINI))
	f.Add([]byte("[General]\nserver_host=a\r\n[Security]\nuse_tls=1\nverify_cert_file=/x\n"))
	f.Add([]byte("server_host=x\n[[bad\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseAgentINI(b)
		if err == nil && a.ServerPort == "" {
			t.Error("empty server_port after defaulting")
		}
	})
}

func FuzzReasonFromLog(f *testing.F) {
	f.Add("ERROR Heartbeating to h:7182 failed.\nWrongHost: x\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		r, fix := reasonFromLog(s, "/l")
		if fix == "" {
			t.Error("no fix")
		}
		if r != "" && !strings.Contains(s, r) {
			t.Errorf("reason %q not from the log", r)
		}
	})
}

func TestRollbackRestoresBytes(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 2, nil)
	orig := fx.snapshot()
	if _, _, err := fx.run(Options{}); err != nil {
		t.Fatal(err)
	}
	col := &Collector{}
	env := fx.env(col)
	ctx := t.Context()
	res, err := Run(ctx, env, RollbackSteps(), Options{})
	if err != nil {
		t.Fatalf("rollback: %v\n%v", err, col.Events())
	}
	if res.Plan.Empty() {
		t.Fatal("rollback planned nothing")
	}
	for _, a := range fx.answers.AgentHosts() {
		b, _ := os.ReadFile(a.ConfigPath)
		if string(b) != orig[a.ConfigPath] {
			t.Errorf("%s: config.ini not restored byte for byte", a.Name)
		}
		if _, err := os.Stat(a.PEMDest); err == nil {
			t.Errorf("%s: PEM cmtls created is still there", a.Name)
		}
		if n := restartCount(t, filepath.Join(fx.dir, a.Name, "restarts")); n != 2 {
			t.Errorf("%s restarted %d times, want 2", a.Name, n)
		}
	}
	if fx.cm.settings[settingAgentTLS] != "false" {
		t.Error("AGENT_TLS still on")
	}
	// a second rollback has nothing to do
	res, err = Run(ctx, fx.env(nil), RollbackSteps(), Options{})
	if err != nil || !res.Plan.Empty() {
		t.Errorf("second rollback: %v, plan empty %v", err, res.Plan.Empty())
	}
}

func TestCNCheckRefusesAnUnresolvableName(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 1, nil)
	before := fx.snapshot()
	env := fx.env(nil)
	env.Resolver = pki.MapResolver{}
	_, err := Run(t.Context(), env, TLSSteps(), Options{})
	if exitOf(err) != 2 || !strings.Contains(err.Error(), "does not resolve") {
		t.Fatalf("err %v, want the CN/FQDN refusal", err)
	}
	if d := cmp.Diff(before, fx.snapshot()); d != "" {
		t.Errorf("files changed:\n%s", d)
	}
}

func TestDriftIsPlannedAndRepaired(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 3, nil)
	if _, _, err := fx.run(Options{}); err != nil {
		t.Fatal(err)
	}
	// Someone comments verify_cert_file out on agent2 and restarts it:
	// level 1 only, the agent no longer checks the server.
	p := filepath.Join(fx.dir, "agent2", "config.ini")
	b, _ := os.ReadFile(p)
	b = bytes.Replace(b, []byte("\nverify_cert_file="), []byte("\n# verify_cert_file="), 1)
	if err := os.WriteFile(p, b, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fx.dir, "agent2", "config.at-restart"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	res, _, err := fx.run(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var plan bytes.Buffer
	_ = res.Plan.WriteText(&plan)
	if !strings.Contains(plan.String(), "agent2  ini      "+p+" [Security] verify_cert_file") || strings.Contains(plan.String(), "agent1 ") {
		t.Errorf("the plan should repair agent2 only:\n%s", plan.String())
	}
	if n := restartCount(t, filepath.Join(fx.dir, "agent2", "restarts")); n != 2 {
		t.Errorf("agent2 restarted %d times, want 2", n)
	}
	if n := restartCount(t, filepath.Join(fx.dir, "agent1", "restarts")); n != 1 {
		t.Errorf("agent1 restarted %d times, want 1", n)
	}
}

func TestCutOffBeforeRestartIsFinishedNextRun(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 2, nil)
	// A run that stops after Step 3 (as if cut off): files changed, no
	// agent restarted.
	if _, _, err := fx.run(Options{Skip: []string{"restart-agents", "verify-heartbeats", "console-tls"}}); err != nil {
		t.Fatal(err)
	}
	if n := restartCount(t, filepath.Join(fx.dir, "agent1", "restarts")); n != 0 {
		t.Fatalf("agent1 restarted %d times", n)
	}
	// The fake CM, like a real CM, does not report how heartbeats come:
	// only the restart marker says the restart is owed.
	res, _, err := fx.run(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var plan bytes.Buffer
	_ = res.Plan.WriteText(&plan)
	for _, h := range []string{"agent1", "agent2"} {
		if n := restartCount(t, filepath.Join(fx.dir, h, "restarts")); n != 1 {
			t.Errorf("%s restarted %d times, want 1\n%s", h, n, plan.String())
		}
		if _, err := os.Stat(filepath.Join(fx.dir, h, "config.ini.cmtls-restart-pending")); err == nil {
			t.Errorf("%s: restart marker left behind", h)
		}
	}
	res, _, err = fx.run(Options{})
	if err != nil || !res.Plan.Empty() {
		t.Errorf("third run: %v, plan empty %v", err, res.Plan.Empty())
	}
}
