package pki

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/big"
	"strconv"
	"unicode/utf16"

	gopkcs12 "software.sslmate.com/src/go-pkcs12"
)

// PKCS#12 (RFC 7292) is written here rather than with go-pkcs12 because
// go-pkcs12 cannot put a friendlyName on a key bag (SSLMate/go-pkcs12#34), and
// keytool shows such an entry as alias "1" instead of "jetty". The layout is
// what JDK 17's keytool writes by default: the key in a PKCS#8 shrouded key
// bag under PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), the certificates in an
// encryptedData under the same scheme, and an HMAC-SHA256 MAC whose key comes
// from the PKCS#12 KDF. Reading goes through go-pkcs12, which also handles
// the legacy (3DES/RC2) files older keytools and OpenSSL write.

var (
	oidData                = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidShroudedKeyBag      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidCertBag             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	oidX509Certificate     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}
	oidFriendlyName        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 20}
	oidLocalKeyID          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 21}
	oidPBES2               = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHmacWithSHA256      = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidAES256CBC           = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidSHA256              = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidJavaTrustedKeyUsage = asn1.ObjectIdentifier{2, 16, 840, 1, 113894, 746875, 1, 1}
)

// p12Iterations matches keytool's default (keystore.pkcs12.keyPbeIterationCount
// and macIterationCount in JDK 17's java.security).
const p12Iterations = 10000

// maxP12Iterations bounds the work a hostile file can ask for.
const maxP12Iterations = 1 << 20

type p12PFX struct {
	Version  int
	AuthSafe p12ContentInfo
	MacData  p12MacData `asn1:"optional"`
}

type p12ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type p12MacData struct {
	Mac        p12DigestInfo
	MacSalt    []byte
	Iterations int `asn1:"optional,default:1"`
}

type p12DigestInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Digest    []byte
}

type p12EncryptedData struct {
	Version              int
	EncryptedContentInfo p12EncryptedContentInfo
}

type p12EncryptedContentInfo struct {
	ContentType                asn1.ObjectIdentifier
	ContentEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedContent           []byte `asn1:"tag:0,optional"`
}

type p12SafeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue  `asn1:"tag:0,explicit"`
	Attributes []p12Attribute `asn1:"set,optional"`
}

type p12Attribute struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"set"`
}

type p12CertBag struct {
	ID   asn1.ObjectIdentifier
	Data []byte `asn1:"tag:0,explicit"`
}

type p12EncryptedPrivateKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Data      []byte
}

type pbes2Params struct {
	KDF pkix.AlgorithmIdentifier
	Enc pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
	KeyLength  int `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier
}

// bmpZero encodes an ASCII/BMP password as the PKCS#12 KDF wants it:
// UTF-16BE with a two-byte NUL terminator (RFC 7292 appendix B.1).
func bmpZero(pw []byte) []byte {
	u := utf16.Encode([]rune(string(pw)))
	out := make([]byte, 0, 2*len(u)+2)
	for _, c := range u {
		out = append(out, byte(c>>8), byte(c))
	}
	return append(out, 0, 0)
}

// pkcs12KDF is the key derivation of RFC 7292 appendix B.2 with SHA-256
// (u = 32, v = 64); id 3 derives MAC keys.
func pkcs12KDF(password, salt []byte, iterations int, id byte, size int) []byte {
	return pkcs12KDFHash(sha256.New, password, salt, iterations, id, size)
}

func pkcs12KDFHash(newHash func() hash.Hash, password, salt []byte, iterations int, id byte, size int) []byte {
	u, v := newHash().Size(), newHash().BlockSize()
	fill := func(in []byte) []byte {
		if len(in) == 0 {
			return nil
		}
		n := v * ((len(in) + v - 1) / v)
		out := make([]byte, n)
		for i := range out {
			out[i] = in[i%len(in)]
		}
		return out
	}
	D := bytes.Repeat([]byte{id}, v)
	I := append(fill(salt), fill(password)...)
	one := big.NewInt(1)
	var out []byte
	for len(out) < size {
		h := newHash()
		h.Write(D)
		h.Write(I)
		A := h.Sum(nil)
		for j := 1; j < iterations; j++ {
			h.Reset()
			h.Write(A)
			A = h.Sum(A[:0])
		}
		out = append(out, A...)
		B := make([]byte, v)
		for i := range B {
			B[i] = A[i%u]
		}
		Bn := new(big.Int).SetBytes(B)
		Bn.Add(Bn, one)
		for j := 0; j < len(I); j += v {
			Ij := new(big.Int).SetBytes(I[j : j+v])
			Ij.Add(Ij, Bn)
			b := Ij.Bytes()
			if len(b) > v {
				b = b[len(b)-v:]
			}
			chunk := I[j : j+v]
			clear(chunk)
			copy(chunk[v-len(b):], b)
		}
	}
	return out[:size]
}

