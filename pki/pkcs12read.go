package pki

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"hash"
	"strconv"
	"unicode/utf16"
)

// decodePKCS12 reads the PKCS#12 files keytool (JDK 12+ defaults), OpenSSL 3
// and cmtls write: HMAC MAC with the PKCS#12 KDF, PBES2 (PBKDF2 + AES-CBC)
// for keys and certificate safes, or unencrypted certificate safes. Unlike
// go-pkcs12's ToPEM and DecodeChain it keeps every entry, named by
// friendlyName, and understands Java's trusted-certificate attribute. Older
// algorithms (3DES, RC2) return errUnsupportedP12 and go to go-pkcs12.
var errUnsupportedP12 = errors.New("pkcs12: algorithm left to go-pkcs12")

var (
	oidSHA1           = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA384         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidHmacWithSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHmacWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHmacWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
)

func hashFor(oid asn1.ObjectIdentifier) func() hash.Hash {
	switch {
	case oid.Equal(oidSHA1), oid.Equal(oidHmacWithSHA1):
		return sha1.New
	case oid.Equal(oidSHA256), oid.Equal(oidHmacWithSHA256):
		return sha256.New
	case oid.Equal(oidSHA384), oid.Equal(oidHmacWithSHA384):
		return sha512.New384
	case oid.Equal(oidSHA512), oid.Equal(oidHmacWithSHA512):
		return sha512.New
	}
	return nil
}

func damagedP12(what string, err error) error {
	if err != nil {
		return inputErr("re-create or re-export the keystore (keytool -list -keystore FILE checks it)", "%w: pkcs12 %s: %v", ErrTruncated, what, err)
	}
	return inputErr("re-create or re-export the keystore (keytool -list -keystore FILE checks it)", "%w: pkcs12 %s", ErrTruncated, what)
}

// decodePKCS12 reads a password-integrity PKCS#12 keystore (RFC 7292) as
// keytool writes it: the MAC checked, the safes opened, the bags decoded,
// keys paired with their chains.
func decodePKCS12(data, password []byte) ([]entry, error) {
	authSafe, err := verifiedAuthSafe(data, password)
	if err != nil {
		return nil, err
	}
	bags, err := safeBags(authSafe, password)
	if err != nil {
		return nil, err
	}
	keys, certs, err := decodeBags(bags, password)
	if err != nil {
		return nil, err
	}
	return p12Entries(keys, certs)
}

// verifiedAuthSafe parses the PFX and checks its password-based MAC over
// the authenticated safe (RFC 7292 section 4 and appendix B), which is
// also how a wrong store password is told from a damaged file.
func verifiedAuthSafe(data, password []byte) ([]byte, error) {
	var pfx p12PFX
	if _, err := asn1.Unmarshal(data, &pfx); err != nil {
		return nil, damagedP12("structure", err)
	}
	var authSafe []byte
	if _, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		return nil, damagedP12("content", err)
	}
	if len(pfx.MacData.Mac.Digest) == 0 {
		return nil, errUnsupportedP12 // no MAC (or PBMAC1): let go-pkcs12 judge
	}
	h := hashFor(pfx.MacData.Mac.Algorithm.Algorithm)
	if h == nil {
		return nil, errUnsupportedP12
	}
	it := pfx.MacData.Iterations
	if it < 1 || it > maxP12Iterations {
		return nil, damagedP12("MAC iteration count "+strconv.Itoa(it), nil)
	}
	key := pkcs12KDFHash(h, bmpZero(password), pfx.MacData.MacSalt, it, 3, h().Size())
	m := hmac.New(h, key)
	m.Write(authSafe)
	if subtle.ConstantTimeCompare(m.Sum(nil), pfx.MacData.Mac.Digest) != 1 {
		return nil, wrongStorePass()
	}
	return authSafe, nil
}

