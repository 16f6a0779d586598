package changereport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/steps"
)

var t0 = time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)

// twoAgentRun is what the runner hands back after init on two agents,
// agent2 failing at restart-agents.
func twoAgentRun() Input {
	res := &steps.Result{Applied: true,
		Plan: steps.Plan{
			{Step: "enable-agent-tls", Items: []steps.Item{
				{Kind: steps.KindSetting, Target: "AGENT_TLS", Old: "false", New: "true"},
				{Kind: steps.KindSetting, Target: "KEYSTORE_PASSWORD", New: "[redacted]"},
			}},
			{Step: "push-cert", Items: []steps.Item{
				{Host: "agent1", Kind: steps.KindINI, Target: "/etc/cloudera-scm-agent/config.ini [Security] use_tls", Old: "0", New: "1"},
				{Host: "agent2", Kind: steps.KindINI, Target: "/etc/cloudera-scm-agent/config.ini [Security] use_tls", Old: "0", New: "1"},
			}},
			{Step: "restart-agents", Items: []steps.Item{
				{Host: "agent1", Kind: steps.KindService, Target: "service cloudera-scm-agent restart"},
				{Host: "agent2", Kind: steps.KindService, Target: "service cloudera-scm-agent restart"},
			}},
			{Step: "verify-heartbeats", Items: []steps.Item{
				{Host: "agent1", Kind: steps.KindCheck, Target: "heartbeat after restart", New: "over verified TLS"},
			}},
		},
		Steps: []steps.StepResult{
			{Step: "enable-agent-tls", Status: steps.StatusChanged},
			{Step: "push-cert", Status: steps.StatusChanged},
			{Step: "restart-agents", Status: steps.StatusChanged},
			{Step: "verify-heartbeats", Status: steps.StatusChanged},
		},
		Hosts: []steps.HostResult{
			{Host: "agent1", Status: steps.HostVerified},
			{Host: "agent2", Status: steps.HostFailed, Step: "restart-agents", Error: "restart failed", Hint: "look at the agent log"},
		},
	}
	ev := []steps.Event{
		{Step: "push-cert", Host: "agent1", Phase: steps.PhaseApply, Status: steps.StatusChanged, Detail: "PEM /etc/cmf/server.pem and config.ini written; backup /etc/cloudera-scm-agent/config.ini.cmtls-20261207T050001.000Z.bak"},
		{Step: "push-cert", Host: "agent2", Phase: steps.PhaseApply, Status: steps.StatusChanged, Detail: "PEM /etc/cmf/server.pem and config.ini written; backup /etc/cloudera-scm-agent/config.ini.cmtls-20261207T050001.001Z.bak"},
		{Step: "restart-agents", Host: "agent1", Phase: steps.PhaseApply, Status: steps.StatusChanged, Detail: "restarted"},
		{Step: "restart-server", Host: "cm1", Phase: steps.PhaseVerify, Status: steps.StatusProgress, Detail: "the heartbeat port serves the new certificate over TLS"},
		{Step: "verify-heartbeats", Host: "agent1", Phase: steps.PhaseVerify, Status: steps.StatusOK, Detail: "heartbeat over verified TLS"},
		{Step: "verify-heartbeats", Phase: steps.PhaseVerify, Status: steps.StatusOK, Detail: "verified"},
	}
	return Input{Command: "cmtls init --answers a.yaml --yes --report r.md", Started: t0, Finished: t0.Add(time.Minute),
		User: "ops@admin1", Result: res, Events: ev, ExitCode: 3, Err: errors.New("1 host failed"), Hint: "re-run to continue",
		ServerHost: "cm1", Certificate: testCert(t0), ServerBackups: []string{"/opt/cloudera/security/jks/cm.keystore.cmtls-20261207T050000.500Z.bak"},
		Undo: "cmtls rollback --answers a.yaml --yes"}
}

