package steps

import (
	"strings"
	"testing"
	"time"
)

// A host status could not read shows its PEM and name checks as unknown,
// not as failed; a reachable one shows yes/no, and its last heartbeat's age.
func TestStatusTextUnreachableIsUnknown(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	r := &StatusReport{Server: ServerStatus{Host: "cm1"}, Agents: []AgentStatus{
		{Host: "agent1", Reachable: true, UseTLS: "1", VerifyCertFile: "/etc/cmf/server.pem", PEMMatches: true, NameMatches: false, TLS: "verified",
			LastHeartbeat: now.Add(-62 * time.Second)},
		{Host: "agent2", Reachable: false, Error: "host agent2: cannot reach 127.0.0.1:9", TLS: "verified"},
	}}
	var b strings.Builder
	if err := r.WriteText(&b, now); err != nil {
		t.Fatal(err)
	}
	var a1, a2 []string
	for _, l := range strings.Split(b.String(), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == "agent1" {
			a1 = f
		}
		if len(f) > 0 && f[0] == "agent2" {
			a2 = f
		}
	}
	if len(a1) < 6 || a1[4] != "yes" || a1[5] != "no" {
		t.Errorf("agent1 row %q, want pem=cert yes, name ok no", a1)
	}
	if len(a1) < 8 || a1[6] != "2026-11-23T11:58:58Z" || a1[7] != "(1m2s" {
		t.Errorf("agent1 row %q, want the last heartbeat with its age (1m2s ago)", a1)
	}
	if len(a2) < 6 || a2[1] != "no" || a2[4] != "?" || a2[5] != "?" {
		t.Errorf("agent2 row %q, want reachable no and both checks ?", a2)
	}
}

// When the CM API gives no settings, status does not claim TLS and SAML
// are off.
func TestStatusTextSettingsUnknownWithoutAPI(t *testing.T) {
	fx := newFixture(t, 1, nil)
	env := fx.env(&Collector{})
	env.API = refusingCM{fx.cm}
	env.init()
	r := ReadStatus(t.Context(), env)
	var b strings.Builder
	if err := r.WriteText(&b, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); strings.Contains(got, ": off") || !strings.Contains(got, "AGENT_TLS): ?") || !strings.Contains(got, "401 Bad credentials") {
		t.Errorf("status text:\n%s", got)
	}
}
