package cmd

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cmtls/cmtls/steps/answers"
	"github.com/cmtls/cmtls/wizard"
)

// `cmtls man --dir DIR` writes one section-1 page per command, and man
// reads them.
func TestManPages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man")
	f, _, errOut := testFactory(nil)
	if code := Run(context.Background(), f, []string{"man", "--dir", dir}); code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, p := range []string{"cmtls.1", "cmtls-init.1", "cmtls-agents-push.1", "cmtls-saml-configure.1", "cmtls-man.1"} {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), ".nh\n.TH \"CMTLS\" \"1\"") || !strings.Contains(string(b), ".SH NAME") {
			t.Fatalf("%s:\n%.300s", p, b)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "cmtls-init.1"))
	for _, want := range []string{"verify-heartbeats", "--only", "--no-input", "--limit"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("cmtls-init.1 lacks %q", want)
		}
	}
	if man, err := exec.LookPath("man"); err == nil {
		out, err := exec.Command(man, "-l", "-P", "cat", filepath.Join(dir, "cmtls-init.1")).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "cmtls-init") {
			t.Errorf("man -l: %v\n%.500s", err, out)
		}
	}
	f, _, _ = testFactory(nil)
	if code := Run(context.Background(), f, []string{"man"}); code != 2 {
		t.Fatalf("no --dir: exit %d", code)
	}
}

func complete(t *testing.T, args ...string) string {
	t.Helper()
	f, out, errOut := testFactory(nil)
	if code := Run(context.Background(), f, append([]string{"__complete"}, args...)); code != 0 {
		t.Fatalf("%v: exit %d\n%s", args, code, errOut)
	}
	return out.String()
}

// Completion of step ids, hosts and inventory groups.
func TestCompletion(t *testing.T) {
	got := complete(t, "init", "--only", "")
	for _, id := range []string{"enable-agent-tls\t", "restart-agents\t", "console-tls\t"} {
		if !strings.Contains(got, id) {
			t.Errorf("--only: lacks %q:\n%s", id, got)
		}
	}
	if got := complete(t, "init", "--skip", "push-cert,"); !strings.Contains(got, "push-cert,restart-server") {
		t.Errorf("--skip after a comma:\n%s", got)
	}
	dir := t.TempDir()
	inv := filepath.Join(dir, "hosts.ini")
	if err := os.WriteFile(inv, []byte("[rack1]\nagent1\n[rack2]\nagent2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ans := filepath.Join(dir, "a.yaml")
	if err := os.WriteFile(ans, []byte("version: 1\nagents:\n  hosts: [extra1]\n  inventory: hosts.ini\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got = complete(t, "agents", "push", "--answers", ans, "--limit", "")
	for _, want := range []string{"extra1\t", "agent1\t", "agent2\t", "rack1\tinventory group", "rack2\t"} {
		if !strings.Contains(got, want) {
			t.Errorf("--limit: lacks %q:\n%s", want, got)
		}
	}
	if got := complete(t, "agents", "push", "--answers", ans, "--limit", "rack1:!"); !strings.Contains(got, "rack1:!agent1") {
		t.Errorf("--limit after ':!':\n%s", got)
	}
}

// --limit keeps the agent hosts a pattern selects, with the
// inventory's groups; a pattern that matches nothing is bad input.
func TestLimitHosts(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hosts.ini"), []byte("[rack1]\nagent1\nagent2\n[rack2]\nagent3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := &answers.File{Dir: dir, Agents: &answers.Agents{Inventory: "hosts.ini"}}
	hosts := []answers.AgentHost{{Name: "solo"}, {Name: "agent1"}, {Name: "agent2"}, {Name: "agent3"}}
	f, _, _ := testFactory(nil)
	for pattern, want := range map[string]string{"": "solo agent1 agent2 agent3", "rack1:!agent2": "agent1", "solo,rack2": "solo agent3"} {
		f.Limit = pattern
		got, err := f.limitHosts(file, hosts)
		var names []string
		for _, h := range got {
			names = append(names, h.Name)
		}
		if err != nil || strings.Join(names, " ") != want {
			t.Errorf("%q: %v %v", pattern, names, err)
		}
	}
	f.Limit = "rack9"
	if _, err := f.limitHosts(file, hosts); err == nil || exitCode(err) != ExitUsage || !strings.Contains(err.Error(), "rack9") {
		t.Fatalf("rack9: %v", err)
	}
}

// The wizards' file checks read what the user names: an inventory that is
// missing or lists no host is refused, a CA file must be readable; an
// answers file here that turned console TLS on offers https and its PEM.
func TestCompleteDiscovered(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hosts.ini"), []byte("[agents]\na1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty.ini"), []byte("# nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, _, _ := testFactory(nil)
	var d wizard.Discovered
	completeDiscovered(context.Background(), f, &d, dir)
	if err := d.CheckInventory("hosts.ini"); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"missing.ini": "cannot read the inventory", "empty.ini": "no hosts"} {
		if err := d.CheckInventory(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", p, err)
		}
	}
	if err := d.CheckFile("hosts.ini"); err != nil || d.CheckFile("missing.pem") == nil {
		t.Fatalf("CheckFile: %v", err)
	}
	if d.ConsoleTLS {
		t.Fatal("console TLS without a reason")
	}
}