func testCert(now time.Time) *Certificate {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cm1.example.com", Organization: []string{"Example"}},
		DNSNames: []string{"cm1.example.com", "cm1"}, NotBefore: now, NotAfter: now.Add(180 * 24 * time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	c, _ := x509.ParseCertificate(der)
	return NewCertificate(c, "/opt/cloudera/security/x509/server.pem on cm1")
}

func hostOf(t *testing.T, r *Report, name string) Host {
	t.Helper()
	for _, h := range r.Hosts {
		if h.Name == name {
			return h
		}
	}
	t.Fatalf("no host %q in %+v", name, r.Hosts)
	return Host{}
}

func TestBuildPerHost(t *testing.T) {
	r := Build(twoAgentRun())
	if got := []string{r.Hosts[0].Name, r.Hosts[1].Name, r.Hosts[2].Name}; strings.Join(got, ",") != "server,agent1,agent2" {
		t.Fatalf("hosts %v, want the server first, then the agents in order", got)
	}
	if r.Outcome != "partly done: some hosts failed, the rest are done and verified" || !r.Changed || r.ExitCode != 3 {
		t.Errorf("outcome %q changed %v exit %d", r.Outcome, r.Changed, r.ExitCode)
	}
	srv := hostOf(t, r, "server")
	if len(srv.Changes) != 2 || srv.Changes[0].State != StateDone || srv.Changes[1].New != "[redacted]" {
		t.Errorf("server changes %+v", srv.Changes)
	}
	if len(srv.Backups) != 1 || !strings.HasSuffix(srv.Backups[0], ".bak") {
		t.Errorf("server backups %v", srv.Backups)
	}
	// the events of server.host are the server's
	if len(srv.Evidence) != 1 || !strings.Contains(srv.Evidence[0], "heartbeat port serves the new certificate") {
		t.Errorf("server evidence %v", srv.Evidence)
	}
	a1, a2 := hostOf(t, r, "agent1"), hostOf(t, r, "agent2")
	if a1.Status != "verified" || a2.Status != "failed" || a2.Error != "restart failed" || a2.Hint == "" {
		t.Errorf("statuses %q %q %q", a1.Status, a2.Status, a2.Error)
	}
	want1 := []string{StateDone, StateDone, StateVerified}
	for i, c := range a1.Changes {
		if c.State != want1[i] {
			t.Errorf("agent1 %s %s: %s, want %s", c.Step, c.Kind, c.State, want1[i])
		}
	}
	if a2.Changes[0].State != StateDone || a2.Changes[1].State != StateFailed {
		t.Errorf("agent2: %+v", a2.Changes)
	}
	for _, h := range []Host{a1, a2} {
		if len(h.Backups) != 2 || !strings.Contains(h.Backups[0], "config.ini.cmtls-2026") || !strings.Contains(h.Backups[1], "config.ini.cmtls.orig") {
			t.Errorf("%s backups %v", h.Name, h.Backups)
		}
	}
	if len(a1.Evidence) != 1 || a1.Evidence[0] != "verify-heartbeats: heartbeat over verified TLS" {
		t.Errorf("agent1 evidence %v", a1.Evidence)
	}
	if len(a2.Evidence) != 0 {
		t.Errorf("agent2 has evidence although it failed: %v", a2.Evidence)
	}
}

// agents push proves a host with the command that changed it: that apply
// event is the host's evidence, its backup listed apart.
func TestPushEvidence(t *testing.T) {
	r := Build(Input{Result: &steps.Result{Applied: true, Hosts: []steps.HostResult{{Host: "a1", Status: steps.HostVerified}}},
		Events: []steps.Event{{Step: "push-agents", Host: "a1", Phase: steps.PhaseApply, Status: steps.StatusChanged,
			Detail: "changed, restarted, verified; backup /etc/a.ini.cmtls-20261207T050001.000Z.bak"}}})
	h := hostOf(t, r, "a1")
	if len(h.Evidence) != 1 || h.Evidence[0] != "push-agents: changed, restarted, verified" {
		t.Errorf("evidence %v", h.Evidence)
	}
	if len(h.Backups) != 1 || h.Backups[0] != "/etc/a.ini.cmtls-20261207T050001.000Z.bak" {
		t.Errorf("backups %v", h.Backups)
	}
}

func TestJSONParsesWithTheFields(t *testing.T) {
	p := filepath.Join(t.TempDir(), "change.json")
	f, err := Check(p)
	if err != nil || f != JSON {
		t.Fatalf("Check: %v %v", f, err)
	}
	if err := Write(p, f, Build(twoAgentRun())); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v, want 0600", st.Mode(), err)
	}
	b, _ := os.ReadFile(p)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("the JSON report does not parse: %v", err)
	}
	for _, k := range []string{"command", "started", "finished", "user", "outcome", "exit_code", "dry_run", "changed", "certificate", "hosts", "steps", "undo"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in the JSON report", k)
		}
	}
	cert := m["certificate"].(map[string]any)
	for _, k := range []string{"subject", "sans", "sha256", "not_after"} {
		if _, ok := cert[k]; !ok {
			t.Errorf("no certificate.%s", k)
		}
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Hosts) != 3 || back.Hosts[1].Evidence[0] == "" {
		t.Fatalf("round trip: %v %+v", err, back.Hosts)
	}
	// the fingerprint is the certificate's DER SHA-256, colon-separated
	if !strings.Contains(back.Certificate.SHA256, ":") || len(back.Certificate.SHA256) != 95 {
		t.Errorf("sha256 %q", back.Certificate.SHA256)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".change.json.tmp-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestMarkdown(t *testing.T) {
	md := Build(twoAgentRun()).Markdown()
	for _, want := range []string{
		"# cmtls change record\n",
		"| Command | `cmtls init --answers a.yaml --yes --report r.md` |\n",
		"| Started | 2026-12-07 05:00:00 UTC |\n",
		"| Run by | ops@admin1 |\n",
		"| Exit code | 3 |\n",
		"| Undo | `cmtls rollback --answers a.yaml --yes` |\n",
		"| Subject | CN=cm1.example.com,O=Example |\n",
		"| SANs | cm1.example.com, cm1 |\n",
		"| Expires | 2027-06-05 05:00:00 UTC |\n",
		"### server\n",
		"| enable-agent-tls | setting | AGENT_TLS | false | true | done |\n",
		"| enable-agent-tls | setting | KEYSTORE_PASSWORD | (none) | [redacted] | done |\n",
		"### agent1 (verified)\n",
		"### agent2 (failed)\n",
		"- Error: restart failed\n",
		"| restart-agents | service | service cloudera-scm-agent restart | (none) | (none) | failed |\n",
		"Backups:\n\n- /etc/cloudera-scm-agent/config.ini.cmtls-20261207T050001.000Z.bak\n",
		"Verification:\n\n- verify-heartbeats: heartbeat over verified TLS\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q\n%s", want, md)
		}
	}
	if strings.Contains(md, "Nothing was changed") {
		t.Error("an applied run says nothing was changed")
	}
	in0 := twoAgentRun()
	in0.Undo = "cmtls init --answers a.yaml --yes (TLS level 2 again)"
	if md := Build(in0).Markdown(); !strings.Contains(md, "| Undo | `cmtls init --answers a.yaml --yes` (TLS level 2 again) |") {
		t.Errorf("undo with a remark:\n%s", md)
	}
	// a pipe in a value does not break the table
	in := twoAgentRun()
	in.Result.Plan[0].Items[0].New = "a|b"
	if md := Build(in).Markdown(); !strings.Contains(md, `| a\|b |`) {
		t.Error("a | in a cell is not escaped")
	}
}

