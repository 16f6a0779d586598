package agentcfg

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/steps/ini"
)

// testPEM makes a self-signed certificate (no key is kept).
func testPEM(t *testing.T, cn string) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Unix(1700000000, 0), NotAfter: time.Unix(1900000000, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

type fixture struct {
	dir, cfg, pem string
	spec          Spec
	orig          []byte
}

func newFixture(t *testing.T, sample string) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{dir: dir, cfg: filepath.Join(dir, "etc/cloudera-scm-agent/config.ini"), pem: filepath.Join(dir, "etc/cmf/server.pem")}
	if err := os.MkdirAll(filepath.Dir(f.cfg), 0o755); err != nil {
		t.Fatal(err)
	}
	if sample != "" {
		b, err := os.ReadFile(filepath.Join("../../testdata/config.ini", sample))
		if err != nil {
			t.Fatal(err)
		}
		f.orig = b
		if err := os.WriteFile(f.cfg, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	f.spec = Spec{PEM: testPEM(t, "cm.example.com"), PEMDest: f.pem, ConfigPath: f.cfg, UseTLS: true,
		RestartCommand: "echo restart >> " + remote.Quote(filepath.Join(dir, "restarts")),
		CheckCommand:   "test -f " + remote.Quote(filepath.Join(dir, "restarts")), CheckRetries: 1}
	return f
}

func (f *fixture) restarts(t *testing.T) int {
	b, err := os.ReadFile(filepath.Join(f.dir, "restarts"))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "restart")
}

func TestApplyThenUnchanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, "stock.ini")
	h := remote.NewLocal("local")
	p, err := Plan(ctx, h, f.spec)
	if err != nil {
		t.Fatal(err)
	}
	if !p.ConfigChanged || !p.PEMChanged || !p.Restart || !p.FirstRun || p.PEMOldSHA256 != "" {
		t.Fatalf("plan = %+v", p)
	}
	if p.Keys[0].Old != "0" || p.Keys[0].New != "1" || p.Keys[1].OldSet {
		t.Fatalf("keys = %+v", p.Keys)
	}
	a, err := Apply(ctx, h, p, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if !a.ConfigChanged || !a.PEMChanged || !a.Restarted || !a.Verified {
		t.Fatalf("applied = %+v", a)
	}
	// bytes on disk
	got, _ := os.ReadFile(f.cfg)
	want, _, _, _ := ini.Set(f.orig, "Security", []ini.KV{{Key: "use_tls", Value: "1"}, {Key: "verify_cert_file", Value: f.pem}})
	if !bytes.Equal(got, want) {
		t.Fatalf("config.ini not as expected")
	}
	if v, _, _ := ini.Get(got, "Security", "verify_cert_file"); v != f.pem {
		t.Fatalf("verify_cert_file = %q", v)
	}
	if b, _ := os.ReadFile(f.pem); !bytes.Equal(b, f.spec.PEM) {
		t.Fatal("pem differs")
	}
	for path, mode := range map[string]os.FileMode{f.cfg: 0o640, f.pem: 0o644, filepath.Dir(f.pem): 0o755 | os.ModeDir} {
		st, err := os.Stat(path)
		if err != nil || st.Mode() != mode {
			t.Fatalf("%s: mode %v, want %v (%v)", path, st.Mode(), mode, err)
		}
	}
	if b, _ := os.ReadFile(OrigPath(f.cfg)); !bytes.Equal(b, f.orig) {
		t.Fatal(".cmtls.orig is not the original")
	}
	if b, _ := os.ReadFile(a.BackupPath); !bytes.Equal(b, f.orig) || !strings.Contains(a.BackupPath, "20260102T030405") {
		t.Fatalf("backup %s is not the replaced file", a.BackupPath)
	}
	if _, err := os.Stat(PendingPath(f.cfg)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("restart marker left behind")
	}
	if n := f.restarts(t); n != 1 {
		t.Fatalf("restarts = %d", n)
	}
	// second run: nothing to do, nothing written, no restart
	p2, err := Plan(ctx, h, f.spec)
	if err != nil {
		t.Fatal(err)
	}
	if p2.Changed() || p2.FirstRun {
		t.Fatalf("second plan = %+v", p2)
	}
	a2, err := Apply(ctx, h, p2, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if a2.Restarted || a2.ConfigChanged || !a2.Verified || f.restarts(t) != 1 {
		t.Fatalf("second apply = %+v, restarts %d", a2, f.restarts(t))
	}
	// rollback: byte for byte, PEM removed (cmtls created it)
	r, err := Restore(ctx, h, f.cfg, f.pem)
	if err != nil {
		t.Fatal(err)
	}
	if !r.ConfigChanged || !r.PEMRemoved {
		t.Fatalf("restored = %+v", r)
	}
	if b, _ := os.ReadFile(f.cfg); !bytes.Equal(b, f.orig) {
		t.Fatal("config.ini not restored byte for byte")
	}
	if st, _ := os.Stat(f.cfg); st.Mode() != 0o640 {
		t.Fatalf("restored mode %v", st.Mode())
	}
	if _, err := os.Stat(f.pem); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("pem not removed")
	}
}

