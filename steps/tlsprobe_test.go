package steps

import (
	"context"
	"crypto/x509"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/daemon/cmserver"
	"github.com/cmtls/cmtls/pki/pkitest"
	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/remotetest"
	"golang.org/x/crypto/ssh"
)

// tlsServer runs the embedded CM server with agent TLS on a certificate
// for localhost signed by a CA; it returns the agent port and the CA PEM
// file.
func tlsServer(t *testing.T) (int, string) {
	t.Helper()
	ca := pkitest.NewCA(t, "Probe CA")
	leaf, key := ca.Leaf(t, "localhost", []string{"localhost"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	dir := t.TempDir()
	ks := filepath.Join(dir, "cm.keystore")
	must(t, os.WriteFile(ks, pkitest.Keystore(t, "jks", "jetty", key, []*x509.Certificate{leaf, ca.Cert}, []byte("changeit")), 0o600))
	pem := filepath.Join(dir, "server.pem")
	must(t, os.WriteFile(pem, pkitest.CertPEM(leaf, ca.Cert), 0o644))
	s := cmserver.Settings{}
	for k, v := range map[string]string{cmserver.AgentTLS: "true", cmserver.KeystorePath: ks, cmserver.KeystorePassword: "changeit"} {
		must(t, s.Set(k, v))
	}
	srv, err := cmserver.New(cmserver.Config{AdminUser: "admin", AdminPassword: []byte("pw"), Settings: s})
	must(t, err)
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	al, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(cmserver.Listeners{HTTP: hl, Agent: al}) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return al.Addr().(*net.TCPAddr).Port, pem
}

// pathHost runs commands with PATH limited to dir (to take the openssl
// branch on a machine that has Python).
type pathHost struct {
	remote.Host
	dir string
}

func (h pathHost) Run(ctx context.Context, cmd string, stdin io.Reader) (*remote.Result, error) {
	return h.Host.Run(ctx, "PATH="+remote.Quote(h.dir)+"; export PATH\n"+cmd, stdin)
}

// opensslOnly makes a directory whose only programs are the ones the
// openssl branch of the probe uses.
func opensslOnly(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, tool := range []string{"openssl", "grep", "head"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("SKIPPING: %s not found", tool)
		}
		must(t, os.Symlink(p, filepath.Join(dir, tool)))
	}
	return dir
}

// pythonOnly makes a directory whose only program is a python3 (the
// Python branch of the probe, on a machine that has openssl too).
func pythonOnly(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		if py, err = exec.LookPath("python3"); err != nil {
			t.Skip("SKIPPING: python3 not found")
		}
	}
	must(t, os.Symlink(py, filepath.Join(dir, "python3")))
	return dir
}

func TestProbeAgentTLSLocal(t *testing.T) {
	t.Parallel()
	port, pem := tlsServer(t)
	otherCA := filepath.Join(t.TempDir(), "other.pem")
	must(t, os.WriteFile(otherCA, pkitest.CertPEM(pkitest.NewCA(t, "Other CA").Cert), 0o644))
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	local := remote.NewLocal("agent1")
	hosts := map[string]remote.Host{"python": pathHost{Host: local, dir: pythonOnly(t)}, "openssl": pathHost{Host: local, dir: opensslOnly(t)}}
	for tool, h := range hosts {
		for _, tc := range []struct {
			name, host string
			port       int
			ca         string
			verified   bool
			reason     string
		}{
			{"good", "localhost", port, pem, true, ""},
			{"name not in the certificate", "127.0.0.1", port, pem, false, "match"},
			{"untrusted certificate", "localhost", port, otherCA, false, "verif"},
			{"nothing listening", "localhost", closedPort, pem, false, "efused"},
			{"no CA file", "localhost", port, pem + ".missing", false, "cannot read the CA file"},
		} {
			t.Run(tool+"/"+tc.name, func(t *testing.T) {
				p, err := ProbeAgentTLS(context.Background(), h, tc.host, tc.port, tc.ca)
				if err != nil {
					t.Fatal(err)
				}
				if p.Verified != tc.verified || !strings.Contains(p.Reason, tc.reason) {
					t.Errorf("probe = %+v, want verified=%v reason containing %q", p, tc.verified, tc.reason)
				}
				if tc.name == "good" && !strings.Contains(p.Tool, map[string]string{"python": "python", "openssl": "openssl"}[tool]) {
					t.Errorf("tool = %q", p.Tool)
				}
			})
		}
	}
	// Neither tool: an error, not a verdict.
	if _, err := ProbeAgentTLS(context.Background(), pathHost{Host: local, dir: t.TempDir()}, "localhost", port, pem); err == nil || !strings.Contains(err.Error(), "neither Python") {
		t.Errorf("no tool: %v", err)
	}
	if _, err := ProbeAgentTLS(context.Background(), local, "", port, pem); err == nil {
		t.Error("empty server host accepted")
	}
}

