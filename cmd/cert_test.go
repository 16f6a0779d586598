package cmd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/pki/pkitest"
)

const testPass = "changeit"

var passEnv = map[string]string{"KSPW": testPass, "SHORT": "12345", "UMLAUT": "pässwörd1", "WRONG": "wrongpass"}

// runCert runs cmtls with args in dir and returns exit code, stdout, stderr.
func runCert(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	f, out, errOut := testFactory(env)
	code := Run(context.Background(), f, args)
	return code, out.String(), errOut.String()
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := runCert(t, passEnv, args...)
	if code != 0 {
		t.Fatalf("cmtls %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func oracle(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("SKIPPING ORACLE CHECK: %s not installed", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, name, args...)
	c.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s%s", name, args, err, out.String(), errb.String())
	}
	return out.Bytes()
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// snapshot records every file in dir with its mode and content hash.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %x\n", strings.TrimPrefix(p, dir), info.Mode(), sha256.Sum256(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The whole of Step 2 through the CLI, checked against keytool and openssl.
func TestCertWalkthrough(t *testing.T) {
	t.Parallel()
	for _, st := range []string{"jks", "pkcs12"} {
		t.Run(st, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ks := filepath.Join(dir, "cm.keystore")
			der := filepath.Join(dir, "server.der")
			pemPath := filepath.Join(dir, "server.pem")
			out := mustRun(t, "cert", "generate", "--keystore", ks, "--storetype", st, "--cn", "cm1.example.com",
				"--san", "cm1,10.0.0.5", "--validity", "180", "--dname", "OU=IT, O=Example, L=City, ST=State, C=US",
				"--keyalg", "EC", "--keysize", "256", "--storepass-env", "KSPW")
			if !strings.Contains(out, "alias jetty") || !strings.Contains(out, "DNS:cm1.example.com, DNS:cm1, IP Address:10.0.0.5") {
				t.Fatalf("generate said %q", out)
			}
			if m := mode(t, ks); m != 0o600 {
				t.Fatalf("keystore mode %v, want 0600", m)
			}
			list := string(oracle(t, nil, "keytool", "-list", "-keystore", ks, "-storepass", testPass))
			if !strings.Contains(list, "jetty, ") || !strings.Contains(list, "PrivateKeyEntry") {
				t.Fatalf("keytool -list:\n%s", list)
			}
			mustRun(t, "cert", "export", "--keystore", ks, "--out", der, "--storepass-env", "KSPW")
			kder := filepath.Join(dir, "keytool.der")
			oracle(t, nil, "keytool", "-exportcert", "-keystore", ks, "-storepass", testPass, "-alias", "jetty", "-file", kder)
			a, _ := os.ReadFile(der)
			b, _ := os.ReadFile(kder)
			if !bytes.Equal(a, b) {
				t.Fatal("cert export DER differs from keytool -exportcert")
			}
			mustRun(t, "cert", "convert", "--in", der, "--out", pemPath)
			opem := filepath.Join(dir, "openssl.pem")
			oracle(t, nil, "openssl", "x509", "-out", opem, "-in", der, "-inform", "der")
			a, _ = os.ReadFile(pemPath)
			b, _ = os.ReadFile(opem)
			if !bytes.Equal(a, b) {
				t.Fatalf("cert convert PEM differs from openssl:\n%s\n%s", a, b)
			}
			// and back
			der2 := filepath.Join(dir, "back.der")
			mustRun(t, "cert", "convert", "--in", pemPath, "--out", der2, "--outform", "der")
			if c, _ := os.ReadFile(der2); !bytes.Equal(c, b2der(t, b)) {
				t.Fatal("PEM -> DER differs")
			}

			js := mustRun(t, "cert", "inspect", ks, "--storepass-env", "KSPW", "--json")
			var res inspectResult
			if err := json.Unmarshal([]byte(js), &res); err != nil {
				t.Fatal(err)
			}
			if res.Format != st || res.Keystore == nil || len(res.Keystore.Entries) != 1 || res.Keystore.Entries[0].Alias != "jetty" ||
				res.Keystore.Entries[0].Kind != "PrivateKeyEntry" || res.Keystore.Entries[0].Chain[0].Subject != "CN=cm1.example.com,OU=IT,O=Example,L=City,ST=State,C=US" {
				t.Fatalf("inspect json: %s", js)
			}
			if strings.Contains(js, testPass) {
				t.Fatal("the password leaked into JSON")
			}
			txt := mustRun(t, "cert", "inspect", pemPath)
			if !strings.Contains(txt, "SHA-256: "+res.Keystore.Entries[0].Chain[0].SHA256) || !strings.Contains(txt, "180 days left") {
				t.Fatalf("inspect text:\n%s", txt)
			}

			csr := filepath.Join(dir, "cm1.csr")
			mustRun(t, "cert", "csr", "--keystore", ks, "--out", csr, "--storepass-env", "KSPW")
			csrPEM, _ := os.ReadFile(csr)
			oracle(t, csrPEM, "openssl", "req", "-verify", "-noout")

			mustRun(t, "cert", "verify", "--cafile", pemPath, "--host", "cm1.example.com", pemPath)
			code, _, errOut := runCert(t, nil, "cert", "verify", "--cafile", pemPath, "--host", "cm2.example.com", pemPath)
			if code != 1 || !strings.Contains(errOut, "Peer certificate subjectAltName does not match host, expected cm2.example.com, got DNS:cm1.example.com") {
				t.Fatalf("verify wrong host: exit %d %s", code, errOut)
			}
		})
	}
}

func b2der(t *testing.T, p []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(p)
	if b == nil {
		t.Fatal("no PEM")
	}
	return b.Bytes
}

// CSR -> CA -> import, then keytool sees the chain.
func TestCertImportFlow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ks := filepath.Join(dir, "cm.keystore")
	mustRun(t, "cert", "generate", "--keystore", ks, "--storetype", "pkcs12", "--cn", "cm1.example.com", "--keyalg", "EC", "--storepass-env", "KSPW")
	csrPath := filepath.Join(dir, "cm1.csr")
	mustRun(t, "cert", "csr", "--keystore", ks, "--out", csrPath, "--storepass-env", "KSPW")
	csrPEM, _ := os.ReadFile(csrPath)
	blk, _ := pem.Decode(csrPEM)
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	root := pkitest.NewCA(t, "Root CA")
	inter := root.Intermediate(t, "Issuing CA")
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) // testFactory's clock
	leaf := inter.LeafForKey(t, csr.PublicKey, "cm1.example.com", csr.DNSNames, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	certPath := filepath.Join(dir, "cm1.crt")
	chainPath := filepath.Join(dir, "chain.pem")
	os.WriteFile(certPath, pkitest.CertPEM(leaf), 0o644)
	os.WriteFile(chainPath, pkitest.CertPEM(inter.Cert, root.Cert), 0o644)
	before, _ := os.ReadFile(ks)
	out := mustRun(t, "cert", "import", "--keystore", ks, "--cert", certPath, "--chain", chainPath, "--storepass-env", "KSPW")
	if !strings.Contains(out, "chain of 3") {
		t.Fatalf("import said %q", out)
	}
	backups, _ := filepath.Glob(ks + ".bak-*")
	if len(backups) != 1 {
		t.Fatalf("backups %v", backups)
	}
	if b, _ := os.ReadFile(backups[0]); !bytes.Equal(b, before) || mode(t, backups[0]) != 0o600 || mode(t, ks) != 0o600 {
		t.Fatal("backup is not the old keystore, or modes changed")
	}
	list := string(oracle(t, nil, "keytool", "-list", "-v", "-keystore", ks, "-storepass", testPass))
	if !strings.Contains(list, "Alias name: jetty") || !strings.Contains(list, "Certificate chain length: 3") || !strings.Contains(list, "Issuer: CN=Issuing CA") {
		t.Fatalf("keytool -list -v:\n%s", list)
	}
	// the exported certificate now verifies against the root
	der := filepath.Join(dir, "server.der")
	mustRun(t, "cert", "export", "--keystore", ks, "--out", der, "--storepass-env", "KSPW")
	rootPath := filepath.Join(dir, "root.pem")
	os.WriteFile(rootPath, pkitest.CertPEM(root.Cert), 0o644)
	bundle := filepath.Join(dir, "leaf+inter.pem")
	os.WriteFile(bundle, pkitest.CertPEM(leaf, inter.Cert), 0o644)
	mustRun(t, "cert", "verify", "--cafile", rootPath, "--host", "cm1.example.com", bundle)
	if code, _, _ := runCert(t, nil, "cert", "verify", "--cafile", rootPath, der); code != 1 {
		t.Fatalf("leaf without its intermediate verified (exit %d)", code)
	}
}

