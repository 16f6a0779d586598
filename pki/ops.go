package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ExportDER returns the certificate of alias in DER, what `keytool
// -exportcert` writes (Step 2.4).
func (k *Keystore) ExportDER(alias string) ([]byte, error) {
	c, err := k.Certificate(alias)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(c.Raw), nil
}

// DERToPEM converts one DER certificate to PEM (Step 2.5, `openssl x509
// -inform der`). It refuses bytes that are not exactly one certificate.
func DERToPEM(der []byte) ([]byte, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, inputErr("give a DER certificate (keytool -exportcert writes one)", "%w: DER: %v", ErrBadPEM, err)
	}
	return EncodePEM(c.Raw), nil
}

// PEMToDER converts a PEM holding exactly one certificate to DER.
func PEMToDER(data []byte) ([]byte, error) {
	c, err := ParseCertificate(data)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(c.Raw), nil
}

// CreateCSR makes a PKCS#10 request (DER) for key, like `keytool -certreq`:
// the subject of the key's current certificate, and its SAN as a requested
// extension so the CA can copy it.
func CreateCSR(rnd io.Reader, key crypto.Signer, cert *x509.Certificate) ([]byte, error) {
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, inputErr("re-create the keystore", "%w: %s", ErrKeyMismatch, cert.Subject)
	}
	tmpl := &x509.CertificateRequest{
		RawSubject:  cert.RawSubject,
		DNSNames:    cert.DNSNames,
		IPAddresses: cert.IPAddresses,
	}
	der, err := x509.CreateCertificateRequest(rnd, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate request: %w", err)
	}
	return der, nil
}

