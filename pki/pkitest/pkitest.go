package pkitest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cmtls/cmtls/pki"
)

// Now is the fixed clock tests use unless they need another.
var Now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
	rsaErr  error
)

// RSAKey returns one RSA-2048 key shared by the whole test process (making
// one costs ~100 ms under -race).
func RSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() { rsaKey, rsaErr = rsa.GenerateKey(rand.Reader, 2048) })
	if rsaErr != nil {
		t.Fatal(rsaErr)
	}
	return rsaKey
}

// ECKey returns a fresh P-256 key.
func ECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// CA is a test certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

var serial struct {
	sync.Mutex
	n int64
}

func nextSerial() *big.Int {
	serial.Lock()
	defer serial.Unlock()
	serial.n++
	return big.NewInt(time.Now().UnixNano() + serial.n)
}

// NewCA makes a self-signed root CA valid from a year before Now to ten
// years after.
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	key := ECKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"cmtls test"}},
		NotBefore:             Now.AddDate(-1, 0, 0),
		NotAfter:              Now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: c, Key: key}
}

// Intermediate makes a CA signed by ca.
func (ca *CA) Intermediate(t testing.TB, cn string) *CA {
	t.Helper()
	key := ECKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"cmtls test"}},
		NotBefore:             Now.AddDate(-1, 0, 0),
		NotAfter:              Now.AddDate(5, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: c, Key: key}
}

// Leaf makes a server certificate with a fresh P-256 key. sans entries that
// parse as IPs become IP SANs, the rest DNS SANs.
func (ca *CA) Leaf(t testing.TB, cn string, sans []string, notBefore, notAfter time.Time) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key := ECKey(t)
	return ca.LeafForKey(t, key.Public(), cn, sans, notBefore, notAfter), key
}

// LeafForKey signs a server certificate for pub (e.g. from a CSR).
func (ca *CA) LeafForKey(t testing.TB, pub crypto.PublicKey, cn string, sans []string, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	// a subject key identifier, as CAs put in what they sign (RFC 5280
	// 4.2.1.2 says conforming CAs should)
	skid, err := pki.SubjectKeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SubjectKeyId = skid
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// SelfSigned makes a self-signed server certificate as `cmtls cert
// generate` does (pki.SelfSigned), valid from Now for 180 days, with a fresh
// P-256 key.
func SelfSigned(t testing.TB, cn string, sans []string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key := ECKey(t)
	opts := pki.CertOptions{Subject: pki.Name{CN: cn, OU: "IT", O: "cmtls test"}, ValidityDays: 180}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			opts.IPs = append(opts.IPs, ip)
		} else {
			opts.DNSNames = append(opts.DNSNames, s)
		}
	}
	c, err := pki.SelfSigned(rand.Reader, key, opts, Now)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// SelfSignedKeystore returns a keystore ("jks" or "pkcs12") holding a
// self-signed key entry under alias, protected by pass.
func SelfSignedKeystore(t testing.TB, storeType, alias, cn string, sans []string, pass []byte) []byte {
	t.Helper()
	c, key := SelfSigned(t, cn, sans)
	return Keystore(t, storeType, alias, key, []*x509.Certificate{c}, pass)
}

// Keystore encodes key and chain with pki.EncodeKeystore.
func Keystore(t testing.TB, storeType, alias string, key crypto.Signer, chain []*x509.Certificate, pass []byte) []byte {
	t.Helper()
	b, err := pki.EncodeKeystore(storeType, alias, key, chain, pass, Now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// CertPEM armours certificates as one PEM bundle.
func CertPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pki.EncodePEM(c.Raw)...)
	}
	return out
}

// KeyPEM armours a private key as PKCS#8 "PRIVATE KEY".
func KeyPEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// Pool returns a CertPool holding certs.
func Pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