// pbes2Encrypt encrypts plain under PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC)
// and returns the algorithm identifier and the ciphertext.
func pbes2Encrypt(rand io.Reader, password, plain []byte) (pkix.AlgorithmIdentifier, []byte, error) {
	salt := make([]byte, 16)
	iv := make([]byte, aes.BlockSize)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return pkix.AlgorithmIdentifier{}, nil, fmt.Errorf("read random salt: %w", err)
	}
	if _, err := io.ReadFull(rand, iv); err != nil {
		return pkix.AlgorithmIdentifier{}, nil, fmt.Errorf("read random iv: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, string(password), salt, p12Iterations, 32)
	if err != nil {
		return pkix.AlgorithmIdentifier{}, nil, err
	}
	kdf, err := asn1.Marshal(pbkdf2Params{Salt: salt, Iterations: p12Iterations, KeyLength: 32,
		PRF: pkix.AlgorithmIdentifier{Algorithm: oidHmacWithSHA256, Parameters: asn1.NullRawValue}})
	if err != nil {
		return pkix.AlgorithmIdentifier{}, nil, err
	}
	ivDER, err := asn1.Marshal(iv)
	if err != nil {
		return pkix.AlgorithmIdentifier{}, nil, err
	}
	params, err := asn1.Marshal(pbes2Params{
		KDF: pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdf}},
		Enc: pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: ivDER}},
	})
	if err != nil {
		return pkix.AlgorithmIdentifier{}, nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return pkix.AlgorithmIdentifier{}, nil, err
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := append(append([]byte(nil), plain...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
	return pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: params}}, buf, nil
}

func bmpString(s string) (asn1.RawValue, error) {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = append(b, byte(c>>8), byte(c))
	}
	der, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagBMPString, Bytes: b})
	if err != nil {
		return asn1.RawValue{}, err
	}
	return asn1.RawValue{FullBytes: der}, nil
}

// bagAttributes returns friendlyName and localKeyId, each a SET of one value.
func bagAttributes(alias string, localKeyID []byte) ([]p12Attribute, error) {
	name, err := bmpString(alias)
	if err != nil {
		return nil, err
	}
	id, err := asn1.Marshal(localKeyID)
	if err != nil {
		return nil, err
	}
	set := func(inner []byte) asn1.RawValue {
		return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: inner}
	}
	return []p12Attribute{
		{ID: oidFriendlyName, Value: set(name.FullBytes)},
		{ID: oidLocalKeyID, Value: set(id)},
	}, nil
}

func explicit0(der []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: der}
}