// EncodeCSRPEM armours a CSR as OpenSSL does.
func EncodeCSRPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// CheckValidity refuses a certificate that is expired or not yet valid at now.
func CheckValidity(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return inputErr("check the clock on this machine, or wait until the certificate's start date",
			"%w: %q is not valid until %s", ErrCertNotValid, c.Subject.String(), c.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return inputErr("have the CA issue a new certificate (the agents refuse an expired one)",
			"%w: %q expired on %s", ErrCertNotValid, c.Subject.String(), c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// BuildImportChain checks a CA-signed certificate before it replaces the
// self-signed one in the keystore (`keytool -importcert` of a CA reply):
// certs[0] must be the leaf for key, valid at now, and the leaf plus the
// rest of certs must chain to a root: one of roots, or (roots nil) a
// self-signed certificate among certs. It returns the chain to store, leaf
// first, root last.
func BuildImportChain(key crypto.Signer, certs []*x509.Certificate, roots *x509.CertPool, now time.Time) ([]*x509.Certificate, error) {
	if len(certs) == 0 {
		return nil, inputErr("pass --cert with the CA-signed certificate", "%w: no certificate", ErrBadArgument)
	}
	leaf := certs[0]
	if !publicKeysEqual(leaf.PublicKey, key.Public()) {
		return nil, inputErr("import the certificate the CA issued for this keystore's CSR (cmtls cert csr), under the same --alias",
			"%w: the certificate for %q has another public key than alias's key", ErrKeyMismatch, leaf.Subject.String())
	}
	if err := CheckValidity(leaf, now); err != nil {
		return nil, err
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if roots == nil {
		roots = x509.NewCertPool()
		for _, c := range certs[1:] {
			if isSelfSigned(c) {
				roots.AddCert(c)
			}
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, inputErr("give the CA's chain up to its root with --chain (the intermediates and the root CA certificate, PEM)",
			"%w: %v", ErrChainInvalid, err)
	}
	return chains[0], nil
}

// SetKeyEntry puts (or replaces) a private-key entry.
func (k *Keystore) SetKeyEntry(alias string, key crypto.Signer, chain []*x509.Certificate) {
	for i := range k.entries {
		if strings.EqualFold(k.entries[i].alias, alias) {
			k.entries[i] = entry{alias: k.entries[i].alias, key: key, chain: chain}
			return
		}
	}
	k.entries = append(k.entries, entry{alias: alias, key: key, chain: chain})
}

// SetTrustedCert puts (or replaces) a trusted-certificate entry, as keytool
// -importcert does in a truststore.
func (k *Keystore) SetTrustedCert(alias string, c *x509.Certificate) {
	e := entry{alias: alias, chain: []*x509.Certificate{c}, trusted: true}
	for i := range k.entries {
		if strings.EqualFold(k.entries[i].alias, alias) {
			e.alias = k.entries[i].alias
			k.entries[i] = e
			return
		}
	}
	k.entries = append(k.entries, e)
}

// DeleteEntry removes alias (keytool -delete); it reports whether there was
// such an entry.
func (k *Keystore) DeleteEntry(alias string) bool {
	for i := range k.entries {
		if strings.EqualFold(k.entries[i].alias, alias) {
			k.entries = append(k.entries[:i], k.entries[i+1:]...)
			return true
		}
	}
	return false
}

// CertInfo is what `cmtls cert inspect` shows of a certificate. It holds no
// secrets and marshals to JSON as is.
type CertInfo struct {
	Subject            string    `json:"subject"`
	Issuer             string    `json:"issuer"`
	Serial             string    `json:"serial"`
	NotBefore          time.Time `json:"not_before"`
	NotAfter           time.Time `json:"not_after"`
	DNSNames           []string  `json:"dns_names,omitempty"`
	IPAddresses        []string  `json:"ip_addresses,omitempty"`
	SHA256             string    `json:"sha256"`
	SHA1               string    `json:"sha1"`
	KeyAlgorithm       string    `json:"key_algorithm"`
	KeySize            int       `json:"key_size"`
	SignatureAlgorithm string    `json:"signature_algorithm"`
	SelfSigned         bool      `json:"self_signed"`
	IsCA               bool      `json:"is_ca"`
	// Status is "valid", "expired" or "not yet valid" at the time given.
	Status      string `json:"status"`
	DaysLeft    int    `json:"days_left"`
	ExpiresSoon bool   `json:"expires_soon,omitempty"` // under 30 days left
	SANString   string `json:"-"`
}

// Fingerprint is keytool's colon-separated upper-case hex.
func Fingerprint(sum []byte) string {
	var b strings.Builder
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}

// SHA256Fingerprint of a certificate, as keytool -list prints it.
func SHA256Fingerprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return Fingerprint(s[:])
}

// Describe summarises c as of now.
func Describe(c *x509.Certificate, now time.Time) CertInfo {
	s256 := sha256.Sum256(c.Raw)
	s1 := sha1.Sum(c.Raw)
	info := CertInfo{
		Subject:            c.Subject.String(),
		Issuer:             c.Issuer.String(),
		Serial:             strings.ToUpper(c.SerialNumber.Text(16)),
		NotBefore:          c.NotBefore.UTC(),
		NotAfter:           c.NotAfter.UTC(),
		DNSNames:           c.DNSNames,
		SHA256:             Fingerprint(s256[:]),
		SHA1:               Fingerprint(s1[:]),
		SignatureAlgorithm: c.SignatureAlgorithm.String(),
		SelfSigned:         isSelfSigned(c),
		IsCA:               c.IsCA,
		SANString:          SANString(c),
	}
	for _, ip := range c.IPAddresses {
		info.IPAddresses = append(info.IPAddresses, ip.String())
	}
	switch pub := c.PublicKey.(type) {
	case *rsa.PublicKey:
		info.KeyAlgorithm, info.KeySize = "RSA", pub.N.BitLen()
	case *ecdsa.PublicKey:
		info.KeyAlgorithm, info.KeySize = "EC", pub.Curve.Params().BitSize
	default:
		info.KeyAlgorithm = c.PublicKeyAlgorithm.String()
	}
	switch {
	case now.Before(c.NotBefore):
		info.Status = "not yet valid"
	case now.After(c.NotAfter):
		info.Status = "expired"
	default:
		info.Status = "valid"
	}
	info.DaysLeft = int(c.NotAfter.Sub(now).Hours() / 24)
	info.ExpiresSoon = info.Status == "valid" && info.DaysLeft < 30
	return info
}

// EntryInfo describes one keystore entry.
type EntryInfo struct {
	Alias string     `json:"alias"`
	Kind  string     `json:"kind"` // "PrivateKeyEntry" | "trustedCertEntry", keytool's words
	Chain []CertInfo `json:"chain"`
}

// KeystoreInfo describes a keystore.
type KeystoreInfo struct {
	Type    string      `json:"type"`
	Entries []EntryInfo `json:"entries"`
}

// Describe summarises the keystore as of now.
func (k *Keystore) Describe(now time.Time) KeystoreInfo {
	info := KeystoreInfo{Type: k.typ, Entries: []EntryInfo{}}
	for _, a := range k.Aliases() {
		e, _ := k.find(a)
		ei := EntryInfo{Alias: e.alias, Kind: "PrivateKeyEntry"}
		if e.trusted {
			ei.Kind = "trustedCertEntry"
		}
		for _, c := range e.chain {
			ei.Chain = append(ei.Chain, Describe(c, now))
		}
		info.Entries = append(info.Entries, ei)
	}
	return info
}

// VerifyError is a certificate that does not verify against the CA bundle.
// It is a finding, not bad input: exit code 1.
type VerifyError struct{ Err error }

func (e *VerifyError) Error() string { return "certificate verify failed: " + e.Err.Error() }
func (e *VerifyError) Unwrap() error { return e.Err }

// Hint names the fix.
func (e *VerifyError) Hint() string {
	var ie x509.CertificateInvalidError
	if errors.As(e.Err, &ie) && ie.Reason == x509.Expired {
		return "renew the certificate; agents refuse expired certificates"
	}
	return "give the CA bundle that issued the certificate (--cafile), including any intermediates"
}

// VerifyChain verifies cert (with intermediates) against the roots in a PEM
// bundle at now, as the agent does with verify_cert_file, and, when host is
// not empty, matches host as the agent does (MatchHostname). It returns the
// verified chain, leaf first.
func VerifyChain(cert *x509.Certificate, intermediates []*x509.Certificate, roots []*x509.Certificate, host string, now time.Time) ([]*x509.Certificate, error) {
	rp := x509.NewCertPool()
	for _, r := range roots {
		rp.AddCert(r)
	}
	ip := x509.NewCertPool()
	for _, c := range intermediates {
		ip.AddCert(c)
	}
	chains, err := cert.Verify(x509.VerifyOptions{Roots: rp, Intermediates: ip, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, &VerifyError{Err: err}
	}
	if host != "" {
		if err := MatchHostname(cert, host); err != nil {
			return chains[0], err
		}
	}
	return chains[0], nil
}

// isSelfSigned checks the signature directly: CheckSignatureFrom refuses a
// parent without CA basic constraints, and keytool's self-signed
// certificates have none.
func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}
