package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"slices"
	"strings"
	"time"
)

// GenerateKey makes a key pair: alg "RSA" with size 2048, 3072 or 4096, or
// "EC" with size 256 or 384 (keytool's -keyalg and -keysize).
func GenerateKey(rnd io.Reader, alg string, size int) (crypto.Signer, error) {
	switch strings.ToUpper(alg) {
	case "RSA":
		switch size {
		case 0:
			size = 2048
		case 2048, 3072, 4096:
		default:
			return nil, inputErr("use --keysize 2048, 3072 or 4096 with --keyalg RSA",
				"%w: invalid value %d for the RSA key size; options are 2048, 3072, 4096", ErrBadArgument, size)
		}
		return rsa.GenerateKey(rnd, size)
	case "EC", "ECDSA":
		var c elliptic.Curve
		switch size {
		case 0, 256:
			c = elliptic.P256()
		case 384:
			c = elliptic.P384()
		default:
			return nil, inputErr("use --keysize 256 or 384 with --keyalg EC",
				"%w: invalid value %d for the EC key size; options are 256, 384", ErrBadArgument, size)
		}
		return ecdsa.GenerateKey(c, rnd)
	}
	return nil, inputErr("use --keyalg RSA or --keyalg EC",
		"%w: invalid value %q for the key algorithm; options are RSA, EC", ErrBadArgument, alg)
}

// Name is a subject as keytool asks for it ("What is your first and last
// name?" is the CN).
type Name struct {
	CN, OU, O, L, ST, C string
	// SerialNumber is the subject's serialNumber attribute (X.520, OID
	// 2.5.4.5); empty for certificates keytool would make.
	SerialNumber string
}

func (n Name) pkix() pkix.Name {
	one := func(s string) []string {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	return pkix.Name{CommonName: n.CN, OrganizationalUnit: one(n.OU), Organization: one(n.O),
		Locality: one(n.L), Province: one(n.ST), Country: one(n.C), SerialNumber: n.SerialNumber}
}

// ParseDName reads keytool's -dname form "CN=a, OU=b, O=c, L=d, ST=e, C=f".
// Values may contain "\," escaped commas.
func ParseDName(s string) (Name, error) {
	var n Name
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case s[i] == ',':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	parts = append(parts, cur.String())
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return n, inputErr(`write --dname as "OU=IT, O=Example, L=City, ST=State, C=US"`,
				"%w: %q in the distinguished name has no '='", ErrBadArgument, p)
		}
		v = strings.TrimSpace(v)
		switch strings.ToUpper(strings.TrimSpace(k)) {
		case "CN":
			n.CN = v
		case "OU":
			n.OU = v
		case "O":
			n.O = v
		case "L":
			n.L = v
		case "ST", "S":
			n.ST = v
		case "C":
			if len(v) != 2 {
				return n, inputErr("C is a two-letter country code, e.g. C=US",
					"%w: country %q is not two letters", ErrBadArgument, v)
			}
			n.C = strings.ToUpper(v)
		default:
			return n, inputErr("use only CN, OU, O, L, ST and C in --dname",
				"%w: unknown attribute %q in the distinguished name", ErrBadArgument, k)
		}
	}
	return n, nil
}

// CertOptions describes a certificate to make.
type CertOptions struct {
	Subject      Name
	DNSNames     []string
	IPs          []net.IP
	ValidityDays int      // keytool's -validity; 0 means 90 (keytool's default)
	Serial       *big.Int // nil: 64 random bits, as keytool does
}

