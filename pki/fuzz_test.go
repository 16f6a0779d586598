package pki_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/pki/pkitest"
)

// Every error from a parser must be bad input (exit 2), never a panic or a
// plain error.
func mustBeInputErr(t *testing.T, err error) {
	t.Helper()
	var ie *pki.InputError
	if err != nil && !errors.As(err, &ie) {
		t.Fatalf("error is not an InputError: %v", err)
	}
}

func FuzzReadKeystore(f *testing.F) {
	jks := pkitest.SelfSignedKeystore(f, "jks", "jetty", "cm1.example.com", nil, pass)
	p12 := pkitest.SelfSignedKeystore(f, "pkcs12", "jetty", "cm1.example.com", nil, pass)
	f.Add(jks, "changeit")
	f.Add(p12, "changeit")
	f.Add(jks[:len(jks)/3], "changeit")
	f.Add(p12[:len(p12)-7], "changeit")
	f.Add([]byte{0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff}, "changeit")
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff}, "x")
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n"), "changeit")
	f.Fuzz(func(t *testing.T, data []byte, pw string) {
		k, err := pki.ReadKeystore(data, []byte(pw))
		mustBeInputErr(t, err)
		if err != nil {
			return
		}
		for _, a := range k.Aliases() {
			if _, err := k.Certificate(a); err != nil {
				t.Fatalf("alias %q listed but not found: %v", a, err)
			}
			if k.IsKeyEntry(a) {
				_, _, err := k.PrivateKeyEntry(a, nil)
				mustBeInputErr(t, err)
			}
		}
	})
}

func FuzzParseCertificates(f *testing.F) {
	a, key := pkitest.SelfSigned(f, "a.example.com", nil)
	b, _ := pkitest.SelfSigned(f, "b.example.com", nil)
	f.Add(pkitest.CertPEM(a))
	f.Add(pkitest.CertPEM(a, b))
	f.Add(a.Raw)
	f.Add(pkitest.KeyPEM(f, key))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n"))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := pki.ParseCertificates(data)
		mustBeInputErr(t, err)
		if err == nil && len(cs) == 0 {
			t.Fatal("no error and no certificate")
		}
		if err == nil {
			// PEM of what we parsed parses back to the same certificates
			var again []byte
			for _, c := range cs {
				p, err := pki.DERToPEM(c.Raw)
				if err != nil {
					t.Fatal(err)
				}
				again = append(again, p...)
			}
			cs2, err := pki.ParseCertificates(again)
			if err != nil || len(cs2) != len(cs) {
				t.Fatalf("round trip: %v", err)
			}
		}
		_, err = pki.ParseCertificate(data)
		mustBeInputErr(t, err)
		_, err = pki.PEMToDER(data)
		mustBeInputErr(t, err)
		_, err = pki.DERToPEM(data)
		mustBeInputErr(t, err)
	})
}

func FuzzParseDName(f *testing.F) {
	f.Add("CN=cm1.example.com, OU=IT, O=Example, L=City, ST=State, C=US")
	f.Add(`O=a\,b`)
	f.Add("C=USA")
	f.Add(`\`)
	f.Fuzz(func(t *testing.T, s string) {
		_, err := pki.ParseDName(s)
		mustBeInputErr(t, err)
	})
}

func FuzzMatchHostnameAndCheckName(f *testing.F) {
	ca := pkitest.NewCA(f, "Root")
	c, _ := ca.Leaf(f, "cm1.example.com", []string{"*.example.com", "192.0.2.1"}, pkitest.Now, pkitest.Now)
	f.Add("cm1.example.com")
	f.Add("a.b.example.com")
	f.Add("192.0.2.1")
	f.Add("*.")
	f.Fuzz(func(t *testing.T, host string) {
		err := pki.MatchHostname(c, host)
		var he *pki.HostMismatchError
		if err != nil && !errors.As(err, &he) {
			t.Fatal(err)
		}
		r := pki.MapResolver{"cm1.example.com": {"192.0.2.1"}}
		nc := pki.CheckServerName(context.Background(), r, host, []net.IP{net.ParseIP("192.0.2.1")})
		mustBeInputErr(t, nc.Err())
	})
}

func FuzzParsePrivateKey(f *testing.F) {
	f.Add(pkitest.KeyPEM(f, pkitest.ECKey(f)))
	f.Add([]byte("-----BEGIN ENCRYPTED PRIVATE" + " KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE" + " KEY-----\n"))
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := pki.ParsePrivateKey(data)
		mustBeInputErr(t, err)
		if err == nil && k == nil {
			t.Fatal("nil key without error")
		}
	})
}
