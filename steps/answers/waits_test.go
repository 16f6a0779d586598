package answers

import (
	"strings"
	"testing"
	"time"
)

// The waits of a run against a real CM: 5 minutes unless the verify
// section says otherwise; each parsed strictly and refused when too short.
func TestVerifyWaits(t *testing.T) {
	base := "version: 1\nserver: {host: cm1, api: {url: http://cm1:7180}, keystore: {path: /k, password: {env: P}}}\nagents: {hosts: [a1]}\n"
	f, err := Parse("a.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	f.ApplyDefaults()
	if f.Verify.HeartbeatTimeout.D() != 5*time.Minute || f.Verify.APITimeout.D() != 5*time.Minute || f.Verify.CommandTimeout.D() != 5*time.Minute {
		t.Fatalf("defaults: %+v", f.Verify)
	}
	f, err = Parse("a.yaml", []byte(base+"verify: {api_timeout: 7m, command_timeout: 90s, heartbeat_timeout: 3m}\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.ApplyDefaults()
	if f.Verify.APITimeout.D() != 7*time.Minute || f.Verify.CommandTimeout.D() != 90*time.Second || f.Verify.HeartbeatTimeout.D() != 3*time.Minute {
		t.Fatalf("set: %+v", f.Verify)
	}
	if _, err := Parse("a.yaml", []byte(base+"verify: {api_timout: 7m}\n")); err == nil || !strings.Contains(err.Error(), `unknown key "api_timout"`) {
		t.Fatalf("misspelt wait: %v", err)
	}
	f, err = Parse("a.yaml", []byte(base+"verify:\n  command_timeout: 10ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.ApplyDefaults()
	if err := f.ValidateInit(); err == nil || !strings.Contains(err.Error(), "a.yaml:5:") || !strings.Contains(err.Error(), "verify.command_timeout") {
		t.Fatalf("too short: %v", err)
	}
}