func TestRestoreKeepsPreexistingPEM(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, "stock.ini")
	old := testPEM(t, "old.example.com")
	if err := os.MkdirAll(filepath.Dir(f.pem), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.pem, old, 0o600); err != nil {
		t.Fatal(err)
	}
	h := remote.NewLocal("local")
	p, err := Plan(ctx, h, f.spec)
	if err != nil {
		t.Fatal(err)
	}
	if p.PEMOldSHA256 == "" || !p.PEMChanged {
		t.Fatalf("plan = %+v", p)
	}
	if _, err := Apply(ctx, h, p, time.Now()); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(f.pem); st.Mode() != 0o644 {
		t.Fatalf("pem mode %v, want 0644", st.Mode())
	}
	if _, err := Restore(ctx, h, f.cfg, f.pem); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(f.pem); !bytes.Equal(b, old) {
		t.Fatal("the PEM that was there before cmtls is not back")
	}
}

func TestPlanErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := remote.NewLocal("local")
	for _, tc := range []struct {
		name, sample string
		content      []byte
		want         error
		hint         string
	}{
		{name: "missing", want: ErrConfigMissing, hint: "does not create it"},
		{name: "no security", content: []byte("[General]\nserver_host=cm\n"), want: ErrNoSecuritySection, hint: "[Security]"},
		{name: "lower-case section", content: []byte("[security]\nuse_tls=0\n"), want: ErrNoSecuritySection, hint: "[Security]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "")
			if tc.content != nil {
				if err := os.WriteFile(f.cfg, tc.content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Plan(ctx, h, f.spec)
			var he *HostError
			if !errors.Is(err, tc.want) || !errors.As(err, &he) || !strings.Contains(he.Hint(), tc.hint) {
				t.Fatalf("err = %v (hint %q), want %v", err, hintOf(err), tc.want)
			}
			// nothing created
			if _, err := os.Stat(f.pem); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("plan wrote the PEM")
			}
		})
	}
}

func hintOf(err error) string {
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return h.Hint()
	}
	return ""
}

func TestRestartFailureIsRetriedOnRerun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, "stock.ini")
	h := remote.NewLocal("local")
	good := f.spec.RestartCommand
	f.spec.RestartCommand = "echo agent failed to start >&2; exit 1"
	p, err := Plan(ctx, h, f.spec)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Apply(ctx, h, p, time.Now())
	var he *HostError
	if !errors.As(err, &he) || he.Op != "restart" || !strings.Contains(err.Error(), "agent failed to start") {
		t.Fatalf("err = %v", err)
	}
	// files are in place, but the restart is still owed: the next plan says so
	f.spec.RestartCommand = good
	p2, err := Plan(ctx, h, f.spec)
	if err != nil {
		t.Fatal(err)
	}
	if p2.ConfigChanged || p2.PEMChanged || !p2.RestartPending || !p2.Restart {
		t.Fatalf("plan after failed restart = %+v", p2)
	}
	a, err := Apply(ctx, h, p2, time.Now())
	if err != nil || !a.Restarted || f.restarts(t) != 1 {
		t.Fatalf("apply = %+v, %v, restarts %d", a, err, f.restarts(t))
	}
	p3, _ := Plan(ctx, h, f.spec)
	if p3.Changed() {
		t.Fatalf("third plan = %+v", p3)
	}
}

func TestPEMDirectoriesAreMadeTraversable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, "stock.ini")
	f.spec.PEMDest = filepath.Join(f.dir, "opt/cloudera/security/x509/server.pem")
	h := remote.NewLocal("local")
	p, err := Plan(ctx, h, f.spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(ctx, h, p, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"opt", "opt/cloudera", "opt/cloudera/security", "opt/cloudera/security/x509"} {
		st, err := os.Stat(filepath.Join(f.dir, d))
		if err != nil || st.Mode().Perm() != 0o755 {
			t.Fatalf("%s: %v %v", d, st.Mode(), err)
		}
	}
	if v, _, _ := ini.Get(mustRead(t, f.cfg), "Security", "verify_cert_file"); v != f.spec.PEMDest {
		t.Fatalf("verify_cert_file = %q", v)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNoRestartCommandLeavesNoMarker: a caller that restarts the agent in a
// step of its own gets no restart marker, so its second plan is empty.
func TestNoRestartCommandLeavesNoMarker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, "stock.ini")
	f.spec.RestartCommand, f.spec.CheckCommand = "", ""
	h := remote.NewLocal("local")
	p, err := Plan(ctx, h, f.spec)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Apply(ctx, h, p, time.Now())
	if err != nil || a.Restarted || !a.ConfigChanged {
		t.Fatalf("apply = %+v %v", a, err)
	}
	if _, err := os.Stat(PendingPath(f.cfg)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("marker left without a restart command")
	}
	p2, err := Plan(ctx, h, f.spec)
	if err != nil || p2.Changed() {
		t.Fatalf("second plan = %+v %v", p2, err)
	}
}

func TestFailureShowsTheAgentLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, which := range []string{"restart", "check"} {
		f := newFixture(t, "stock.ini")
		logPath := filepath.Join(f.dir, "agent.log")
		if err := os.WriteFile(logPath, []byte("INFO starting\nERROR Heartbeating to cm1:7182 failed.\nSSLError: certificate verify failed\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		f.spec.LogPath = logPath
		if which == "restart" {
			f.spec.RestartCommand = "echo cannot start; exit 1"
		} else {
			f.spec.CheckCommand = "exit 3"
		}
		h := remote.NewLocal("local")
		p, err := Plan(ctx, h, f.spec)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Apply(ctx, h, p, time.Now())
		var he *HostError
		if !errors.As(err, &he) || he.Op != which || !strings.Contains(err.Error(), "certificate verify failed") {
			t.Fatalf("%s: %v", which, err)
		}
	}
}
