package steps

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the .golden files")

// TestPlanTextGolden pins the --dry-run format: every file, key, setting
// and service with old and new values, secrets redacted.
func TestPlanTextGolden(t *testing.T) {
	p := Plan{
		{Step: "enable-agent-tls", Title: "Step 1: TLS encryption for agents (level 1)", Items: []Item{
			{Kind: KindSetting, Target: "KEYSTORE_PATH", New: "/opt/cloudera/security/jks/cm.keystore"},
			{Kind: KindSetting, Target: "KEYSTORE_PASSWORD", New: "[redacted]", Note: "env CMTLS_KEYSTORE_PASSWORD"},
			{Kind: KindSetting, Target: "AGENT_TLS", Old: "false", New: "true", Note: "Use TLS Encryption for Agents"},
		}},
		{Step: "push-cert", Title: "Step 3: copy the server PEM to the agents, set verify_cert_file", Items: []Item{
			{Host: "agent1.example.com", Kind: KindFile, Target: "/etc/cmf/server.pem", New: "sha256:0123456789abcdef 0644"},
			{Host: "agent1.example.com", Kind: KindINI, Target: "/etc/cloudera-scm-agent/config.ini [Security] use_tls", Old: "0", New: "1"},
			{Host: "agent1.example.com", Kind: KindINI, Target: "/etc/cloudera-scm-agent/config.ini [Security] verify_cert_file", Old: "(unset)", New: "/etc/cmf/server.pem"},
		}},
		{Step: "restart-agents", Title: "Step 5: restart the agents (canary first)", Items: []Item{
			{Host: "agent1.example.com", Kind: KindService, Target: "service cloudera-scm-agent restart", Note: "canary; config.ini or PEM changed"},
		}},
		{Step: "console-tls", Title: "Step 7: TLS for the Admin Console", Notes: []string{"tls.admin_console is false: console TLS left as it is"}},
	}
	var got bytes.Buffer
	if err := p.WriteText(&got); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "plan.golden")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestPlanTextGolden -update)", err)
	}
	if d := cmp.Diff(string(want), got.String()); d != "" {
		t.Errorf("plan text (-want +got):\n%s", d)
	}
}
