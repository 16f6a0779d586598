package samlsp

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"

	"github.com/cmtls/cmtls/pki/samlxml"
)

// XML Encryption algorithm identifiers (XML Encryption Syntax and
// Processing 1.0 and 1.1, W3C; RFC 9231 for the digests).
const (
	nsXMLEnc   = "http://www.w3.org/2001/04/xmlenc#"
	nsXMLEnc11 = "http://www.w3.org/2009/xmlenc11#"

	EncAES128CBC = nsXMLEnc + "aes128-cbc"
	EncAES192CBC = nsXMLEnc + "aes192-cbc"
	EncAES256CBC = nsXMLEnc + "aes256-cbc"
	EncAES128GCM = nsXMLEnc11 + "aes128-gcm"
	EncAES192GCM = nsXMLEnc11 + "aes192-gcm"
	EncAES256GCM = nsXMLEnc11 + "aes256-gcm"

	KeyRSAOAEPMGF1P = nsXMLEnc + "rsa-oaep-mgf1p"
	KeyRSAOAEP      = nsXMLEnc11 + "rsa-oaep"
	KeyRSA15        = nsXMLEnc + "rsa-1_5"
)

// EncryptionMethods is what the SP metadata offers under its encryption key,
// strongest first. RSA 1.5 key transport is never offered (Jager, Schinzel,
// Somorovsky, "Bleichenbacher's Attack Strikes Again: Breaking PKCS#1 v1.5
// in XML Encryption", ESORICS 2012); 3DES is not offered either.
var EncryptionMethods = []string{
	EncAES256GCM, EncAES192GCM, EncAES128GCM,
	EncAES256CBC, EncAES192CBC, EncAES128CBC,
	KeyRSAOAEP, KeyRSAOAEPMGF1P,
}

// dataCipher is a block encryption algorithm: key size and whether it is
// AES-GCM (else AES-CBC).
var dataCipher = map[string]struct {
	keySize int
	gcm     bool
}{
	EncAES128CBC: {16, false}, EncAES192CBC: {24, false}, EncAES256CBC: {32, false},
	EncAES128GCM: {16, true}, EncAES192GCM: {24, true}, EncAES256GCM: {32, true},
}

// mgfHash maps XML Encryption 1.1's MGF identifiers to their hash.
var mgfHash = map[string]crypto.Hash{
	nsXMLEnc11 + "mgf1sha1":   crypto.SHA1,
	nsXMLEnc11 + "mgf1sha224": crypto.SHA224,
	nsXMLEnc11 + "mgf1sha256": crypto.SHA256,
	nsXMLEnc11 + "mgf1sha384": crypto.SHA384,
	nsXMLEnc11 + "mgf1sha512": crypto.SHA512,
}

// decryptElement opens an EncryptedAssertion (or any element holding one
// xenc:EncryptedData): it finds the one EncryptedKey (inside the data's
// KeyInfo, or beside the data as some IdPs place it), unwraps the key with
// RSA-OAEP (RSA 1.5 only when allowRSA15), and decrypts the data with
// AES-GCM or AES-CBC. Errors are detailed for the log; callers show a
// generic refusal.
func decryptElement(key crypto.Decrypter, enc *etree.Element, allowRSA15 bool) (plain []byte, algs string, err error) {
	data, err := child(enc, nsXMLEnc, "EncryptedData")
	if err != nil || data == nil {
		return nil, "", errors.New("expected exactly one EncryptedData")
	}
	var eks []*etree.Element
	if ki, err := child(data, nsDSig, "KeyInfo"); err != nil {
		return nil, "", err
	} else if ki != nil {
		eks = append(eks, children(ki, nsXMLEnc, "EncryptedKey")...)
	}
	eks = append(eks, children(enc, nsXMLEnc, "EncryptedKey")...)
	if len(eks) != 1 {
		return nil, "", fmt.Errorf("%d EncryptedKey elements, expected exactly one", len(eks))
	}
	alg := encryptionMethod(data)
	dc, ok := dataCipher[alg]
	if !ok {
		return nil, "", fmt.Errorf("data encryption algorithm %q not supported", alg)
	}
	em, _ := child(eks[0], nsXMLEnc, "EncryptionMethod")
	algs = alg[strings.LastIndex(alg, "#")+1:] + "/" + attr(em, "Algorithm")[strings.LastIndex(attr(em, "Algorithm"), "#")+1:]
	cek, err := unwrapKey(key, eks[0], dc.keySize, allowRSA15)
	if err != nil {
		return nil, "", err
	}
	ct, err := cipherValue(data)
	if err != nil {
		return nil, "", err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, "", err
	}
	if dc.gcm {
		// XML Encryption 1.1 section 5.2.4: a 96-bit IV, then the
		// ciphertext, then the 128-bit tag.
		g, err := cipher.NewGCM(block)
		if err != nil {
			return nil, "", err
		}
		if len(ct) < g.NonceSize()+g.Overhead() {
			return nil, "", errors.New("AES-GCM cipher data too short")
		}
		plain, err = g.Open(nil, ct[:g.NonceSize()], ct[g.NonceSize():], nil)
		return plain, algs, err
	}
	// AES-CBC (section 5.2.2): IV, then blocks; the last byte of the
	// plaintext is the padding length, the padding bytes are arbitrary.
	bs := block.BlockSize()
	if len(ct) < 2*bs || len(ct)%bs != 0 {
		return nil, "", errors.New("AES-CBC cipher data is not a whole number of blocks")
	}
	plain = make([]byte, len(ct)-bs)
	cipher.NewCBCDecrypter(block, ct[:bs]).CryptBlocks(plain, ct[bs:])
	n := int(plain[len(plain)-1])
	if n == 0 || n > bs {
		return nil, "", errors.New("AES-CBC padding invalid")
	}
	return plain[:len(plain)-n], algs, nil
}

