package pki

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	keystore "github.com/pavlo-v-chernykh/keystore-go/v4"
)

// Store types as the answers file and --storetype name them.
const (
	TypeJKS    = "jks"
	TypePKCS12 = "pkcs12"
)

// DefaultAlias is the alias CM's documentation uses (keytool -alias jetty).
const DefaultAlias = "jetty"

// Keystore is a decoded JKS or PKCS#12 keystore.
type Keystore struct {
	typ       string
	entries   []entry
	jks       *keystore.KeyStore // for JKS, keys are decrypted on demand with the key password
	storePass []byte
}

type entry struct {
	alias   string
	key     crypto.Signer // PKCS#12: decrypted at read time; JKS: nil until asked
	chain   []*x509.Certificate
	trusted bool // a trustedCertEntry
}

// ReadKeystore decodes a keystore. Its format is sniffed from the bytes
// (FEEDFEED = JKS, 0x30 = PKCS#12), never from a file name: keytool's JDK 9+
// default is PKCS#12 whatever the file is called.
func ReadKeystore(data, storePass []byte) (*Keystore, error) {
	if err := checkASCII(storePass, "keystore password"); err != nil {
		return nil, err
	}
	switch {
	case len(data) >= 4 && binary.BigEndian.Uint32(data) == jksMagic:
		return readJKS(data, storePass)
	case len(data) >= 1 && data[0] == 0x30:
		entries, err := readPKCS12(data, storePass)
		if err != nil {
			return nil, err
		}
		return &Keystore{typ: TypePKCS12, entries: entries, storePass: bytes.Clone(storePass)}, nil
	case len(data) > 0 && len(data) < 4 && bytes.HasPrefix([]byte{0xfe, 0xed, 0xfe, 0xed}, data):
		return nil, truncated(len(data))
	}
	return nil, inputErr("give a JKS or PKCS#12 keystore file (a PEM or DER certificate is not a keystore; keytool -list -keystore FILE tells)",
		"%w (starts with %s)", ErrUnknownFormat, describeStart(data))
}

// StoreTypeOf names the format of keystore bytes as sniffed ("jks" or
// "pkcs12"), or "" when they are neither.
func StoreTypeOf(data []byte) string {
	switch {
	case len(data) >= 4 && binary.BigEndian.Uint32(data) == jksMagic:
		return TypeJKS
	case len(data) >= 1 && data[0] == 0x30:
		return TypePKCS12
	}
	return ""
}

// CheckStoreType refuses keystore bytes whose format is not the type the
// user named (any spelling ParseStoreType takes; "" takes either): a
// keystore declared as JKS that is PKCS#12 (keytool's default since JDK 9)
// would be written back in the wrong format, or be read by CM as the
// wrong type. Bad input naming the real type. Bytes of neither format are
// left to ReadKeystore to explain.
func CheckStoreType(data []byte, want string) error {
	if want == "" {
		return nil
	}
	w, err := normStoreType(want)
	if err != nil {
		return err
	}
	got := StoreTypeOf(data)
	if got == "" || got == w {
		return nil
	}
	return inputErr(fmt.Sprintf("name its real type, %s (keytool -list -keystore FILE shows \"Keystore type: %s\")", got, strings.ToUpper(got)),
		"%w: the file is a %s keystore, not %s", ErrStoreTypeMismatch, typeName(got), typeName(w))
}

func typeName(t string) string {
	if t == TypePKCS12 {
		return "PKCS#12"
	}
	return "JKS"
}

func truncated(n int) error {
	return inputErr("the file was cut short (an interrupted copy?); copy it again from its source",
		"%w: it ends after %d bytes", ErrTruncated, n)
}

func describeStart(data []byte) string {
	if len(data) == 0 {
		return "nothing: the file is empty"
	}
	if bytes.HasPrefix(data, []byte("-----BEGIN")) {
		line, _, _ := bytes.Cut(data, []byte("\n"))
		return fmt.Sprintf("%q, a PEM file", strings.TrimSpace(string(line)))
	}
	n := min(len(data), 4)
	return fmt.Sprintf("bytes % x", data[:n])
}

// Type returns "jks" or "pkcs12".
func (k *Keystore) Type() string { return k.typ }

// Aliases lists the entries' aliases, sorted.
func (k *Keystore) Aliases() []string {
	out := make([]string, 0, len(k.entries))
	for _, e := range k.entries {
		out = append(out, e.alias)
	}
	slices.Sort(out)
	return out
}

// IsKeyEntry reports whether alias names a private-key entry.
func (k *Keystore) IsKeyEntry(alias string) bool {
	e, err := k.find(alias)
	return err == nil && !e.trusted
}