// safeBags opens every safe of the authenticated safe (plain, or
// PBES2-encrypted) and returns their bags in order.
func safeBags(authSafe, password []byte) ([]p12SafeBag, error) {
	var cis []p12ContentInfo
	if _, err := asn1.Unmarshal(authSafe, &cis); err != nil {
		return nil, damagedP12("authenticated safe", err)
	}
	var bags []p12SafeBag
	for _, ci := range cis {
		var safe []byte
		switch {
		case ci.ContentType.Equal(oidData):
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &safe); err != nil {
				return nil, damagedP12("safe", err)
			}
		case ci.ContentType.Equal(oidEncryptedData):
			var ed p12EncryptedData
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil {
				return nil, damagedP12("encrypted safe", err)
			}
			var err error
			safe, err = pbes2Decrypt(ed.EncryptedContentInfo.ContentEncryptionAlgorithm.Algorithm,
				ed.EncryptedContentInfo.ContentEncryptionAlgorithm.Parameters.FullBytes, password, ed.EncryptedContentInfo.EncryptedContent)
			if err != nil {
				return nil, err
			}
		default:
			return nil, errUnsupportedP12
		}
		var sb []p12SafeBag
		if _, err := asn1.Unmarshal(safe, &sb); err != nil {
			return nil, damagedP12("safe contents", err)
		}
		bags = append(bags, sb...)
	}
	return bags, nil
}

// bagAttrs reads the attributes of a bag keytool sets: friendlyName (the
// alias), localKeyId (pairs a key with its certificate) and Java's
// trusted-key-usage mark of a trustedCertEntry.
func bagAttrs(b p12SafeBag) (name, id string, trusted bool) {
	for _, a := range b.Attributes {
		switch {
		case a.ID.Equal(oidFriendlyName):
			var raw asn1.RawValue
			if _, err := asn1.Unmarshal(a.Value.Bytes, &raw); err == nil && raw.Tag == asn1.TagBMPString && len(raw.Bytes)%2 == 0 {
				u := make([]uint16, len(raw.Bytes)/2)
				for i := range u {
					u[i] = uint16(raw.Bytes[2*i])<<8 | uint16(raw.Bytes[2*i+1])
				}
				name = string(utf16.Decode(u))
			}
		case a.ID.Equal(oidLocalKeyID):
			var v []byte
			if _, err := asn1.Unmarshal(a.Value.Bytes, &v); err == nil {
				id = hex.EncodeToString(v)
			}
		case a.ID.Equal(oidJavaTrustedKeyUsage):
			trusted = true
		}
	}
	return name, id, trusted
}

// p12Cert is a certificate bag with its attributes.
type p12Cert struct {
	cert        *x509.Certificate
	name, id    string
	trustedMark bool
}

// decodeBags decrypts the key bags and parses the certificate bags.
func decodeBags(bags []p12SafeBag, password []byte) ([]p12Key, []p12Cert, error) {
	var keys []p12Key
	var certs []p12Cert
	for _, b := range bags {
		name, id, trusted := bagAttrs(b)
		switch {
		case b.ID.Equal(oidShroudedKeyBag):
			var epki p12EncryptedPrivateKeyInfo
			if _, err := asn1.Unmarshal(b.Value.Bytes, &epki); err != nil {
				return nil, nil, damagedP12("key bag", err)
			}
			plain, err := pbes2Decrypt(epki.Algorithm.Algorithm, epki.Algorithm.Parameters.FullBytes, password, epki.Data)
			if err != nil {
				return nil, nil, err
			}
			k, err := parseAnyPrivateKey(plain)
			if err != nil {
				return nil, nil, inputErr("use an RSA or EC key", "%w: %v", ErrUnknownFormat, err)
			}
			keys = append(keys, p12Key{name: name, id: id, key: k})
		case b.ID.Equal(oidCertBag):
			var cb p12CertBag
			if _, err := asn1.Unmarshal(b.Value.Bytes, &cb); err != nil {
				return nil, nil, damagedP12("certificate bag", err)
			}
			if !cb.ID.Equal(oidX509Certificate) {
				continue
			}
			c, err := x509.ParseCertificate(cb.Data)
			if err != nil {
				return nil, nil, damagedP12("certificate", err)
			}
			certs = append(certs, p12Cert{cert: c, name: name, id: id, trustedMark: trusted})
		default:
			// CRL, secret and plain key bags: not used by CM keystores.
		}
	}
	return keys, certs, nil
}

