package pki_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/pki/pkitest"
)

// A keytool truststore whose password is not known: its certificates are
// read, one is added and one removed, and keytool opens what is written
// under the new password.
func TestTruststoreNoPasswordRoundTrip(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("keytool"); err != nil {
		t.Skip("SKIPPING: keytool not installed")
	}
	dir := t.TempDir()
	a, b, c := pkitest.NewCA(t, "a.example.com").Cert, pkitest.NewCA(t, "b.example.com").Cert, pkitest.NewCA(t, "c.example.com").Cert
	ts := filepath.Join(dir, "ts.jks")
	for alias, cert := range map[string][]byte{"ca-a": pki.EncodePEM(a.Raw), "ca-b": pki.EncodePEM(b.Raw)} {
		p := filepath.Join(dir, alias+".pem")
		if err := os.WriteFile(p, cert, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("keytool", "-importcert", "-noprompt", "-alias", alias, "-file", p, "-keystore", ts, "-storetype", "JKS", "-storepass", "unknown-pass").CombinedOutput(); err != nil {
			t.Fatalf("keytool: %v\n%s", err, out)
		}
	}
	data, err := os.ReadFile(ts)
	if err != nil {
		t.Fatal(err)
	}
	k, err := pki.ReadTruststoreNoPassword(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Aliases(); !slices.Equal(got, []string{"ca-a", "ca-b"}) {
		t.Fatalf("aliases %v", got)
	}
	k.SetTrustedCert("ca-c", c)
	if !k.DeleteEntry("CA-A") || k.DeleteEntry("ca-a") {
		t.Fatal("DeleteEntry")
	}
	out, err := k.Encode([]byte("new-password"), time.Now(), pki.DefaultRand)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ts, out, 0o644); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command("keytool", "-list", "-rfc", "-keystore", ts, "-storepass", "new-password").CombinedOutput()
	if err != nil {
		t.Fatalf("keytool -list: %v\n%s", err, list)
	}
	certs, err := pki.ParseCertificates(list)
	if err != nil || len(certs) != 2 || !slices.ContainsFunc(certs, b.Equal) || !slices.ContainsFunc(certs, c.Equal) {
		t.Fatalf("keytool lists %d certificates (%v):\n%s", len(certs), err, list)
	}
	// a keystore with a private key is not a truststore
	if _, err := pki.ReadTruststoreNoPassword(pkitest.SelfSignedKeystore(t, "jks", "jetty", "h", nil, []byte("changeit"))); err == nil {
		t.Fatal("a keystore with a key was read as a truststore")
	}
}

func FuzzReadTruststoreNoPassword(f *testing.F) {
	f.Add(pkitest.SelfSignedKeystore(f, "jks", "jetty", "h", nil, []byte("changeit")))
	f.Add([]byte{0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := pki.ReadTruststoreNoPassword(data)
		mustBeInputErr(t, err)
	})
}