// Certificate returns the certificate of alias (the leaf of a key entry).
func (k *Keystore) Certificate(alias string) (*x509.Certificate, error) {
	e, err := k.find(alias)
	if err != nil {
		return nil, err
	}
	return e.chain[0], nil
}

// Chain returns the certificate chain of alias, leaf first.
func (k *Keystore) Chain(alias string) ([]*x509.Certificate, error) {
	e, err := k.find(alias)
	if err != nil {
		return nil, err
	}
	return slices.Clone(e.chain), nil
}

// find looks alias up case-insensitively, as keytool does.
func (k *Keystore) find(alias string) (*entry, error) {
	for i := range k.entries {
		if strings.EqualFold(k.entries[i].alias, alias) {
			return &k.entries[i], nil
		}
	}
	have := k.Aliases()
	list := strings.Join(have, ", ")
	if len(have) == 0 {
		list = "none: the keystore is empty"
	}
	return nil, inputErr(fmt.Sprintf("pass --alias with one of: %s", list),
		"%w %q in the keystore; it has: %s", ErrNoSuchAlias, alias, list)
}

// PrivateKeyEntry returns the key and chain (chain[0] = leaf) of alias. A nil
// keyPass means "same as the store password", keytool's default and the only
// choice PKCS#12 offers.
func (k *Keystore) PrivateKeyEntry(alias string, keyPass []byte) (crypto.Signer, []*x509.Certificate, error) {
	e, err := k.find(alias)
	if err != nil {
		return nil, nil, err
	}
	if e.trusted {
		return nil, nil, inputErr("pass --alias naming the private key entry (keytool -list shows PrivateKeyEntry)",
			"%w: %q is a trusted certificate entry", ErrNotKeyEntry, e.alias)
	}
	if keyPass == nil {
		keyPass = k.storePass
	}
	wrongKey := inputErr("give the key password (keytool -keypass); cmtls expects it to equal the store password",
		"%w for alias %q", ErrWrongKeyPassword, e.alias)
	if k.typ == TypePKCS12 {
		if !bytes.Equal(keyPass, k.storePass) {
			return nil, nil, wrongKey
		}
		return e.key, slices.Clone(e.chain), nil
	}
	if e.key == nil || !bytes.Equal(keyPass, k.storePass) {
		pke, err := k.jks.GetPrivateKeyEntry(e.alias, keyPass)
		if err != nil {
			return nil, nil, wrongKey
		}
		signer, err := parseAnyPrivateKey(pke.PrivateKey)
		if err != nil {
			return nil, nil, inputErr("use an RSA or EC key", "%w: alias %q: %v", ErrUnknownFormat, e.alias, err)
		}
		if !publicKeysEqual(e.chain[0].PublicKey, signer.Public()) {
			return nil, nil, inputErr("re-create the keystore", "%w: alias %q", ErrKeyMismatch, e.alias)
		}
		return signer, slices.Clone(e.chain), nil
	}
	return e.key, slices.Clone(e.chain), nil
}

// TLSCertificate returns alias's key and chain ready for a tls.Config.
func (k *Keystore) TLSCertificate(alias string, keyPass []byte) (tls.Certificate, error) {
	key, chain, err := k.PrivateKeyEntry(alias, keyPass)
	if err != nil {
		return tls.Certificate{}, err
	}
	tc := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return tc, nil
}

// ParseStoreType accepts the spellings keytool and users use (JKS, PKCS12,
// p12, pfx) and returns "jks" or "pkcs12".
func ParseStoreType(t string) (string, error) { return normStoreType(t) }

func normStoreType(t string) (string, error) {
	switch strings.ToLower(t) {
	case "jks":
		return TypeJKS, nil
	case "pkcs12", "p12", "pfx":
		return TypePKCS12, nil
	}
	return "", inputErr("use --storetype jks or --storetype pkcs12",
		"%w: invalid value %q for the store type; options are jks, pkcs12", ErrBadArgument, t)
}

// EncodeKeystore writes a keystore holding one private-key entry. JKS is
// written with keystore-go (certificate type "X.509", as keytool writes);
// PKCS#12 with our own encoder so that the alias survives (see pkcs12.go).
// The key password is the store password, as keytool requires for PKCS#12.
func EncodeKeystore(storeType, alias string, key crypto.Signer, chain []*x509.Certificate, storePass []byte, now time.Time, rand io.Reader) ([]byte, error) {
	typ, err := normStoreType(storeType)
	if err != nil {
		return nil, err
	}
	if err := ValidatePassword(storePass); err != nil {
		return nil, err
	}
	if strings.TrimSpace(alias) == "" {
		return nil, inputErr("pass --alias (CM's documentation uses jetty)", "%w: empty alias", ErrBadArgument)
	}
	if len(chain) == 0 {
		return nil, inputErr("give the certificate for the key", "%w: no certificate", ErrBadArgument)
	}
	if !publicKeysEqual(chain[0].PublicKey, key.Public()) {
		return nil, inputErr("give the certificate issued for this keystore's key (made from its CSR)",
			"%w: %s", ErrKeyMismatch, chain[0].Subject)
	}
	return encodeEntries(typ, []entry{{alias: alias, key: key, chain: chain}}, storePass, now, rand)
}