// p12Entries pairs keys with their chains, then lists the certificates no
// chain starts with as trusted entries: those marked trusted, or named
// without a key id. Only the leaves count as used: a CA of a chain that is
// also its own trusted entry is listed again, as keytool does.
func p12Entries(keys []p12Key, pc []p12Cert) ([]entry, error) {
	certs := make([]*x509.Certificate, len(pc))
	certID := make(map[*x509.Certificate]string, len(pc))
	for i, c := range pc {
		certs[i] = c.cert
		certID[c.cert] = c.id
	}
	out, ok := pairKeys(keys, certs, certID)
	if !ok {
		return nil, damagedP12("key entry without its certificate", nil)
	}
	used := map[*x509.Certificate]bool{}
	for _, e := range out {
		used[e.chain[0]] = true
	}
	for _, c := range pc {
		if !used[c.cert] && (c.trustedMark || (c.name != "" && c.id == "")) {
			name := c.name
			if name == "" {
				name = strconv.Itoa(len(out) + 1)
			}
			out = append(out, entry{alias: name, chain: []*x509.Certificate{c.cert}, trusted: true})
		}
	}
	return out, nil
}

// pbes2Decrypt decrypts PBES2 (PBKDF2 with an HMAC-SHA PRF, AES-CBC).
func pbes2Decrypt(alg asn1.ObjectIdentifier, params, password, ct []byte) ([]byte, error) {
	if !alg.Equal(oidPBES2) {
		return nil, errUnsupportedP12
	}
	var p pbes2Params
	if _, err := asn1.Unmarshal(params, &p); err != nil {
		return nil, damagedP12("PBES2 parameters", err)
	}
	if !p.KDF.Algorithm.Equal(oidPBKDF2) {
		return nil, errUnsupportedP12
	}
	var kp pbkdf2Params
	if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &kp); err != nil {
		return nil, damagedP12("PBKDF2 parameters", err)
	}
	prf := sha1.New
	if len(kp.PRF.Algorithm) > 0 {
		if prf = hashFor(kp.PRF.Algorithm); prf == nil {
			return nil, errUnsupportedP12
		}
	}
	var keyLen int
	switch {
	case p.Enc.Algorithm.Equal(oidAES128CBC):
		keyLen = 16
	case p.Enc.Algorithm.Equal(oidAES192CBC):
		keyLen = 24
	case p.Enc.Algorithm.Equal(oidAES256CBC):
		keyLen = 32
	default:
		return nil, errUnsupportedP12
	}
	var iv []byte
	if _, err := asn1.Unmarshal(p.Enc.Parameters.FullBytes, &iv); err != nil || len(iv) != aes.BlockSize {
		return nil, damagedP12("AES parameters", err)
	}
	if kp.Iterations < 1 || kp.Iterations > maxP12Iterations {
		return nil, damagedP12("PBKDF2 iteration count "+strconv.Itoa(kp.Iterations), nil)
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, damagedP12("encrypted data length", nil)
	}
	key, err := pbkdf2.Key(prf, string(password), kp.Salt, kp.Iterations, keyLen)
	if err != nil {
		return nil, damagedP12("PBKDF2", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, damagedP12("AES", err)
	}
	out := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, ct)
	pad := int(out[len(out)-1])
	if pad == 0 || pad > aes.BlockSize || pad > len(out) {
		// The MAC checked the store password, so a bad pad means the key
		// password differs from it.
		return nil, inputErr("give the key password (keytool -keypass); cmtls expects it to equal the store password",
			"%w", ErrWrongKeyPassword)
	}
	for _, b := range out[len(out)-pad:] {
		if int(b) != pad {
			return nil, inputErr("give the key password (keytool -keypass); cmtls expects it to equal the store password",
				"%w", ErrWrongKeyPassword)
		}
	}
	return out[:len(out)-pad], nil
}