// SelfSigned makes a self-signed certificate for key, valid from now for
// ValidityDays, the way keytool -genkeypair does but with a SAN: the CN is
// always in the SAN (as a DNS name, or as an IP address when the CN is an
// IP), because the CM agent checks SAN dNSName before the CN.
func SelfSigned(rnd io.Reader, key crypto.Signer, opts CertOptions, now time.Time) (*x509.Certificate, error) {
	tmpl, err := template(rnd, opts, now)
	if err != nil {
		return nil, err
	}
	// Key identifiers let OpenSSL (the CM agent's TLS library) tell two
	// trusted certificates with one subject apart, as a renewal's PEM
	// bundle of old and new has: without them it tries only the first
	// certificate of that name. RFC 5280 4.2.1.2 method (1); a self-signed
	// certificate's authority key is its own.
	if tmpl.SubjectKeyId, err = SubjectKeyID(key.Public()); err != nil {
		return nil, err
	}
	tmpl.AuthorityKeyId = tmpl.SubjectKeyId
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

func template(rnd io.Reader, opts CertOptions, now time.Time) (*x509.Certificate, error) {
	cn := strings.TrimSpace(opts.Subject.CN)
	if cn == "" {
		return nil, inputErr("pass --cn with the server host's FQDN (what agents put in server_host)",
			"%w: the certificate needs a CN", ErrBadArgument)
	}
	days := opts.ValidityDays
	if days == 0 {
		days = 90
	}
	if days < 0 || days > 36500 {
		return nil, inputErr("use --validity between 1 and 36500 days",
			"%w: invalid validity %d days", ErrBadArgument, days)
	}
	serial := opts.Serial
	if serial == nil {
		b := make([]byte, 8)
		if _, err := io.ReadFull(rnd, b); err != nil {
			return nil, fmt.Errorf("read random serial: %w", err)
		}
		b[0] &= 0x7f
		serial = new(big.Int).SetBytes(b)
		if serial.Sign() == 0 {
			serial.SetInt64(1)
		}
	}
	dns := slices.Clone(opts.DNSNames)
	ips := slices.Clone(opts.IPs)
	if ip := net.ParseIP(cn); ip != nil {
		if !slices.ContainsFunc(ips, ip.Equal) {
			ips = append([]net.IP{ip}, ips...)
		}
	} else if !slices.ContainsFunc(dns, func(d string) bool { return strings.EqualFold(d, cn) }) {
		dns = append([]string{cn}, dns...)
	}
	subj := opts.Subject
	subj.CN = cn
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      subj.pkix(),
		NotBefore:    now.Truncate(time.Second),
		NotAfter:     now.Truncate(time.Second).AddDate(0, 0, days),
		DNSNames:     dns,
		IPAddresses:  ips,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}, nil
}

// EncodePEM armours a DER certificate exactly as `openssl x509 -inform der
// -out` does (64-column base64, LF line ends).
func EncodePEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// ParseCertificates reads one or more certificates from PEM (any number of
// CERTIFICATE blocks; keytool's CRLF armour too) or from one DER
// certificate, telling them apart by their bytes. Text outside the blocks
// (openssl's "subject=" headers) is allowed; a PEM block of another type, a
// block that does not parse, or bytes that are neither are refused.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) > 0 && trimmed[0] == 0x30 {
		c, err := x509.ParseCertificate(trimmed)
		if err != nil {
			return nil, inputErr("give a PEM or DER certificate (openssl x509 -in FILE -noout -text checks it)",
				"%w: DER: %v", ErrBadPEM, err)
		}
		return []*x509.Certificate{c}, nil
	}
	var out []*x509.Certificate
	rest := data
	for i := 1; ; i++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" && b.Type != "TRUSTED CERTIFICATE" {
			return nil, inputErr("give a file of CERTIFICATE blocks only (keep private keys and CSRs in their own files)",
				"%w: PEM block %d is %q, not a certificate", ErrBadPEM, i, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, inputErr("re-export the certificate; this block is damaged",
				"%w: PEM block %d: %v", ErrBadPEM, i, err)
		}
		out = append(out, c)
	}
	if bytes.Contains(rest, []byte("-----BEGIN")) {
		return nil, inputErr("re-export the certificate; a PEM block is cut short or damaged",
			"%w: unterminated or damaged PEM block after %d certificate(s)", ErrBadPEM, len(out))
	}
	if len(out) == 0 {
		return nil, inputErr("give a PEM or DER certificate (openssl x509 -in FILE -noout -text checks it)",
			"%w: no certificate found (starts with %s)", ErrBadPEM, describeStart(data))
	}
	return out, nil
}

// ParseCertificate is ParseCertificates for places that want exactly one.
func ParseCertificate(data []byte) (*x509.Certificate, error) {
	cs, err := ParseCertificates(data)
	if err != nil {
		return nil, err
	}
	if len(cs) != 1 {
		return nil, inputErr("give a file with just the one certificate (put its CA chain in --chain)",
			"%w: %d certificates where one is expected", ErrBadPEM, len(cs))
	}
	return cs[0], nil
}

// DefaultRand is crypto/rand.Reader, for callers at the edges.
var DefaultRand io.Reader = rand.Reader

// SubjectKeyID is the SHA-1 of the subjectPublicKey bit string of pub
// (RFC 5280 4.2.1.2, method 1), as keytool and OpenSSL compute it.
func SubjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("subject key identifier: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("subject key identifier: %w", err)
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}
