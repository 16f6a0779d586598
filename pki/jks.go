package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"strings"

	keystore "github.com/pavlo-v-chernykh/keystore-go/v4"
)

const jksMagic = 0xFEEDFEED

// walkJKS checks that every length in a JKS file stays inside data before
// keystore-go reads it (keystore-go allocates whatever a length field says,
// so a hostile 4 GiB length would exhaust memory). It returns nil when the
// structure, including the 20-byte SHA-1 digest at the end, is complete.
func walkJKS(data []byte) error {
	p := 0
	need := func(n int) bool { return n >= 0 && p+n <= len(data) }
	u16 := func() (int, bool) {
		if !need(2) {
			return 0, false
		}
		v := int(binary.BigEndian.Uint16(data[p:]))
		p += 2
		return v, true
	}
	u32 := func() (int, bool) {
		if !need(4) {
			return 0, false
		}
		v := binary.BigEndian.Uint32(data[p:])
		p += 4
		if v > 1<<30 {
			return -1, true
		}
		return int(v), true
	}
	skip := func(n int) bool {
		if !need(n) {
			return false
		}
		p += n
		return true
	}
	bad := func() error { return truncated(len(data)) }
	if _, ok := u32(); !ok {
		return bad()
	}
	version, ok := u32()
	if !ok {
		return bad()
	}
	if version != 1 && version != 2 {
		return inputErr("give a JKS keystore written by keytool or cmtls", "%w: JKS version %d", ErrUnknownFormat, version)
	}
	count, ok := u32()
	if !ok || count < 0 {
		// a count past 1<<30 cannot fit in the file; treating it as no
		// entries let keystore-go size a chain slice from the next entry
		return bad()
	}
	cert := func() bool {
		if version == 2 {
			n, ok := u16()
			if !ok || !skip(n) {
				return false
			}
		}
		n, ok := u32()
		return ok && skip(n)
	}
	for i := 0; i < count; i++ {
		tag, ok := u32()
		if !ok {
			return bad()
		}
		n, ok := u16()
		if !ok || !skip(n) || !skip(8) {
			return bad()
		}
		switch tag {
		case 1:
			n, ok := u32()
			if !ok || !skip(n) {
				return bad()
			}
			certs, ok := u32()
			if !ok || certs < 0 {
				return bad()
			}
			for j := 0; j < certs; j++ {
				if !cert() {
					return bad()
				}
			}
		case 2:
			if !cert() {
				return bad()
			}
		default:
			return inputErr("give a JKS keystore written by keytool or cmtls (JCEKS secret-key entries are not supported)",
				"%w: JKS entry type %d", ErrUnknownFormat, tag)
		}
	}
	if !skip(20) {
		return bad()
	}
	return nil
}

func readJKS(data, storePass []byte) (*Keystore, error) {
	if err := walkJKS(data); err != nil {
		return nil, err
	}
	ks := keystore.New()
	if err := ks.Load(bytes.NewReader(data), storePass); err != nil {
		if strings.Contains(err.Error(), "invalid digest") {
			return nil, wrongStorePass()
		}
		return nil, inputErr("re-create the keystore with keytool or cmtls cert generate", "%w: jks: %v", ErrTruncated, err)
	}
	k := &Keystore{typ: TypeJKS, jks: &ks, storePass: bytes.Clone(storePass)}
	for _, alias := range ks.Aliases() {
		var raw []keystore.Certificate
		trusted := false
		if ks.IsPrivateKeyEntry(alias) {
			c, err := ks.GetPrivateKeyEntryCertificateChain(alias)
			if err != nil {
				return nil, inputErr("re-create the keystore", "%w: alias %q: %v", ErrTruncated, alias, err)
			}
			raw = c
		} else {
			te, err := ks.GetTrustedCertificateEntry(alias)
			if err != nil {
				return nil, inputErr("re-create the keystore", "%w: alias %q: %v", ErrTruncated, alias, err)
			}
			raw, trusted = []keystore.Certificate{te.Certificate}, true
		}
		e := entry{alias: alias, trusted: trusted}
		for _, c := range raw {
			cert, err := x509.ParseCertificate(c.Content)
			if err != nil {
				return nil, inputErr("re-create the keystore", "%w: alias %q: certificate: %v", ErrTruncated, alias, err)
			}
			e.chain = append(e.chain, cert)
		}
		if len(e.chain) == 0 {
			return nil, inputErr("re-create the keystore", "%w: alias %q has no certificate", ErrTruncated, alias)
		}
		k.entries = append(k.entries, e)
	}
	return k, nil
}

// NewTruststore is an empty JKS truststore (fill it with SetTrustedCert).
func NewTruststore() *Keystore { return &Keystore{typ: TypeJKS} }

// ReadTruststoreNoPassword reads the trusted certificates of a JKS
// truststore whose password is not known. A JKS keeps trusted certificates
// in clear; only its integrity digest needs the password, and that is not
// checked here, so the caller must write the store anew under a password of
// its own. A store that holds a private key is refused: its key could not
// be carried over.
func ReadTruststoreNoPassword(data []byte) (*Keystore, error) {
	if len(data) < 4 || binary.BigEndian.Uint32(data) != jksMagic {
		return nil, inputErr("give a JKS truststore", "%w: not a JKS file", ErrUnknownFormat)
	}
	if err := walkJKS(data); err != nil {
		return nil, err
	}
	ks := keystore.New()
	if err := ks.Load(bytes.NewReader(data), []byte("not-the-password")); err != nil && !strings.Contains(err.Error(), "invalid digest") {
		return nil, inputErr("re-create the truststore with keytool", "%w: jks: %v", ErrTruncated, err)
	}
	k := NewTruststore()
	for _, alias := range ks.Aliases() {
		if !ks.IsTrustedCertificateEntry(alias) {
			return nil, inputErr("give the truststore's password", "the JKS holds a private key (%s): it is not a truststore", alias)
		}
		e, err := ks.GetTrustedCertificateEntry(alias)
		if err != nil {
			return nil, inputErr("re-create the truststore with keytool", "truststore entry %s: %v", alias, err)
		}
		c, err := x509.ParseCertificate(e.Certificate.Content)
		if err != nil {
			return nil, inputErr("re-create the truststore with keytool", "truststore entry %s: %v", alias, err)
		}
		k.SetTrustedCert(alias, c)
	}
	return k, nil
}