func encodeEntries(typ string, entries []entry, storePass []byte, now time.Time, rand io.Reader) ([]byte, error) {
	if typ == TypePKCS12 {
		return encodePKCS12(entries, storePass, rand)
	}
	ks := keystore.New(keystore.WithMinPasswordLen(MinPasswordLen), keystore.WithCustomRandomNumberGenerator(rand))
	for _, e := range entries {
		var certs []keystore.Certificate
		for _, c := range e.chain {
			certs = append(certs, keystore.Certificate{Type: "X.509", Content: c.Raw})
		}
		if e.trusted {
			if err := ks.SetTrustedCertificateEntry(e.alias, keystore.TrustedCertificateEntry{CreationTime: now, Certificate: certs[0]}); err != nil {
				return nil, fmt.Errorf("jks: %w", err)
			}
			continue
		}
		pkcs8, err := x509.MarshalPKCS8PrivateKey(e.key)
		if err != nil {
			return nil, fmt.Errorf("marshal private key: %w", err)
		}
		pke := keystore.PrivateKeyEntry{CreationTime: now, PrivateKey: pkcs8, CertificateChain: certs}
		if err := ks.SetPrivateKeyEntry(e.alias, pke, storePass); err != nil {
			return nil, fmt.Errorf("jks: %w", err)
		}
	}
	var buf bytes.Buffer
	if err := ks.Store(&buf, storePass); err != nil {
		return nil, fmt.Errorf("jks: %w", err)
	}
	return buf.Bytes(), nil
}

// Encode writes the whole keystore back in its own type with storePass,
// which also becomes every key's password. Keys of a JKS not yet decrypted
// are decrypted with the store password first.
func (k *Keystore) Encode(storePass []byte, now time.Time, rand io.Reader) ([]byte, error) {
	if err := ValidatePassword(storePass); err != nil {
		return nil, err
	}
	entries := slices.Clone(k.entries)
	for i, e := range entries {
		if e.trusted || e.key != nil {
			continue
		}
		key, _, err := k.PrivateKeyEntry(e.alias, nil)
		if err != nil {
			return nil, err
		}
		entries[i].key = key
	}
	return encodeEntries(k.typ, entries, storePass, now, rand)
}

// MinPasswordLen is keytool's minimum ("Key password must be at least 6 characters").
const MinPasswordLen = 6

// ValidatePassword refuses what keytool cannot use: fewer than 6 characters,
// or anything outside printable ASCII (keystore-go widens bytes to 16-bit
// chars instead of using UTF-16, so keytool cannot read a JKS it wrote with a
// non-ASCII password).
func ValidatePassword(pw []byte) error {
	if len(pw) < MinPasswordLen {
		return inputErr("choose a keystore password of at least 6 ASCII characters",
			"%w: shorter than %d characters (keytool refuses it)", ErrBadPassword, MinPasswordLen)
	}
	return checkASCII(pw, "keystore password")
}

func checkASCII(pw []byte, what string) error {
	for _, b := range pw {
		if b < 0x20 || b > 0x7e {
			return inputErr("use only printable ASCII characters in the password (keytool and keystore-go disagree on others)",
				"%w: the %s has a non-ASCII or control character", ErrBadPassword, what)
		}
	}
	return nil
}

// GenerateKeystore is Step 2.1 in one call (keytool -genkeypair): a new key
// of alg/size, a self-signed certificate from opts valid from now, in a
// keystore of storeType under alias. It returns the keystore bytes and the
// certificate (whose Raw is the DER Step 2.4 exports).
func GenerateKeystore(rand io.Reader, storeType, alias, alg string, size int, opts CertOptions, storePass []byte, now time.Time) ([]byte, *x509.Certificate, error) {
	if _, err := normStoreType(storeType); err != nil {
		return nil, nil, err
	}
	if err := ValidatePassword(storePass); err != nil {
		return nil, nil, err
	}
	key, err := GenerateKey(rand, alg, size)
	if err != nil {
		return nil, nil, err
	}
	cert, err := SelfSigned(rand, key, opts, now)
	if err != nil {
		return nil, nil, err
	}
	ks, err := EncodeKeystore(storeType, alias, key, []*x509.Certificate{cert}, storePass, now, rand)
	if err != nil {
		return nil, nil, err
	}
	return ks, cert, nil
}
