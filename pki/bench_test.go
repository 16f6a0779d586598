package pki_test

import (
	"crypto/rand"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cmtls/cmtls/pki"
)

// BenchmarkGenerateExportConvert is Step 2 (2.1 keypair + keystore, 2.4 DER
// export, 2.5 PEM) done in-process: RSA-2048, JKS, read back, export, PEM.
func BenchmarkGenerateExportConvert(b *testing.B) {
	for _, typ := range []string{"jks", "pkcs12"} {
		b.Run(typ, func(b *testing.B) {
			for b.Loop() {
				key, err := pki.GenerateKey(rand.Reader, "RSA", 2048)
				if err != nil {
					b.Fatal(err)
				}
				now := time.Now()
				cert, err := pki.SelfSigned(rand.Reader, key, pki.CertOptions{Subject: pki.Name{CN: "cm1.example.com", OU: "IT"}, ValidityDays: 180}, now)
				if err != nil {
					b.Fatal(err)
				}
				ks, err := pki.EncodeKeystore(typ, "jetty", key, []*x509.Certificate{cert}, pass, now, rand.Reader)
				if err != nil {
					b.Fatal(err)
				}
				k, err := pki.ReadKeystore(ks, pass)
				if err != nil {
					b.Fatal(err)
				}
				der, err := k.ExportDER("jetty")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := pki.DERToPEM(der); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkKeytoolGenerateExportConvert is the same with the documented
// commands: keytool -genkeypair, keytool -exportcert, openssl x509. It runs
// only with CMTLS_BENCH_KEYTOOL=1 (each iteration starts two JVMs).
func BenchmarkKeytoolGenerateExportConvert(b *testing.B) {
	if os.Getenv("CMTLS_BENCH_KEYTOOL") != "1" {
		b.Skip("set CMTLS_BENCH_KEYTOOL=1 to time keytool+keytool+openssl")
	}
	for _, bin := range []string{"keytool", "openssl"} {
		if _, err := exec.LookPath(bin); err != nil {
			b.Skipf("SKIPPING: %s not installed", bin)
		}
	}
	dir := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		ks := filepath.Join(dir, "ks"+strconv.Itoa(i))
		der := ks + ".der"
		for _, args := range [][]string{
			{"keytool", "-genkeypair", "-keystore", ks, "-storetype", "JKS", "-storepass", string(pass), "-keypass", string(pass), "-alias", "jetty",
				"-keyalg", "RSA", "-keysize", "2048", "-validity", "180", "-dname", "CN=cm1.example.com, OU=IT", "-ext", "SAN=dns:cm1.example.com"},
			{"keytool", "-exportcert", "-keystore", ks, "-storepass", string(pass), "-alias", "jetty", "-file", der},
			{"openssl", "x509", "-out", der + ".pem", "-in", der, "-inform", "der"},
		} {
			if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
				b.Fatalf("%v: %v\n%s", args, err, out)
			}
		}
	}
}
