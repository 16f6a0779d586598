package pki_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/pki/pkitest"
)

// These tests use the real keytool and openssl as oracles: what we write
// must be what they read, and what they write must be what we read.

func need(t *testing.T, bin string) {
	t.Helper()
	if _, err := exec.LookPath(bin); err != nil {
		t.Skipf("SKIPPING ORACLE TEST: %s not installed (install a JDK and openssl to run it)", bin)
	}
}

func run(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	need(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.Bytes()
}

var pass = []byte("changeit")

func TestKeytoolListsOurKeystores(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"jks", "pkcs12"} {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			key, err := pki.GenerateKey(rand.Reader, "RSA", 2048)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := pki.SelfSigned(rand.Reader, key, pki.CertOptions{
				Subject: pki.Name{CN: "cm1.example.com", OU: "IT", O: "Example", L: "City", ST: "State", C: "US"}, ValidityDays: 180}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			ks, err := pki.EncodeKeystore(typ, "jetty", key, []*x509.Certificate{cert}, pass, time.Now(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "cm.keystore")
			if err := os.WriteFile(path, ks, 0o600); err != nil {
				t.Fatal(err)
			}
			out := string(run(t, nil, "keytool", "-list", "-v", "-keystore", path, "-storepass", string(pass)))
			wantType := map[string]string{"jks": "JKS", "pkcs12": "PKCS12"}[typ]
			for _, want := range []string{"Keystore type: " + wantType, "Alias name: jetty\n", "Entry type: PrivateKeyEntry",
				"Owner: CN=cm1.example.com, OU=IT, O=Example, L=City, ST=State, C=US", "DNSName: cm1.example.com",
				"SHA256: " + pki.SHA256Fingerprint(cert), "Your keystore contains 1 entry"} {
				if !strings.Contains(out, want) {
					t.Errorf("keytool -list -v lacks %q:\n%s", want, out)
				}
			}
			der := filepath.Join(dir, "server.der")
			run(t, nil, "keytool", "-exportcert", "-keystore", path, "-storepass", string(pass), "-alias", "jetty", "-file", der)
			got, err := os.ReadFile(der)
			if err != nil {
				t.Fatal(err)
			}
			k, err := pki.ReadKeystore(ks, pass)
			if err != nil {
				t.Fatal(err)
			}
			ours, err := k.ExportDER("jetty")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, ours) {
				t.Fatal("keytool -exportcert DER differs from ExportDER")
			}
			// keytool must recover the private key we encrypted: -certreq signs with it.
			csr := run(t, nil, "keytool", "-certreq", "-keystore", path, "-storepass", string(pass), "-alias", "jetty")
			vout := run(t, csr, "openssl", "req", "-verify", "-noout")
			_ = vout
			// and our own CSR verifies under openssl
			key2, chain, err := k.PrivateKeyEntry("jetty", nil)
			if err != nil {
				t.Fatal(err)
			}
			ourCSR, err := pki.CreateCSR(rand.Reader, key2, chain[0])
			if err != nil {
				t.Fatal(err)
			}
			txt := string(run(t, pki.EncodeCSRPEM(ourCSR), "openssl", "req", "-verify", "-noout", "-text"))
			if !strings.Contains(txt, "DNS:cm1.example.com") || !strings.Contains(txt, "CN = cm1.example.com") {
				t.Fatalf("openssl req -text of our CSR:\n%s", txt)
			}
		})
	}
}

func TestOurPEMEqualsOpenSSL(t *testing.T) {
	t.Parallel()
	for _, alg := range []struct {
		alg  string
		size int
	}{{"RSA", 2048}, {"EC", 256}, {"EC", 384}} {
		key, err := pki.GenerateKey(rand.Reader, alg.alg, alg.size)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := pki.SelfSigned(rand.Reader, key, pki.CertOptions{Subject: pki.Name{CN: "10.1.2.3"}, ValidityDays: 30}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		der := filepath.Join(dir, "server.der")
		pemPath := filepath.Join(dir, "server.pem")
		if err := os.WriteFile(der, cert.Raw, 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, nil, "openssl", "x509", "-out", pemPath, "-in", der, "-inform", "der")
		want, err := os.ReadFile(pemPath)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pki.DERToPEM(cert.Raw)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: our PEM differs from openssl's:\n%s\nvs\n%s", alg.alg, got, want)
		}
		back, err := pki.PEMToDER(want)
		if err != nil || !bytes.Equal(back, cert.Raw) {
			t.Fatalf("PEM->DER round trip: %v", err)
		}
	}
}

