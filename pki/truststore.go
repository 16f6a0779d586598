package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"
)

// EncodeTruststore writes a JKS truststore of trusted certificate entries
// (keytool -importcert -noprompt), one per certificate, named alias,
// alias-1, alias-2, ... The password only protects the file's integrity
// (Java's keytool: "the keystore integrity"), as a truststore holds no key.
func EncodeTruststore(alias string, certs []*x509.Certificate, storePass []byte, now time.Time, rand io.Reader) ([]byte, error) {
	if len(certs) == 0 {
		return nil, errors.New("truststore: no certificate")
	}
	if err := ValidatePassword(storePass); err != nil {
		return nil, err
	}
	entries := make([]entry, 0, len(certs))
	for i, c := range certs {
		a := alias
		if i > 0 {
			a = fmt.Sprintf("%s-%d", alias, i)
		}
		entries = append(entries, entry{alias: a, chain: []*x509.Certificate{c}, trusted: true})
	}
	return encodeEntries(TypeJKS, entries, storePass, now, rand)
}
