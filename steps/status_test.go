package steps

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/remote/cmapi"
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

// clockCM is the fake CM with a server clock of its own (the Date of its
// API answers).
type clockCM struct {
	*fakeCM
	date time.Time
}

func (c clockCM) ServerDate() time.Time { return c.date }

// status is a health check: after init every agent is verified with a
// fresh heartbeat (nil error); an agent whose heartbeats stopped is not
// verified, whatever TLS its last heartbeat came with, and the error names
// it. Freshness is judged on the server's clock, not this machine's.
func TestStatusIsAHealthCheck(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 2, nil)
	if _, _, err := fx.run(Options{}); err != nil {
		t.Fatal(err)
	}
	r := ReadStatus(t.Context(), fx.env(nil))
	if err := r.Err(); err != nil || !r.Healthy || r.HeartbeatInterval != 15 || r.Clock != "local" {
		t.Fatalf("after init: %v healthy %v interval %d clock %q\n%+v", err, r.Healthy, r.HeartbeatInterval, r.Clock, r.Agents)
	}

	// agent2 stops: its last heartbeat (over verified TLS) is an hour old
	fx.cm.mu.Lock()
	fx.cm.down["agent2"] = true
	fx.cm.mu.Unlock()
	r = ReadStatus(t.Context(), fx.env(nil))
	var ue *UnhealthyError
	if err := r.Err(); !errors.As(err, &ue) || len(ue.Hosts) != 1 || !strings.HasPrefix(ue.Hosts[0], "agent2: ") ||
		!strings.Contains(ue.Hosts[0], "last heartbeat is") || r.Healthy {
		t.Fatalf("stopped agent2: %v", err)
	}
	a1, a2 := r.Agents[0], r.Agents[1]
	if !a1.Verified || !a1.HeartbeatFresh || a2.Verified || a2.HeartbeatFresh || a2.TLS != "stale" {
		t.Errorf("agents %+v\n%+v", a1, a2)
	}
	var b strings.Builder
	if err := r.WriteText(&b, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "NOT VERIFIED: its last heartbeat is") || !strings.Contains(b.String(), "NOT healthy: 1 of 2") {
		t.Errorf("status text:\n%s", b.String())
	}

	// The server's clock is an hour ahead of this machine's: every
	// heartbeat is stale by it, although fresh by the local clock.
	fx.cm.mu.Lock()
	fx.cm.down["agent2"] = false
	fx.cm.mu.Unlock()
	env := fx.env(nil)
	env.API = clockCM{fx.cm, time.Now().Add(time.Hour)}
	r = ReadStatus(t.Context(), env)
	if err := r.Err(); err == nil || r.Clock != "server" || r.Agents[0].HeartbeatFresh || r.Agents[1].HeartbeatFresh {
		t.Errorf("judged on the server's clock: %v clock %q %+v", err, r.Clock, r.Agents)
	}
}

// heartbeatInterval reads CM's "Send Agent Heartbeat Every".
func TestHeartbeatInterval(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  []cmapi.ConfigItem
		want time.Duration
	}{
		{nil, 15 * time.Second},
		{[]cmapi.ConfigItem{{Name: "HEARTBEAT_INTERVAL", Value: "5"}}, 5 * time.Second},
		{[]cmapi.ConfigItem{{Name: "x", DisplayName: "Send Agent Heartbeat Every", Default: "7"}}, 7 * time.Second},
		{[]cmapi.ConfigItem{{Name: "HEARTBEAT_INTERVAL", Value: "nonsense"}}, 15 * time.Second},
	} {
		if got := heartbeatInterval(c.cfg); got != c.want {
			t.Errorf("heartbeatInterval(%v) = %s, want %s", c.cfg, got, c.want)
		}
	}
}