// keytool's own files: JKS (-storetype JKS) and its default PKCS#12, with
// two key entries and a trusted certificate.
func TestWeReadKeytoolKeystores(t *testing.T) {
	t.Parallel()
	for _, st := range []string{"JKS", ""} {
		name := st
		if name == "" {
			name = "default-pkcs12"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "ks")
			gen := func(alias, cn string) {
				args := []string{"-genkeypair", "-keystore", path, "-storepass", string(pass), "-keypass", string(pass),
					"-alias", alias, "-keyalg", "RSA", "-keysize", "2048", "-validity", "180",
					"-dname", "CN=" + cn + ", OU=IT, O=Example, C=US", "-ext", "SAN=dns:" + cn}
				if st != "" {
					args = append(args, "-storetype", st)
				}
				run(t, nil, "keytool", args...)
			}
			gen("jetty", "cm1.example.com")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			k, err := pki.ReadKeystore(data, pass)
			if err != nil {
				t.Fatal(err)
			}
			wantType := map[string]string{"JKS": "jks", "": "pkcs12"}[st]
			if k.Type() != wantType {
				t.Fatalf("type %q, want %q", k.Type(), wantType)
			}
			tc, err := k.TLSCertificate("jetty", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.Leaf.Subject.CommonName != "cm1.example.com" || pki.MatchHostname(tc.Leaf, "cm1.example.com") != nil {
				t.Fatalf("leaf %v", tc.Leaf.Subject)
			}
			der := filepath.Join(dir, "server.der")
			run(t, nil, "keytool", "-exportcert", "-keystore", path, "-storepass", string(pass), "-alias", "jetty", "-file", der)
			want, _ := os.ReadFile(der)
			if got, _ := k.ExportDER("jetty"); !bytes.Equal(got, want) {
				t.Fatal("ExportDER differs from keytool -exportcert")
			}

			// A second key entry and a trusted certificate.
			gen("other", "cm2.example.com")
			ca := pkitest.NewCA(t, "Test Root")
			caPath := filepath.Join(dir, "ca.pem")
			if err := os.WriteFile(caPath, pkitest.CertPEM(ca.Cert), 0o644); err != nil {
				t.Fatal(err)
			}
			imp := []string{"-importcert", "-noprompt", "-keystore", path, "-storepass", string(pass), "-alias", "rootca", "-file", caPath}
			if st != "" {
				imp = append(imp, "-storetype", st)
			}
			run(t, nil, "keytool", imp...)
			data, _ = os.ReadFile(path)
			k, err = pki.ReadKeystore(data, pass)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(k.Aliases(), ","); got != "jetty,other,rootca" {
				t.Fatalf("aliases %s", got)
			}
			_, chain, err := k.PrivateKeyEntry("other", nil)
			if err != nil || chain[0].Subject.CommonName != "cm2.example.com" {
				t.Fatalf("other: %v", err)
			}
			if k.IsKeyEntry("rootca") || !k.IsKeyEntry("JETTY") {
				t.Fatal("rootca should be a trusted entry, jetty a key entry (aliases case-insensitive)")
			}
			if c, _ := k.Certificate("rootca"); !c.Equal(ca.Cert) {
				t.Fatal("rootca certificate differs")
			}
			// Written back (as cert import does), keytool still sees all three.
			again, err := k.Encode(pass, time.Now(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			path2 := filepath.Join(dir, "again")
			if err := os.WriteFile(path2, again, 0o600); err != nil {
				t.Fatal(err)
			}
			list := string(run(t, nil, "keytool", "-list", "-keystore", path2, "-storepass", string(pass)))
			for _, want := range []string{"Your keystore contains 3 entries", "jetty, ", "other, ", "rootca, ", "trustedCertEntry"} {
				if !strings.Contains(list, want) {
					t.Fatalf("keytool -list of our rewrite lacks %q:\n%s", want, list)
				}
			}
		})
	}
}

// Import a CA-signed chain into our keystores and let keytool read it.
func TestImportChainKeytoolReads(t *testing.T) {
	t.Parallel()
	root := pkitest.NewCA(t, "Test Root")
	inter := root.Intermediate(t, "Test Intermediate")
	for _, typ := range []string{"jks", "pkcs12"} {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			data := pkitest.SelfSignedKeystore(t, typ, "jetty", "cm1.example.com", nil, pass)
			k, err := pki.ReadKeystore(data, pass)
			if err != nil {
				t.Fatal(err)
			}
			key, _, err := k.PrivateKeyEntry("jetty", nil)
			if err != nil {
				t.Fatal(err)
			}
			leaf := inter.LeafForKey(t, key.Public(), "cm1.example.com", []string{"cm1.example.com"}, pkitest.Now.Add(-time.Hour), pkitest.Now.AddDate(1, 0, 0))
			chain, err := pki.BuildImportChain(key, []*x509.Certificate{leaf, inter.Cert, root.Cert}, nil, pkitest.Now)
			if err != nil {
				t.Fatal(err)
			}
			k.SetKeyEntry("jetty", key, chain)
			out, err := k.Encode(pass, pkitest.Now, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "ks")
			if err := os.WriteFile(path, out, 0o600); err != nil {
				t.Fatal(err)
			}
			list := string(run(t, nil, "keytool", "-list", "-v", "-keystore", path, "-storepass", string(pass)))
			if !regexp.MustCompile(`Alias name: jetty\n`).MatchString(list) || !strings.Contains(list, "Certificate chain length: 3") {
				t.Fatalf("keytool -list -v:\n%s", list)
			}
		})
	}
}