// Bad input: exit 2, a hint naming the fix, and nothing written.
func TestCertBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ks := filepath.Join(dir, "cm.keystore")
	mustRun(t, "cert", "generate", "--keystore", ks, "--cn", "cm1.example.com", "--keyalg", "EC", "--storepass-env", "KSPW")
	ca := pkitest.NewCA(t, "Root")
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	k, err := pki.ReadKeystore(must(os.ReadFile(ks)), []byte(testPass))
	if err != nil {
		t.Fatal(err)
	}
	key, _, _ := k.PrivateKeyEntry("jetty", nil)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	expired := write("expired.pem", pkitest.CertPEM(ca.LeafForKey(t, key.Public(), "cm1.example.com", nil, now.AddDate(-2, 0, 0), now.AddDate(-1, 0, 0))))
	future := write("future.pem", pkitest.CertPEM(ca.LeafForKey(t, key.Public(), "cm1.example.com", nil, now.AddDate(0, 0, 1), now.AddDate(1, 0, 0))))
	good := write("good.pem", pkitest.CertPEM(ca.LeafForKey(t, key.Public(), "cm1.example.com", nil, now.Add(-time.Hour), now.AddDate(1, 0, 0))))
	foreignCert, _ := ca.Leaf(t, "cm1.example.com", nil, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	foreign := write("foreign.pem", pkitest.CertPEM(foreignCert))
	two := write("two.pem", pkitest.CertPEM(foreignCert, ca.Cert))
	caPath := write("ca.pem", pkitest.CertPEM(ca.Cert))
	garbage := write("garbage.pem", []byte("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n"))
	notKS := write("text.txt", []byte("hello, not a keystore\n"))
	data := must(os.ReadFile(ks))
	trunc := filepath.Join(dir, "trunc.keystore")
	os.WriteFile(trunc, data[:len(data)/2], 0o600)
	existing := write("existing.der", []byte("keep me"))
	shortPw := write("short.pw", []byte("12345\n"))
	emptyPw := write("empty.pw", []byte("\n"))
	openPw := write("open.pw", []byte(testPass+"\n")) // 0644: readable by all
	for _, p := range []string{shortPw, emptyPw} {
		if err := os.Chmod(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "new.out") // must never appear
	encKey := write("enc.key", []byte("-----BEGIN ENCRYPTED PRIVATE"+" KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE"+" KEY-----\n"))
	otherKey := write("other.key", pkitest.KeyPEM(t, pkitest.ECKey(t)))

	cases := []struct {
		name string
		env  map[string]string
		args []string
		hint string
	}{
		{"generate headless without password", nil, []string{"cert", "generate", "--keystore", out, "--cn", "a.example.com"}, "--storepass-file"},
		{"generate short password", passEnv, []string{"cert", "generate", "--keystore", out, "--cn", "a.example.com", "--storepass-env", "SHORT"}, "at least 6"},
		{"generate short password file", passEnv, []string{"cert", "generate", "--keystore", out, "--cn", "a.example.com", "--storepass-file", shortPw}, "at least 6"},
		{"generate empty password file", passEnv, []string{"cert", "generate", "--keystore", out, "--cn", "a.example.com", "--storepass-file", emptyPw}, "first line"},
		{"generate password file readable by all", passEnv, []string{"cert", "generate", "--keystore", out, "--cn", "a.example.com", "--storepass-file", openPw}, "chmod 600 " + openPw},
		{"generate non-ascii password", passEnv, []string{"cert", "generate", "--keystore", out, "--cn", "a.example.com", "--storepass-env", "UMLAUT"}, "ASCII"},
		{"generate unset env", passEnv, []string{"cert", "generate", "--keystore", out, "--cn", "a.example.com", "--storepass-env", "NOPE"}, "export NOPE"},
		{"generate both sources", passEnv, []string{"cert", "generate", "--keystore", out, "--cn", "a.example.com", "--storepass-env", "KSPW", "--storepass-file", shortPw}, "--storepass-file"},
		{"generate existing keystore", passEnv, []string{"cert", "generate", "--keystore", ks, "--cn", "a.example.com", "--storepass-env", "KSPW"}, "--force"},
		{"generate no cn", passEnv, []string{"cert", "generate", "--keystore", out, "--storepass-env", "KSPW"}, "--cn"},
		{"generate bad keyalg", passEnv, []string{"cert", "generate", "--keystore", out, "--cn", "a.example.com", "--keyalg", "DSA", "--storepass-env", "KSPW"}, "--keyalg"},
		{"generate bad keysize", passEnv, []string{"cert", "generate", "--keystore", out, "--cn", "a.example.com", "--keysize", "1024", "--storepass-env", "KSPW"}, "--keysize"},
		{"generate bad storetype", passEnv, []string{"cert", "generate", "--keystore", out, "--cn", "a.example.com", "--storetype", "jceks", "--storepass-env", "KSPW"}, "--storetype"},
		{"generate bad dname", passEnv, []string{"cert", "generate", "--keystore", out, "--cn", "a.example.com", "--dname", "C=USA", "--storepass-env", "KSPW"}, "country"},
		{"generate bad validity", passEnv, []string{"cert", "generate", "--keystore", out, "--cn", "a.example.com", "--validity", "0", "--storepass-env", "KSPW"}, "--validity"},
		{"export wrong store password", passEnv, []string{"cert", "export", "--keystore", ks, "--out", out, "--storepass-env", "WRONG"}, "keystore's password"},
		{"export missing alias", passEnv, []string{"cert", "export", "--keystore", ks, "--alias", "tomcat", "--out", out, "--storepass-env", "KSPW"}, "one of: jetty"},
		{"export existing out", passEnv, []string{"cert", "export", "--keystore", ks, "--out", existing, "--storepass-env", "KSPW"}, "--force"},
		{"export not a keystore", passEnv, []string{"cert", "export", "--keystore", notKS, "--out", out, "--storepass-env", "KSPW"}, "JKS or PKCS#12"},
		{"export pem is not a keystore", passEnv, []string{"cert", "export", "--keystore", caPath, "--out", out, "--storepass-env", "KSPW"}, "JKS or PKCS#12"},
		{"export truncated keystore", passEnv, []string{"cert", "export", "--keystore", trunc, "--out", out, "--storepass-env", "KSPW"}, "copy it again"},
		{"export missing keystore", passEnv, []string{"cert", "export", "--keystore", filepath.Join(dir, "nope"), "--out", out, "--storepass-env", "KSPW"}, "--keystore"},
		{"export no out", passEnv, []string{"cert", "export", "--keystore", ks, "--storepass-env", "KSPW"}, "--out"},
		{"csr wrong password", passEnv, []string{"cert", "csr", "--keystore", ks, "--out", out, "--storepass-env", "WRONG"}, "keystore's password"},
		{"convert garbage pem", nil, []string{"cert", "convert", "--in", garbage, "--out", out}, "damaged"},
		{"convert text", nil, []string{"cert", "convert", "--in", notKS, "--out", out}, "PEM or DER"},
		{"convert two certs to der", nil, []string{"cert", "convert", "--in", two, "--out", out, "--outform", "der"}, "--chain"},
		{"convert existing out", nil, []string{"cert", "convert", "--in", caPath, "--out", existing}, "--force"},
		{"convert bad inform", nil, []string{"cert", "convert", "--in", caPath, "--out", out, "--inform", "p12"}, "der or pem"},
		{"convert pem given as der", nil, []string{"cert", "convert", "--in", caPath, "--out", out, "--inform", "der"}, "--inform pem"},
		{"inspect missing file", nil, []string{"cert", "inspect", filepath.Join(dir, "nope")}, "FILE"},
		{"inspect garbage", nil, []string{"cert", "inspect", notKS}, "PEM or DER"},
		{"inspect keystore headless no password", nil, []string{"cert", "inspect", ks}, "--storepass-env"},
		{"import expired", passEnv, []string{"cert", "import", "--keystore", ks, "--cert", expired, "--chain", caPath, "--storepass-env", "KSPW"}, "new certificate"},
		{"import not yet valid", passEnv, []string{"cert", "import", "--keystore", ks, "--cert", future, "--chain", caPath, "--storepass-env", "KSPW"}, "clock"},
		{"import other key", passEnv, []string{"cert", "import", "--keystore", ks, "--cert", foreign, "--chain", caPath, "--storepass-env", "KSPW"}, "CSR"},
		{"import without chain", passEnv, []string{"cert", "import", "--keystore", ks, "--cert", good, "--storepass-env", "KSPW"}, "--chain"},
		{"import several certs in --cert", passEnv, []string{"cert", "import", "--keystore", ks, "--cert", two, "--storepass-env", "KSPW"}, "--chain"},
		{"import garbage chain", passEnv, []string{"cert", "import", "--keystore", ks, "--cert", good, "--chain", garbage, "--storepass-env", "KSPW"}, "damaged"},
		{"import missing alias", passEnv, []string{"cert", "import", "--keystore", ks, "--alias", "x", "--cert", good, "--chain", caPath, "--storepass-env", "KSPW"}, "one of: jetty"},
		{"import new keystore encrypted key", passEnv, []string{"cert", "import", "--keystore", out, "--key", encKey, "--cert", good, "--chain", caPath, "--storepass-env", "KSPW"}, "openssl pkey"},
		{"import new keystore key of another cert", passEnv, []string{"cert", "import", "--keystore", out, "--key", otherKey, "--cert", good, "--chain", caPath, "--storepass-env", "KSPW"}, "CSR"},
		{"import new keystore over existing", passEnv, []string{"cert", "import", "--keystore", ks, "--key", otherKey, "--cert", foreign, "--chain", caPath, "--storepass-env", "KSPW"}, "--force"},
		{"verify garbage cafile", nil, []string{"cert", "verify", "--cafile", garbage, good}, "damaged"},
		{"verify no cafile", nil, []string{"cert", "verify", good}, "--cafile"},
		{"unknown flag", nil, []string{"cert", "export", "--storepass", "x"}, "--help"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := snapshot(t, dir)
			code, stdout, stderr := runCert(t, c.env, c.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if !strings.Contains(stderr, "hint: ") || !strings.Contains(stderr, c.hint) {
				t.Fatalf("stderr lacks hint %q:\n%s", c.hint, stderr)
			}
			if after := snapshot(t, dir); after != before {
				t.Fatalf("files changed on failure:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if strings.Contains(stdout+stderr, testPass) {
				t.Fatal("password printed")
			}
		})
	}
	// the passing counterpart of the import cases
	mustRun(t, "cert", "import", "--keystore", ks, "--cert", good, "--chain", caPath, "--storepass-env", "KSPW")
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestCertForceKeepsBackup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ks := filepath.Join(dir, "cm.keystore")
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte(testPass+"\n"), 0o600)
	mustRun(t, "cert", "generate", "--keystore", ks, "--storetype", "pkcs12", "--cn", "a.example.com", "--keyalg", "EC", "--storepass-file", pwFile)
	old, _ := os.ReadFile(ks)
	mustRun(t, "cert", "generate", "--keystore", ks, "--storetype", "pkcs12", "--cn", "b.example.com", "--keyalg", "EC", "--storepass-file", pwFile, "--force")
	backups, _ := filepath.Glob(ks + ".bak-*")
	if len(backups) != 1 {
		t.Fatalf("backups: %v", backups)
	}
	if b, _ := os.ReadFile(backups[0]); !bytes.Equal(b, old) {
		t.Fatal("backup differs from the old keystore")
	}
	if mode(t, ks) != 0o600 || mode(t, backups[0]) != 0o600 {
		t.Fatal("keystore or its backup is not 0600")
	}
	out := mustRun(t, "cert", "inspect", ks, "--storepass-file", pwFile)
	if !strings.Contains(out, "CN=b.example.com") {
		t.Fatalf("inspect: %s", out)
	}
	// no temp files left behind
	if m, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(m) != 0 {
		t.Fatalf("temp files left: %v", m)
	}
}

// At a terminal the password is prompted for (twice for a new keystore).
func TestCertPrompt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ks := filepath.Join(dir, "cm.keystore")
	f, out, errOut := testFactory(nil)
	f.IsTerminal = func() bool { return true }
	f.In = strings.NewReader(testPass + "\n" + testPass + "\n")
	if code := Run(context.Background(), f, []string{"cert", "generate", "--keystore", ks, "--cn", "a.example.com", "--keyalg", "EC"}); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if !strings.Contains(errOut.String(), "Re-enter keystore password") {
		t.Fatalf("no confirmation prompt: %s", errOut)
	}
	if _, err := pki.ReadKeystore(must(os.ReadFile(ks)), []byte(testPass)); err != nil {
		t.Fatal(err)
	}
	// mismatch
	f, _, errOut = testFactory(nil)
	f.IsTerminal = func() bool { return true }
	f.In = strings.NewReader("changeit\nchangeix\n")
	if code := Run(context.Background(), f, []string{"cert", "generate", "--keystore", filepath.Join(dir, "b"), "--cn", "a.example.com"}); code != 2 {
		t.Fatalf("mismatch exit %d: %s", code, errOut)
	}
	// CMTLS_NO_INPUT=1 turns the prompt off
	f, _, errOut = testFactory(map[string]string{"CMTLS_NO_INPUT": "1"})
	f.IsTerminal = func() bool { return true }
	if code := Run(context.Background(), f, []string{"cert", "generate", "--keystore", filepath.Join(dir, "c"), "--cn", "a.example.com"}); code != 2 || !strings.Contains(errOut.String(), "--storepass-env") {
		t.Fatalf("no-input exit %d: %s", code, errOut)
	}
}

