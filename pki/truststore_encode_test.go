package pki

import (
	"crypto/rand"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The truststore is read back by this package and by keytool (the oracle,
// when installed) as one trusted certificate entry with the certificate.
func TestEncodeTruststore(t *testing.T) {
	_, cert, err := GenerateKeystore(rand.Reader, TypeJKS, "jetty", "EC", 256, CertOptions{Subject: Name{CN: "cm1.example.com"}, DNSNames: []string{"cm1.example.com"}}, []byte("changeit"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	data, err := EncodeTruststore("cm-server", []*x509.Certificate{cert}, []byte("s3cret-pw"), time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := ReadKeystore(data, []byte("s3cret-pw"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ks.Certificate("cm-server")
	if err != nil || !got.Equal(cert) || ks.IsKeyEntry("cm-server") {
		t.Fatalf("entry: %v %v", got, err)
	}
	if _, err := EncodeTruststore("x", nil, []byte("s3cret-pw"), time.Now(), rand.Reader); err == nil {
		t.Error("an empty truststore was written")
	}
	kt, err := exec.LookPath("keytool")
	if err != nil {
		t.Skip("keytool not installed: the oracle check is skipped")
	}
	p := filepath.Join(t.TempDir(), "ts.jks")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(kt, "-list", "-keystore", p, "-storepass", "s3cret-pw").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "trustedCertEntry") {
		t.Fatalf("keytool -list: %v\n%s", err, out)
	}
}
