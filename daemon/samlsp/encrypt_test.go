package samlsp

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// encryptWith encrypts plain for cert as an IdP would (XML Encryption 1.1):
// dataAlg is one of the AES-CBC/GCM identifiers, keyAlg rsa-oaep-mgf1p,
// xmlenc11 rsa-oaep (SHA-256 digest, MGF1-SHA-256) or rsa-1_5. The
// EncryptedKey sits in the EncryptedData's KeyInfo, as SimpleSAMLphp and
// Shibboleth place it.
func encryptWith(t testing.TB, plain []byte, cert *x509.Certificate, dataAlg, keyAlg string) *etree.Element {
	t.Helper()
	dc := dataCipher[dataAlg]
	cek := make([]byte, dc.keySize)
	_, _ = rand.Read(cek)
	block, err := aes.NewCipher(cek)
	if err != nil {
		t.Fatal(err)
	}
	var ct []byte
	if dc.gcm {
		g, _ := cipher.NewGCM(block)
		iv := make([]byte, g.NonceSize())
		_, _ = rand.Read(iv)
		ct = g.Seal(iv, iv, plain, nil)
	} else {
		iv := make([]byte, 16)
		_, _ = rand.Read(iv)
		n := 16 - len(plain)%16
		padded := append(append([]byte{}, plain...), bytes.Repeat([]byte{byte(n)}, n)...)
		ct = make([]byte, len(padded))
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, padded)
		ct = append(iv, ct...)
	}
	pub := cert.PublicKey.(*rsa.PublicKey)
	var wrapped []byte
	switch keyAlg {
	case KeyRSA15:
		//lint:ignore SA1019 the test plays an IdP that still uses RSA 1.5
		wrapped, err = rsa.EncryptPKCS1v15(rand.Reader, pub, cek)
	case KeyRSAOAEP:
		wrapped, err = rsa.EncryptOAEP(crypto.SHA256.New(), rand.Reader, pub, cek, nil)
	default:
		wrapped, err = rsa.EncryptOAEP(crypto.SHA1.New(), rand.Reader, pub, cek, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	ea := etree.NewElement("saml:EncryptedAssertion")
	ea.CreateAttr("xmlns:saml", nsAssertion)
	ed := ea.CreateElement("xenc:EncryptedData")
	ed.CreateAttr("xmlns:xenc", nsXMLEnc)
	ed.CreateAttr("xmlns:ds", nsDSig)
	ed.CreateAttr("Type", nsXMLEnc+"Element")
	ed.CreateElement("xenc:EncryptionMethod").CreateAttr("Algorithm", dataAlg)
	ek := ed.CreateElement("ds:KeyInfo").CreateElement("xenc:EncryptedKey")
	em := ek.CreateElement("xenc:EncryptionMethod")
	em.CreateAttr("Algorithm", keyAlg)
	if keyAlg == KeyRSAOAEP {
		em.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", "http://www.w3.org/2001/04/xmlenc#sha256")
		mgf := em.CreateElement("xenc11:MGF")
		mgf.CreateAttr("xmlns:xenc11", nsXMLEnc11)
		mgf.CreateAttr("Algorithm", nsXMLEnc11+"mgf1sha256")
	}
	ek.CreateElement("xenc:CipherData").CreateElement("xenc:CipherValue").SetText(base64.StdEncoding.EncodeToString(wrapped))
	ed.CreateElement("xenc:CipherData").CreateElement("xenc:CipherValue").SetText(base64.StdEncoding.EncodeToString(ct))
	return ea
}

// Every block algorithm the metadata offers decrypts, with both RSA-OAEP
// identifiers (Entra ID and Shibboleth 4 send AES-256-GCM).
func TestEncryptedAssertionAlgorithms(t *testing.T) {
	t.Parallel()
	for _, data := range []string{EncAES128GCM, EncAES192GCM, EncAES256GCM, EncAES128CBC, EncAES192CBC, EncAES256CBC} {
		for _, key := range []string{KeyRSAOAEPMGF1P, KeyRSAOAEP} {
			name := data[strings.LastIndex(data, "#")+1:] + "/" + key[strings.LastIndex(key, "#")+1:]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t)
				s := f.spec()
				s.Encrypt, s.EncData, s.EncKey = true, data, key
				f.accepted(f.post(f.build(s, nil), ""))
				if !strings.Contains(f.logs.String(), "encrypted=true") {
					t.Fatalf("logs: %s", f.logs)
				}
			})
		}
	}
}

// RSA 1.5 key transport is refused unless the SP opts in.
func TestEncryptedAssertionRSA15Refused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec()
	s.Encrypt, s.EncData, s.EncKey = true, EncAES256GCM, KeyRSA15
	f.refused(f.post(f.build(s, nil), ""), "RSA 1.5 key transport refused")
	g := newFixture(t, func(c *Config) { c.AllowRSA15 = true })
	s = g.spec()
	s.Encrypt, s.EncData, s.EncKey = true, EncAES256GCM, KeyRSA15
	g.accepted(g.post(g.build(s, nil), ""))
}

// A flipped bit in AES-GCM data fails authentication: the generic refusal.
func TestEncryptedAssertionGCMTampered(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec()
	s.Encrypt, s.EncData, s.EncKey = true, EncAES256GCM, KeyRSAOAEPMGF1P
	xml := f.build(s, func(resp, _ *etree.Element) {
		cv := resp.FindElement("./EncryptedAssertion/EncryptedData/CipherData/CipherValue")
		b, _ := base64.StdEncoding.DecodeString(cv.Text())
		b[len(b)-20] ^= 1
		cv.SetText(base64.StdEncoding.EncodeToString(b))
	})
	f.refused(f.post(xml, ""), "cannot decrypt")
	if !strings.Contains(f.logs.String(), "message authentication failed") {
		t.Fatalf("logs: %s", f.logs)
	}
}

// The metadata offers AES-GCM (128 and 256 among them) and RSA-OAEP, never
// RSA 1.5.
func TestMetadataEncryptionMethods(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	md := string(f.sp.Metadata())
	for _, want := range []string{EncAES128GCM, EncAES256GCM, KeyRSAOAEP, KeyRSAOAEPMGF1P} {
		if !strings.Contains(md, `Algorithm="`+want+`"`) {
			t.Errorf("metadata does not offer %s", want)
		}
	}
	if strings.Contains(md, "rsa-1_5") || strings.Contains(md, "tripledes") {
		t.Errorf("metadata offers a weak algorithm:\n%s", md)
	}
}

// BenchmarkValidateEncrypted is the whole validation of a signed Response
// with an encrypted assertion (RSA-2048 key unwrap, two signature checks).
func BenchmarkValidateEncrypted(b *testing.B) {
	for _, alg := range []string{EncAES256GCM, EncAES128CBC} {
		b.Run(alg[strings.LastIndex(alg, "#")+1:], func(b *testing.B) {
			f := newFixture(&testing.T{})
			s := f.spec()
			s.Encrypt, s.EncData, s.EncKey = true, alg, KeyRSAOAEPMGF1P
			xml := f.build(s, nil)
			b.ResetTimer()
			for range b.N {
				if _, err := f.sp.validateResponse(xml, f.now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("unencrypted", func(b *testing.B) {
		f := newFixture(&testing.T{})
		xml := f.build(f.spec(), nil)
		b.ResetTimer()
		for range b.N {
			if _, err := f.sp.validateResponse(xml, f.now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