func TestCertCheckName(t *testing.T) {
	t.Parallel()
	o := &certOptions{resolver: pki.MapResolver{"cm1.example.com": {"192.0.2.10"}, "localhost": {"127.0.0.1"}},
		localAddrs: func() ([]net.IP, error) { return []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("192.0.2.10")}, nil }}
	var errOut bytes.Buffer
	o.f = &Factory{ErrOut: &errOut}
	if err := o.nameCheck(context.Background(), "cm1.example.com"); err != nil || errOut.Len() != 0 {
		t.Fatalf("%v %s", err, errOut.String())
	}
	if err := o.nameCheck(context.Background(), "localhost"); err != nil || !strings.Contains(errOut.String(), "warning: localhost") {
		t.Fatalf("%v %s", err, errOut.String())
	}
	err := o.nameCheck(context.Background(), "cm9.example.com")
	if exitCode(err) != 2 || findHint(err) == "" {
		t.Fatalf("unresolvable: %v", err)
	}
	// through the CLI with the system resolver: localhost is this machine
	code, out, _ := runCert(t, nil, "cert", "check-name", "localhost", "--json")
	if code != 0 || !strings.Contains(out, `"code": "localhost"`) {
		t.Fatalf("check-name localhost: %d %s", code, out)
	}
}