// keytool lets a JKS key have its own password; we read it with that
// password and refuse the store password for it (exit 2, naming the fix).
func TestKeytoolJKSDifferentKeyPassword(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ks.jks")
	run(t, nil, "keytool", "-genkeypair", "-keystore", path, "-storetype", "JKS", "-storepass", string(pass), "-keypass", "keypass1",
		"-alias", "jetty", "-keyalg", "EC", "-keysize", "256", "-dname", "CN=cm1.example.com")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := pki.ReadKeystore(data, pass)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := k.PrivateKeyEntry("jetty", []byte("keypass1")); err != nil {
		t.Fatal(err)
	}
	_, _, err = k.PrivateKeyEntry("jetty", nil)
	exit2(t, err, pki.ErrWrongKeyPassword, "key password")
	_, err = k.Encode(pass, time.Now(), rand.Reader)
	exit2(t, err, pki.ErrWrongKeyPassword, "")
}

// OpenSSL's PKCS#12 files: its modern default (read by our decoder) and the
// legacy 3DES/SHA-1 form (read through go-pkcs12); the alias survives both.
func TestWeReadOpenSSLPKCS12(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root := pkitest.NewCA(t, "Root")
	leaf, key := root.Leaf(t, "cm1.example.com", []string{"cm1.example.com"}, pkitest.Now, pkitest.Now.AddDate(1, 0, 0))
	keyPath := filepath.Join(dir, "key.pem")
	certPath := filepath.Join(dir, "cert.pem")
	caPath := filepath.Join(dir, "ca.pem")
	os.WriteFile(keyPath, pkitest.KeyPEM(t, key), 0o600)
	os.WriteFile(certPath, pkitest.CertPEM(leaf), 0o644)
	os.WriteFile(caPath, pkitest.CertPEM(root.Cert), 0o644)
	for name, extra := range map[string][]string{
		"default": nil,
		"3des":    {"-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1"},
	} {
		p12 := filepath.Join(dir, name+".p12")
		args := append([]string{"pkcs12", "-export", "-inkey", keyPath, "-in", certPath, "-certfile", caPath, "-name", "jetty",
			"-passout", "pass:" + string(pass), "-out", p12}, extra...)
		run(t, nil, "openssl", args...)
		data, err := os.ReadFile(p12)
		if err != nil {
			t.Fatal(err)
		}
		k, err := pki.ReadKeystore(data, pass)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, chain, err := k.PrivateKeyEntry("jetty", nil)
		if err != nil || len(chain) != 2 || !chain[0].Equal(leaf) || !chain[1].Equal(root.Cert) {
			t.Fatalf("%s: aliases %v, chain %d, %v", name, k.Aliases(), len(chain), err)
		}
		_, err = pki.ReadKeystore(data, []byte("wrongpass"))
		exit2(t, err, pki.ErrWrongStorePassword, "")
	}
}