// TestProbeAgentTLSOverSSHD: the same probe over a real OpenSSH sshd.
func TestProbeAgentTLSOverSSHD(t *testing.T) {
	t.Parallel()
	remotetest.RequireSSHD(t)
	port, pem := tlsServer(t)
	keyDir := t.TempDir()
	key := remotetest.NewKey(t, keyDir, "id_ed25519", nil)
	sshd := remotetest.StartSSHD(t, remotetest.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{key.Public()}})
	kh := filepath.Join(keyDir, "known_hosts")
	remotetest.AddKnownHost(t, kh, net.JoinHostPort("127.0.0.1", strconv.Itoa(sshd.Port)), sshd.HostKey)
	u, err := user.Current()
	must(t, err)
	d, err := remote.NewDialer(remote.Options{IdentityFiles: []string{key.Path}, KnownHostsFiles: []string{kh},
		SSHConfigPath: "none", HomeDir: keyDir, User: u.Username})
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := d.Dial(ctx, remote.Target{Name: "agent1", Address: "127.0.0.1", Port: sshd.Port})
	must(t, err)
	defer h.Close()
	if p, err := ProbeAgentTLS(ctx, h, "localhost", port, pem); err != nil || !p.Verified {
		t.Fatalf("over sshd: %+v, %v", p, err)
	}
	if p, err := ProbeAgentTLS(ctx, h, "127.0.0.1", port, pem); err != nil || p.Verified {
		t.Fatalf("over sshd, name not in the certificate: %+v, %v", p, err)
	}
}

func TestParseProbe(t *testing.T) {
	for _, tc := range []struct {
		out      string
		code     int
		verified bool
		err      string
	}{
		{"tool: python3 ssl\nverified: TLSv1.3\n", 0, true, ""},
		{"tool: openssl s_client\nnot verified: verify error:num=62:hostname mismatch\n", 1, false, ""},
		{"tool: none\n", 127, false, "neither Python"},
		{"garbage", 2, false, "unexpected answer"},
		{"tool: python3 ssl\nverified: TLSv1.3\n", 1, false, "unexpected"},
	} {
		p, err := parseProbe("h", &remote.Result{Code: tc.code, Stdout: []byte(tc.out)})
		if p.Verified != tc.verified || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q exit %d: %+v, %v", tc.out, tc.code, p, err)
		}
	}
}

// FuzzParseProbe: whatever a host prints, the probe is verified only with
// exit 0, one "verified:" line and no "not verified:" line.
func FuzzParseProbe(f *testing.F) {
	f.Add("tool: python3 ssl\nverified: TLSv1.3\n", 0)
	f.Add("tool: openssl s_client\nnot verified: verify error:num=62:hostname mismatch\n", 1)
	f.Add("tool: none\n", 127)
	f.Fuzz(func(t *testing.T, out string, code int) {
		p, err := parseProbe("h", &remote.Result{Code: code, Stdout: []byte(out)})
		if err != nil && p.Verified {
			t.Fatal("verified with an error")
		}
		if !p.Verified {
			return
		}
		seen := false
		for _, ln := range strings.Split(out, "\n") {
			ln = strings.TrimSpace(ln)
			if strings.HasPrefix(ln, "not verified: ") {
				t.Fatalf("verified despite %q", ln)
			}
			seen = seen || strings.HasPrefix(ln, "verified: ")
		}
		if code != 0 || !seen {
			t.Fatalf("verified from %q exit %d", out, code)
		}
	})
}