// A CA-issued key + certificate + chain become a keystore keytool reads.
func TestCertImportNewKeystore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	root := pkitest.NewCA(t, "Root CA")
	leaf, key := root.Leaf(t, "cm1.example.com", []string{"cm1.example.com"}, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	keyPath := filepath.Join(dir, "server.key")
	certPath := filepath.Join(dir, "server.crt")
	chainPath := filepath.Join(dir, "chain.pem")
	os.WriteFile(keyPath, pkitest.KeyPEM(t, key), 0o600)
	os.WriteFile(certPath, pkitest.CertPEM(leaf), 0o644)
	os.WriteFile(chainPath, pkitest.CertPEM(root.Cert), 0o644)
	for _, st := range []string{"jks", "pkcs12"} {
		ks := filepath.Join(dir, "cm."+st)
		mustRun(t, "cert", "import", "--keystore", ks, "--storetype", st, "--key", keyPath, "--cert", certPath, "--chain", chainPath, "--storepass-env", "KSPW")
		if mode(t, ks) != 0o600 {
			t.Fatal("keystore not 0600")
		}
		list := string(oracle(t, nil, "keytool", "-list", "-v", "-keystore", ks, "-storepass", testPass))
		if !strings.Contains(list, "Alias name: jetty") || !strings.Contains(list, "Certificate chain length: 2") || !strings.Contains(list, "PrivateKeyEntry") {
			t.Fatalf("keytool -list -v:\n%s", list)
		}
	}
}

