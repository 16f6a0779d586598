package cmserver

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseHeartbeat(t *testing.T) {
	t.Parallel()
	hb, err := ParseHeartbeat([]byte(`{"hostId":"u-1","hostname":"agent1.example.com","ipAddress":"10.0.0.1","agentVersion":"7","tls":{"enabled":true,"verified":true}}`))
	if err != nil || hb.HostID != "u-1" || !hb.TLS.Verified {
		t.Fatalf("ParseHeartbeat = %+v, %v", hb, err)
	}
	for _, bad := range []string{
		``, `{}`, `{"hostId":"a"}`, `{"hostId":"a","hostname":"h","extra":1}`,
		`{"hostId":"a","hostname":"h b"}`, `{"hostId":"a","hostname":"h","ipAddress":"999.1.1.1"}`,
		`{"hostId":"a\u0001","hostname":"h"}`, `{"hostId":"a","hostname":"h"} {}`,
		`{"hostId":"` + strings.Repeat("a", 200) + `","hostname":"h"}`,
	} {
		if _, err := ParseHeartbeat([]byte(bad)); err == nil {
			t.Errorf("ParseHeartbeat(%q) accepted", bad)
		}
	}
}

func FuzzParseHeartbeat(f *testing.F) {
	f.Add([]byte(`{"hostId":"u-1","hostname":"agent1","ipAddress":"127.0.0.1","agentVersion":"7","cmGuid":"g","tls":{"enabled":true,"verified":false}}`))
	f.Add([]byte(`{"hostId":"","hostname":""}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		hb, err := ParseHeartbeat(b)
		if err != nil {
			return
		}
		if hb.HostID == "" || hb.Hostname == "" || len(hb.HostID) > 128 || strings.ContainsAny(hb.Hostname, " /\\\n") {
			t.Fatalf("accepted %+v", hb)
		}
	})
}

func TestSettingsRoundTrip(t *testing.T) {
	t.Parallel()
	s := must(t, Settings{}, "agent_tls", "true", KeystorePassword, "p#ss word")
	got, err := ParseSettings(MarshalSettings(s))
	if err != nil || got.Get(AgentTLS) != "true" || got.Get(KeystorePassword) != "p#ss word" || got.Get(SAMLEntityID) != "clouderaManager" {
		t.Fatalf("round trip = %v, %v", got, err)
	}
	for _, bad := range []string{`{"version":2,"items":{}}`, `{"version":1,"items":{"NOPE":"1"}}`, `{"version":1,"items":{"WEB_TLS":"yes"}}`, `{"version":1,"x":1}`, `nope`} {
		if _, err := ParseSettings([]byte(bad)); err == nil {
			t.Errorf("ParseSettings(%q) accepted", bad)
		}
	}
}

func FuzzParseSettings(f *testing.F) {
	f.Add(MarshalSettings(Settings{AgentTLS: "true", KeystorePath: "/x"}))
	f.Add([]byte(`{"version":1,"items":{"HEARTBEAT_INTERVAL":"0"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSettings(b)
		if err != nil {
			return
		}
		again, err := ParseSettings(MarshalSettings(s))
		if err != nil || !bytes.Equal(MarshalSettings(again), MarshalSettings(s)) {
			t.Fatalf("not stable: %v", err)
		}
	})
}

// TestRunKeepsPorts: Run binds (0 = pick), records the ports, and a second
// Run (a restart) binds the same ones and still knows the hosts.
func TestRunKeepsPorts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pw"), []byte(adminPW+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "server.yaml"), []byte("ports: {http: 0, https: 0, agent: 0}\nadmin: {user: admin, password_file: pw}\n"), 0o600)
	fc, err := LoadFileConfig(filepath.Join(dir, "server.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	runOnce := func(hb bool) State {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		ready := make(chan *Server, 1)
		go func() {
			done <- Run(ctx, fc, RunOptions{Ready: func(s *Server, _ Listeners) { ready <- s }})
		}()
		var srv *Server
		select {
		case srv = <-ready:
		case err := <-done:
			t.Fatalf("Run: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("Run not ready")
		}
		st, _ := ReadState(fc.State)
		if hb {
			heartbeat(t, httpClient(), "http://127.0.0.1:"+itoa(st.Ports.Agent), Heartbeat{HostID: "h1", Hostname: "agent1"})
		}
		if len(srv.Hosts()) != 1 {
			t.Errorf("hosts = %+v", srv.Hosts())
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return st
	}
	first := runOnce(true)
	second := runOnce(false)
	if first.Ports != second.Ports || first.Ports.Agent == 0 || first.Ports.HTTPS == 0 || first.GUID != second.GUID {
		t.Fatalf("ports/guid changed across restart: %+v vs %+v", first, second)
	}
	if _, err := os.Stat(fc.Pid); !os.IsNotExist(err) {
		t.Fatal("pid file left after Run ended")
	}
	log, _ := os.ReadFile(fc.Log)
	if !strings.Contains(string(log), "Started SCM Server.") || !strings.Contains(string(log), "Stopped SCM Server.") {
		t.Fatalf("log:\n%s", log)
	}
}

func FuzzParseFileConfig(f *testing.F) {
	f.Add([]byte("host: localhost\nports: {http: 7180, https: 7183, agent: 7182}\nadmin: {user: admin, password_file: pw}\n"))
	f.Add([]byte("admin: {password_file: /x}\nports: {agent: -1}\n"))
	f.Add([]byte("bogus: 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseFileConfig(b, "/etc/cmtls/server.yaml")
		if err != nil {
			return
		}
		for _, p := range []string{c.Admin.PasswordFile, c.Settings, c.State, c.Log, c.Pid} {
			if !filepath.IsAbs(p) {
				t.Fatalf("relative path %q accepted", p)
			}
		}
		if c.Ports.Agent < 0 || c.Ports.Agent > 65535 || c.Ports.HTTP < 0 || c.Ports.HTTPS > 65535 {
			t.Fatalf("port out of range: %+v", c.Ports)
		}
	})
}