// encodePKCS12 writes entries: key entries as shrouded key bags named by
// friendlyName, their chains and trusted certificates as certificate bags.
func encodePKCS12(entries []entry, password []byte, rand io.Reader) ([]byte, error) {
	var keyBagList, certBags []p12SafeBag
	for _, e := range entries {
		if e.trusted {
			name, err := bmpString(e.alias)
			if err != nil {
				return nil, err
			}
			anyEKU, err := asn1.Marshal(asn1.ObjectIdentifier{2, 5, 29, 37, 0})
			if err != nil {
				return nil, err
			}
			cb, err := asn1.Marshal(p12CertBag{ID: oidX509Certificate, Data: e.chain[0].Raw})
			if err != nil {
				return nil, err
			}
			certBags = append(certBags, p12SafeBag{ID: oidCertBag, Value: explicit0(cb), Attributes: []p12Attribute{
				{ID: oidFriendlyName, Value: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: name.FullBytes}},
				{ID: oidJavaTrustedKeyUsage, Value: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: anyEKU}},
			}})
			continue
		}
		pkcs8, err := x509.MarshalPKCS8PrivateKey(e.key)
		if err != nil {
			return nil, fmt.Errorf("marshal private key: %w", err)
		}
		lk := sha1.Sum(e.chain[0].Raw) // localKeyId ties the key to its leaf, as OpenSSL does
		attrs, err := bagAttributes(e.alias, lk[:])
		if err != nil {
			return nil, err
		}
		alg, enc, err := pbes2Encrypt(rand, password, pkcs8)
		if err != nil {
			return nil, err
		}
		epki, err := asn1.Marshal(p12EncryptedPrivateKeyInfo{Algorithm: alg, Data: enc})
		if err != nil {
			return nil, err
		}
		keyBagList = append(keyBagList, p12SafeBag{ID: oidShroudedKeyBag, Value: explicit0(epki), Attributes: attrs})
		for i, c := range e.chain {
			cb, err := asn1.Marshal(p12CertBag{ID: oidX509Certificate, Data: c.Raw})
			if err != nil {
				return nil, err
			}
			bag := p12SafeBag{ID: oidCertBag, Value: explicit0(cb)}
			if i == 0 {
				bag.Attributes = attrs
			}
			certBags = append(certBags, bag)
		}
	}
	keyBags, err := asn1.Marshal(keyBagList)
	if err != nil {
		return nil, err
	}
	certSafe, err := asn1.Marshal(certBags)
	if err != nil {
		return nil, err
	}
	calg, cenc, err := pbes2Encrypt(rand, password, certSafe)
	if err != nil {
		return nil, err
	}
	ed, err := asn1.Marshal(p12EncryptedData{Version: 0, EncryptedContentInfo: p12EncryptedContentInfo{
		ContentType: oidData, ContentEncryptionAlgorithm: calg, EncryptedContent: cenc}})
	if err != nil {
		return nil, err
	}
	keyOctets, err := asn1.Marshal(keyBags)
	if err != nil {
		return nil, err
	}
	authSafe, err := asn1.Marshal([]p12ContentInfo{
		{ContentType: oidData, Content: explicit0(keyOctets)},
		{ContentType: oidEncryptedData, Content: explicit0(ed)},
	})
	if err != nil {
		return nil, err
	}

	macSalt := make([]byte, 20)
	if _, err := io.ReadFull(rand, macSalt); err != nil {
		return nil, fmt.Errorf("read random salt: %w", err)
	}
	macKey := pkcs12KDF(bmpZero(password), macSalt, p12Iterations, 3, 32)
	m := hmac.New(sha256.New, macKey)
	m.Write(authSafe)
	authOctets, err := asn1.Marshal(authSafe)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(p12PFX{
		Version:  3,
		AuthSafe: p12ContentInfo{ContentType: oidData, Content: explicit0(authOctets)},
		MacData: p12MacData{
			Mac:        p12DigestInfo{Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidSHA256, Parameters: asn1.NullRawValue}, Digest: m.Sum(nil)},
			MacSalt:    macSalt,
			Iterations: p12Iterations,
		},
	})
}

// precheckPKCS12 parses the outer PFX so that damage and hostile iteration
// counts are caught before go-pkcs12 runs its KDFs.
func precheckPKCS12(data []byte) error {
	var pfx p12PFX
	rest, err := asn1.Unmarshal(data, &pfx)
	if err != nil {
		if declaredLen(data) > len(data) {
			return inputErr("the file was cut short (an interrupted copy?); copy it again from its source",
				"%w: %d bytes, but its header announces more", ErrTruncated, len(data))
		}
		return inputErr("give a JKS or PKCS#12 keystore (keytool -list -keystore FILE shows what it is)",
			"%w: not a PKCS#12 structure (%v)", ErrUnknownFormat, err)
	}
	if len(rest) > 0 || pfx.Version != 3 || !pfx.AuthSafe.ContentType.Equal(oidData) {
		return inputErr("give a JKS or PKCS#12 keystore (keytool -list -keystore FILE shows what it is)",
			"%w: not a PKCS#12 version 3 file", ErrUnknownFormat)
	}
	if pfx.MacData.Iterations > maxP12Iterations {
		return inputErr("re-create the keystore with keytool or cmtls cert generate",
			"%w: MAC iteration count %d is beyond reason", ErrTruncated, pfx.MacData.Iterations)
	}
	return nil
}

// declaredLen returns the total length a DER header at data[0] announces, or
// -1 if it cannot be read.
func declaredLen(data []byte) int {
	if len(data) < 2 {
		return 1 << 30
	}
	l := int(data[1])
	if l < 0x80 {
		return 2 + l
	}
	n := l & 0x7f
	if n == 0 || n > 4 {
		return -1
	}
	if len(data) < 2+n {
		return 1 << 30
	}
	l = 0
	for _, b := range data[2 : 2+n] {
		l = l<<8 | int(b)
	}
	return 2 + n + l
}