func TestDryRunSaysNothingChanged(t *testing.T) {
	in := twoAgentRun()
	in.Result.Applied, in.Result.DryRun, in.Result.Steps = false, true, nil
	in.Events, in.ExitCode, in.Err, in.ServerBackups = nil, 0, nil, nil
	r := Build(in)
	if r.Changed || !r.DryRun || r.Outcome != "dry run: nothing was changed" || !strings.HasPrefix(r.Undo, "nothing to undo") {
		t.Errorf("%+v", r)
	}
	for _, h := range r.Hosts {
		for _, c := range h.Changes {
			if c.State != StateWouldDo {
				t.Errorf("%s %s: %s", h.Name, c.Target, c.State)
			}
		}
	}
	if md := r.Markdown(); !strings.Contains(md, "**Nothing was changed.** This was a dry run") {
		t.Errorf("%s", md)
	}
}

func TestOutcomes(t *testing.T) {
	for _, tc := range []struct {
		res  *steps.Result
		code int
		want string
	}{
		{nil, 2, "bad input: nothing was changed"},
		{nil, 1, "failed before any change (exit 1): nothing was changed"},
		{&steps.Result{}, 130, "interrupted before any change: nothing was changed"},
		{&steps.Result{Applied: true, Interrupted: true}, 130, "interrupted: changes were under way; the hosts below say what was done"},
		{&steps.Result{Applied: true}, 1, "failed (exit 1): the hosts below say what was done"},
		{&steps.Result{Applied: true}, 0, "done and verified"},
	} {
		r := Build(Input{Result: tc.res, ExitCode: tc.code})
		if r.Outcome != tc.want {
			t.Errorf("%+v exit %d: %q, want %q", tc.res, tc.code, r.Outcome, tc.want)
		}
	}
}

func TestCheckPath(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"r.txt", "r", "r.yaml", "r.md.bak"} {
		_, err := Check(filepath.Join(dir, p))
		var ie *InputError
		if !errors.As(err, &ie) || !ie.BadInput() || !strings.Contains(ie.Hint(), ".md") || !strings.Contains(ie.Hint(), ".json") {
			t.Errorf("%s: %v", p, err)
		}
	}
	if f, err := Check(filepath.Join(dir, "R.MD")); err != nil || f != Markdown {
		t.Errorf("R.MD: %v %v", f, err)
	}
	if _, err := Check(filepath.Join(dir, "nodir", "r.md")); err == nil {
		t.Error("a missing directory is accepted")
	}
}

func TestWriteReplacesAtomically(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.md")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, Markdown, Build(twoAgentRun())); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if !strings.HasPrefix(string(b), "# cmtls change record") || st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %q", st.Mode(), b[:20])
	}
	// a directory that cannot be written: an error, nothing half-written
	if err := Write(filepath.Join(t.TempDir(), "no", "r.md"), Markdown, Build(Input{})); err == nil {
		t.Error("no error writing into a missing directory")
	}
}

func TestNewCertificateFingerprint(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "x"}, NotBefore: t0, NotAfter: t0.Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	c, _ := x509.ParseCertificate(der)
	sum := sha256.Sum256(der)
	var parts []string
	for _, b := range sum {
		parts = append(parts, fmt.Sprintf("%02X", b))
	}
	if got := NewCertificate(c, "").SHA256; got != strings.Join(parts, ":") {
		t.Errorf("fingerprint %s, want %s", got, strings.Join(parts, ":"))
	}
}