func encryptionMethod(el *etree.Element) string {
	em, _ := child(el, nsXMLEnc, "EncryptionMethod")
	return attr(em, "Algorithm")
}

func cipherValue(el *etree.Element) ([]byte, error) {
	cd, err := child(el, nsXMLEnc, "CipherData")
	if err != nil || cd == nil {
		return nil, errors.New("expected exactly one CipherData")
	}
	cv, err := child(cd, nsXMLEnc, "CipherValue")
	if err != nil || cv == nil {
		return nil, errors.New("expected exactly one CipherValue (CipherReference is not supported)")
	}
	s, err := text(cv)
	if err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
}

// unwrapKey decrypts an EncryptedKey with our RSA key.
func unwrapKey(key crypto.Decrypter, ek *etree.Element, size int, allowRSA15 bool) ([]byte, error) {
	if _, ok := key.Public().(*rsa.PublicKey); !ok {
		return nil, errors.New("an encrypted assertion needs an RSA key")
	}
	em, _ := child(ek, nsXMLEnc, "EncryptionMethod")
	alg := attr(em, "Algorithm")
	ct, err := cipherValue(ek)
	if err != nil {
		return nil, fmt.Errorf("EncryptedKey: %w", err)
	}
	switch alg {
	case KeyRSA15:
		if !allowRSA15 {
			return nil, errors.New("RSA 1.5 key transport refused (the metadata offers RSA-OAEP only)")
		}
		// Constant-time and oracle-free: a wrong key yields a random
		// session key whose decryption then fails like any other.
		cek := make([]byte, size)
		_, _ = rand.Read(cek)
		//lint:ignore SA1019 reached only when the operator opts in with AllowRSA15 for an IdP that cannot do RSA-OAEP
		if err := rsa.DecryptPKCS1v15SessionKey(nil, key.(*rsa.PrivateKey), ct, cek); err != nil {
			return nil, err
		}
		return cek, nil
	case KeyRSAOAEPMGF1P, KeyRSAOAEP:
	default:
		return nil, fmt.Errorf("key transport algorithm %q not supported", alg)
	}
	opts := &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1}
	if dm, _ := child(em, nsDSig, "DigestMethod"); dm != nil {
		h, ok := samlxml.DigestHash(attr(dm, "Algorithm"), true)
		if !ok {
			return nil, fmt.Errorf("OAEP digest %q not supported", attr(dm, "Algorithm"))
		}
		opts.Hash = h
	}
	if alg == KeyRSAOAEP {
		if mgf, _ := child(em, nsXMLEnc11, "MGF"); mgf != nil {
			h, ok := mgfHash[attr(mgf, "Algorithm")]
			if !ok {
				return nil, fmt.Errorf("OAEP MGF %q not supported", attr(mgf, "Algorithm"))
			}
			opts.MGFHash = h
		}
	}
	if p, _ := child(em, nsXMLEnc, "OAEPparams"); p != nil {
		s, err := text(p)
		if err != nil {
			return nil, err
		}
		if opts.Label, err = base64.StdEncoding.DecodeString(strings.TrimSpace(s)); err != nil {
			return nil, fmt.Errorf("OAEPparams: %w", err)
		}
	}
	cek, err := key.Decrypt(rand.Reader, ct, opts)
	if err != nil {
		return nil, err
	}
	if len(cek) != size {
		return nil, fmt.Errorf("the encrypted key is %d bytes, the data algorithm needs %d", len(cek), size)
	}
	return cek, nil
}
