package agent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmtls/cmtls/daemon/cmserver"
	"github.com/cmtls/cmtls/pki/pkitest"
)

// syncBuf is a log sink safe for the server's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer runs an embedded CM server on 127.0.0.1:0 whose agent port
// serves chain (TLS) or plain HTTP (chain nil).
func startServer(t *testing.T, chain []*x509.Certificate, key crypto.Signer) (*cmserver.Server, int) {
	t.Helper()
	settings := cmserver.Settings{}
	if chain != nil {
		dir := t.TempDir()
		ks := filepath.Join(dir, "cm.keystore")
		pass := []byte("changeit")
		if err := os.WriteFile(ks, pkitest.Keystore(t, "jks", "jetty", key, chain, pass), 0o600); err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]string{cmserver.AgentTLS: "true", cmserver.KeystorePath: ks, cmserver.KeystorePassword: string(pass)} {
			if err := settings.Set(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	srv, err := cmserver.New(cmserver.Config{AdminUser: "admin", AdminPassword: []byte("admin-pw"), Settings: settings, Log: &syncBuf{}})
	if err != nil {
		t.Fatal(err)
	}
	ls := cmserver.Listeners{HTTP: listen(t), Agent: listen(t)}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ls) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return srv, ls.Agent.Addr().(*net.TCPAddr).Port
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func writePEM(t *testing.T, certs ...*x509.Certificate) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "server.pem")
	if err := os.WriteFile(p, pkitest.CertPEM(certs...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// configINI is the shipped layout with the keys under test set.
func configINI(host string, port int, useTLS bool, verifyFile, verifyDir string, depth int) []byte {
	b, err := os.ReadFile("testdata/config.ini")
	if err != nil {
		panic(err)
	}
	s := string(b)
	s = strings.Replace(s, "server_host=localhost", "server_host="+host, 1)
	s = strings.Replace(s, "server_port=7182", fmt.Sprintf("server_port=%d", port), 1)
	if useTLS {
		s = strings.Replace(s, "use_tls=0", "use_tls=1", 1)
	}
	if verifyFile != "" {
		s = strings.Replace(s, "# verify_cert_file=", "verify_cert_file="+verifyFile, 1)
	}
	if verifyDir != "" {
		s = strings.Replace(s, "# verify_cert_dir=", "verify_cert_dir="+verifyDir, 1)
	}
	if depth >= 0 {
		s = strings.Replace(s, "max_cert_depth=9", fmt.Sprintf("max_cert_depth=%d", depth), 1)
	}
	return []byte(s)
}

func TestVerificationTable(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca := pkitest.NewCA(t, "cmtls test root")
	otherCA := pkitest.NewCA(t, "some other root")
	inter := ca.Intermediate(t, "cmtls test intermediate")
	valid := func(cn string, sans ...string) ([]*x509.Certificate, crypto.Signer) {
		c, k := ca.Leaf(t, cn, sans, now.Add(-time.Hour), now.Add(24*time.Hour))
		return []*x509.Certificate{c}, k
	}
	right, rightKey := valid("localhost", "localhost")
	expired, expiredKey := ca.Leaf(t, "localhost", []string{"localhost"}, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	future, futureKey := ca.Leaf(t, "localhost", []string{"localhost"}, now.Add(24*time.Hour), now.Add(48*time.Hour))
	cnOnly, cnOnlyKey := valid("cm1.example.com")
	sanWrong, sanWrongKey := valid("localhost", "cm1.example.com")
	chained, chainedKey := inter.Leaf(t, "localhost", []string{"localhost"}, now.Add(-time.Hour), now.Add(24*time.Hour))
	caPEM := writePEM(t, ca.Cert)
	otherPEM := writePEM(t, otherCA.Cert)
	caDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(caDir, "9d66eef0.0"), pkitest.CertPEM(ca.Cert), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		chain      []*x509.Certificate // nil: plain server
		key        crypto.Signer
		host       string
		useTLS     bool
		verifyFile string
		verifyDir  string
		depth      int
		refused    bool // no server at all
		wantOK     bool
		wantTLS    cmserver.TLSState
		wantLog    string
	}{
		{name: "right cert", chain: right, key: rightKey, host: "localhost", useTLS: true, verifyFile: caPEM, depth: -1,
			wantOK: true, wantTLS: cmserver.TLSState{Enabled: true, Verified: true}, wantLog: "INFO     Heartbeating to localhost:PORT succeeded."},
		{name: "right cert via verify_cert_dir", chain: right, key: rightKey, host: "localhost", useTLS: true, verifyDir: caDir, depth: -1,
			wantOK: true, wantTLS: cmserver.TLSState{Enabled: true, Verified: true}},
		{name: "intermediate chain", chain: []*x509.Certificate{chained, inter.Cert}, key: chainedKey, host: "localhost", useTLS: true, verifyFile: caPEM, depth: -1,
			wantOK: true, wantTLS: cmserver.TLSState{Enabled: true, Verified: true}},
		{name: "chain deeper than max_cert_depth", chain: []*x509.Certificate{chained, inter.Cert}, key: chainedKey, host: "localhost", useTLS: true, verifyFile: caPEM, depth: 1,
			wantLog: "SSLError: certificate verify failed"},
		{name: "expired", chain: []*x509.Certificate{expired}, key: expiredKey, host: "localhost", useTLS: true, verifyFile: caPEM, depth: -1,
			wantLog: "SSLError: certificate verify failed"},
		{name: "not yet valid", chain: []*x509.Certificate{future}, key: futureKey, host: "localhost", useTLS: true, verifyFile: caPEM, depth: -1,
			wantLog: "SSLError: certificate verify failed"},
		{name: "CN mismatch", chain: cnOnly, key: cnOnlyKey, host: "localhost", useTLS: true, verifyFile: caPEM, depth: -1,
			wantLog: "WrongHost: Peer certificate commonName does not match host, expected localhost, got cm1.example.com"},
		{name: "SAN mismatch", chain: sanWrong, key: sanWrongKey, host: "localhost", useTLS: true, verifyFile: caPEM, depth: -1,
			wantLog: "WrongHost: Peer certificate subjectAltName does not match host, expected localhost, got DNS:cm1.example.com"},
		{name: "IP in server_host vs DNS SAN", chain: right, key: rightKey, host: "127.0.0.1", useTLS: true, verifyFile: caPEM, depth: -1,
			wantLog: "WrongHost: Peer certificate subjectAltName does not match host, expected 127.0.0.1, got DNS:localhost"},
		{name: "wrong CA", chain: right, key: rightKey, host: "localhost", useTLS: true, verifyFile: otherPEM, depth: -1,
			wantLog: "SSLError: certificate verify failed"},
		{name: "no verify_cert_file connects unverified (level 1)", chain: sanWrong, key: sanWrongKey, host: "localhost", useTLS: true, depth: -1,
			wantOK: true, wantTLS: cmserver.TLSState{Enabled: true, Verified: false}},
		{name: "use_tls=1 against a plain port", host: "localhost", useTLS: true, verifyFile: caPEM, depth: -1,
			wantLog: "SSLError: unknown protocol"},
		{name: "use_tls=0 against a TLS port", chain: right, key: rightKey, host: "localhost", depth: -1,
			wantLog: "ConnectionClosedException: Reader read 0 bytes."},
		{name: "plain agent, plain server (level 0)", host: "localhost", depth: -1,
			wantOK: true, wantTLS: cmserver.TLSState{}},
		{name: "connection refused", refused: true, host: "127.0.0.1", depth: -1,
			wantLog: "error: [Errno 111] Connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var srv *cmserver.Server
			var port int
			if tc.refused {
				l := listen(t)
				port = l.Addr().(*net.TCPAddr).Port
				l.Close()
			} else {
				srv, port = startServer(t, tc.chain, tc.key)
			}
			cfg, err := ParseConfig(configINI(tc.host, port, tc.useTLS, tc.verifyFile, tc.verifyDir, tc.depth))
			if err != nil {
				t.Fatal(err)
			}
			log := &syncBuf{}
			a, err := New(Options{Config: cfg, Log: log, Interval: time.Second, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			res := a.Heartbeat(context.Background())
			if res.OK != tc.wantOK {
				t.Fatalf("heartbeat ok = %v (%v), want %v; log:\n%s", res.OK, res.Err, tc.wantOK, log)
			}
			want := strings.ReplaceAll(tc.wantLog, "PORT", fmt.Sprint(port))
			if !strings.Contains(log.String(), want) {
				t.Errorf("log lacks %q:\n%s", want, log)
			}
			if !tc.wantOK {
				wantHead := fmt.Sprintf("MainThread agent        ERROR    Heartbeating to %s:%d failed.", tc.host, port)
				if !strings.Contains(log.String(), wantHead) {
					t.Errorf("log lacks %q:\n%s", wantHead, log)
				}
			}
			if srv == nil {
				return
			}
			hosts := srv.Hosts()
			if !tc.wantOK {
				if len(hosts) != 0 {
					t.Fatalf("server received a heartbeat it should not have: %+v", hosts)
				}
				return
			}
			if len(hosts) != 1 || hosts[0].HostID != a.HostID() || hosts[0].TLS != tc.wantTLS {
				t.Fatalf("server hosts = %+v, want one with TLS %+v", hosts, tc.wantTLS)
			}
		})
	}
}

func TestLogLineLayout(t *testing.T) {
	t.Parallel()
	log := &syncBuf{}
	cfg, _ := ParseConfig([]byte("[General]\nserver_host=cm1.example.com\n"))
	a, err := New(Options{Config: cfg, Log: log, PID: 4242, Now: func() time.Time { return time.Date(2026, 11, 23, 18, 40, 1, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	a.logf("ERROR", "Heartbeating to %s:%d failed.", "cm1.example.com", 7182)
	want := "[23/Nov/2026 18:40:01 +0000] 4242 MainThread agent        ERROR    Heartbeating to cm1.example.com:7182 failed.\n"
	if log.String() != want {
		t.Fatalf("got  %q\nwant %q", log.String(), want)
	}
}

func TestGUIDChangeRefused(t *testing.T) {
	t.Parallel()
	_, port := startServer(t, nil, nil)
	lib := t.TempDir()
	os.WriteFile(filepath.Join(lib, "cm_guid"), []byte("old-guid\n"), 0o644)
	cfg, _ := ParseConfig(configINI("127.0.0.1", port, false, "", "", -1))
	log := &syncBuf{}
	a, err := New(Options{Config: cfg, Log: log, LibDir: lib})
	if err != nil {
		t.Fatal(err)
	}
	if res := a.Heartbeat(context.Background()); res.OK {
		t.Fatal("heartbeat accepted a changed CM GUID")
	}
	if !strings.Contains(log.String(), "ERROR    Error, CM server guid updated, expected old-guid, received ") {
		t.Fatalf("log:\n%s", log)
	}
	// The uuid persisted in lib_dir.
	if b, err := os.ReadFile(filepath.Join(lib, "uuid")); err != nil || strings.TrimSpace(string(b)) != a.HostID() {
		t.Fatalf("uuid = %q, %v", b, err)
	}
}