// readPKCS12 decodes every entry of a PKCS#12 file.
func readPKCS12(data, storePass []byte) ([]entry, error) {
	if err := precheckPKCS12(data); err != nil {
		return nil, err
	}
	entries, err := decodePKCS12(data, storePass)
	if err == nil || !errors.Is(err, errUnsupportedP12) {
		return entries, err
	}
	// ToPEM is deprecated for its PEM labels, which entriesFromPEM does not
	// rely on; it is the one go-pkcs12 call that returns every bag with
	// its friendlyName and localKeyId, which the aliases of the older
	// (RC2/3DES) files JDK 8's keytool writes need.
	//lint:ignore SA1019 see above: the attributes, not the PEM, are used
	blocks, err := gopkcs12.ToPEM(data, string(storePass))
	if err == nil {
		return entriesFromPEM(blocks)
	}
	if errors.Is(err, gopkcs12.ErrIncorrectPassword) {
		return nil, wrongStorePass()
	}
	// ToPEM refuses Java's trusted-certificate attribute and more than two
	// safes; DecodeChain copes with some of those files.
	key, leaf, cas, err2 := gopkcs12.DecodeChain(data, string(storePass))
	if err2 != nil {
		if errors.Is(err2, gopkcs12.ErrIncorrectPassword) {
			return nil, wrongStorePass()
		}
		return nil, inputErr("re-create or re-export the keystore with keytool; cmtls reads PKCS#12 files with one or more key entries",
			"%w: pkcs12: %v", ErrTruncated, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, inputErr("use an RSA or EC key", "%w: unsupported private key type %T", ErrUnknownFormat, key)
	}
	return []entry{{alias: "1", key: signer, chain: orderChain(leaf, cas)}}, nil
}

func wrongStorePass() error {
	return inputErr("give the keystore's password (--storepass-file or --storepass-env); keytool -list -keystore FILE checks it",
		"%w", ErrWrongStorePassword)
}

// entriesFromPEM turns go-pkcs12's ToPEM blocks into entries, pairing keys
// with certificates by localKeyId and naming them by friendlyName.
func entriesFromPEM(blocks []*pem.Block) ([]entry, error) {
	var keys []p12Key
	var certs []*x509.Certificate
	certID := map[*x509.Certificate]string{}
	certName := map[*x509.Certificate]string{}
	for _, b := range blocks {
		switch b.Type {
		case "PRIVATE KEY":
			k, err := parseAnyPrivateKey(b.Bytes)
			if err != nil {
				return nil, inputErr("use an RSA or EC key", "%w: %v", ErrUnknownFormat, err)
			}
			keys = append(keys, p12Key{name: b.Headers["friendlyName"], id: b.Headers["localKeyId"], key: k})
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, inputErr("re-create the keystore", "%w: certificate in keystore: %v", ErrTruncated, err)
			}
			certs = append(certs, c)
			certID[c] = b.Headers["localKeyId"]
			certName[c] = b.Headers["friendlyName"]
		}
	}
	out, ok := pairKeys(keys, certs, certID)
	if !ok {
		return nil, inputErr("re-create the keystore", "%w: key entry without its certificate", ErrTruncated)
	}
	used := map[*x509.Certificate]bool{}
	for _, e := range out {
		for _, c := range e.chain {
			used[c] = true
		}
	}
	for _, c := range certs {
		if !used[c] && certName[c] != "" {
			out = append(out, entry{alias: certName[c], chain: []*x509.Certificate{c}, trusted: true})
		}
	}
	return out, nil
}

// p12Key is a private key bag with its friendlyName and localKeyId.
type p12Key struct {
	name, id string
	key      crypto.Signer
}

// pairKeys makes one entry per key: its certificate is the one with the
// same localKeyId, else the one with its public key, followed by the
// issuers found among certs. An unnamed key is named by its position, as
// keytool shows it. ok is false when a key has no certificate.
func pairKeys(keys []p12Key, certs []*x509.Certificate, certID map[*x509.Certificate]string) (out []entry, ok bool) {
	for i, k := range keys {
		var leaf *x509.Certificate
		for _, c := range certs {
			if k.id != "" && certID[c] == k.id {
				leaf = c
				break
			}
		}
		if leaf == nil {
			for _, c := range certs {
				if publicKeysEqual(c.PublicKey, k.key.Public()) {
					leaf = c
					break
				}
			}
		}
		if leaf == nil {
			return nil, false
		}
		name := k.name
		if name == "" {
			name = strconv.Itoa(i + 1) // what keytool shows for an unnamed entry
		}
		out = append(out, entry{alias: name, key: k.key, chain: orderChain(leaf, certs)})
	}
	return out, true
}

// orderChain returns leaf followed by its issuers found among pool.
func orderChain(leaf *x509.Certificate, pool []*x509.Certificate) []*x509.Certificate {
	chain := []*x509.Certificate{leaf}
	cur := leaf
	for len(chain) < 10 {
		if bytes.Equal(cur.RawIssuer, cur.RawSubject) {
			break
		}
		var next *x509.Certificate
		for _, c := range pool {
			if c != cur && bytes.Equal(c.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		chain = append(chain, next)
		cur = next
	}
	return chain
}

func parseAnyPrivateKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("unrecognised private key encoding")
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	switch s.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
		return s, nil
	}
	return nil, fmt.Errorf("unsupported private key type %T", k)
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type eq interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(eq)
	return ok && e.Equal(b)
}