// TestCertExportExpiredWarns: exporting an expired certificate still
// writes it, but says on stderr that it expired, and when.
func TestCertExportExpiredWarns(t *testing.T) {
	dir := t.TempDir()
	ks, der := filepath.Join(dir, "cm.keystore"), filepath.Join(dir, "server.der")
	mustRun(t, "cert", "generate", "--keystore", ks, "--storetype", "pkcs12", "--cn", "a.example.com", "--keyalg", "EC", "--validity", "1", "--storepass-env", "KSPW")
	f, _, errOut := testFactory(passEnv)
	later := f.Now().AddDate(0, 0, 10)
	f.Now = func() time.Time { return later }
	if code := Run(context.Background(), f, []string{"cert", "export", "--keystore", ks, "--out", der, "--storepass-env", "KSPW"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut.String(), "warning: this certificate expired on 2026-11-24") {
		t.Fatalf("stderr: %q", errOut)
	}
	// a valid one: no warning
	f2, _, errOut2 := testFactory(passEnv)
	if code := Run(context.Background(), f2, []string{"cert", "export", "--keystore", ks, "--out", der, "--force", "--storepass-env", "KSPW"}); code != 0 || strings.Contains(errOut2.String(), "expired") {
		t.Fatalf("exit %d: %s", code, errOut2)
	}
}
