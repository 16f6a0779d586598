package samlxml

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	dsig "github.com/russellhaering/goxmldsig"
)

// Limits for the HTTP bindings. A Redirect query is capped before anything
// is decoded and the inflated message is capped while inflating
// (CVE-2023-28119 deflate bomb).
const (
	MaxQueryBytes    = 16 << 10
	MaxInflatedBytes = 128 << 10
	MaxPostBytes     = 512 << 10
)

// EncodeRedirect returns dest with a Redirect-binding query carrying msg
// (deflated, base64) under param ("SAMLRequest" or "SAMLResponse"), the
// RelayState if any, and SigAlg+Signature computed over the exact query
// string (SAML bindings 3.4.4.1). key may be nil for an unsigned message.
func EncodeRedirect(dest, param string, msg []byte, relayState string, key crypto.Signer, sigAlg string) (string, error) {
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := fw.Write(msg); err != nil {
		return "", err
	}
	if err := fw.Close(); err != nil {
		return "", err
	}
	u, err := url.Parse(dest)
	if err != nil {
		return "", fmt.Errorf("destination %q: %w", dest, err)
	}
	q := param + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if relayState != "" {
		q += "&RelayState=" + url.QueryEscape(relayState)
	}
	if key != nil {
		q += "&SigAlg=" + url.QueryEscape(sigAlg)
		sig, err := SignBytes(key, sigAlg, []byte(q))
		if err != nil {
			return "", err
		}
		q += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	}
	if u.RawQuery != "" {
		q = u.RawQuery + "&" + q
	}
	u.RawQuery = q
	return u.String(), nil
}

// SignBytes signs data as the Redirect binding does (SAML 2.0 Bindings
// 3.4.4.1): the hash of sigAlg, PKCS#1 v1.5 for RSA, ASN.1 for ECDSA.
func SignBytes(key crypto.Signer, sigAlg string, data []byte) ([]byte, error) {
	h, ok := signatureHash[sigAlg]
	if !ok {
		return nil, fmt.Errorf("unsupported signature algorithm %q", sigAlg)
	}
	d := h.New()
	d.Write(data)
	return key.Sign(rand.Reader, d.Sum(nil), h)
}

// VerifyBytes checks sig over data with any of certs.
func VerifyBytes(certs []*x509.Certificate, sigAlg string, data, sig []byte) error {
	h, ok := signatureHash[sigAlg]
	if !ok {
		return fmt.Errorf("unsupported signature algorithm %q", sigAlg)
	}
	d := h.New()
	d.Write(data)
	sum := d.Sum(nil)
	for _, c := range certs {
		switch pub := c.PublicKey.(type) {
		case *rsa.PublicKey:
			if strings.Contains(sigAlg, "rsa-") && rsa.VerifyPKCS1v15(pub, h, sum, sig) == nil {
				return nil
			}
		case *ecdsa.PublicKey:
			if strings.Contains(sigAlg, "ecdsa-") && ecdsa.VerifyASN1(pub, sum, sig) {
				return nil
			}
		}
	}
	return errors.New("query signature does not verify with the IdP's certificates")
}

// RedirectMessage is a decoded Redirect-binding message.
type RedirectMessage struct {
	XML        []byte
	RelayState string
	Signed     bool
}

// DecodeRedirectMessage reads param from a Redirect-binding request. The
// signature is checked over the query parameters exactly as they were sent (raw,
// still percent-encoded), never over re-encoded values. An unsigned message
// is returned with Signed false; callers decide whether that is acceptable.
func DecodeRedirectMessage(rawQuery, param string, certs []*x509.Certificate, allowSHA1 bool) (*RedirectMessage, error) {
	if len(rawQuery) > MaxQueryBytes {
		return nil, fmt.Errorf("query is %d bytes, more than the limit of %d", len(rawQuery), MaxQueryBytes)
	}
	raw := map[string]string{}
	for _, kv := range strings.Split(rawQuery, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		switch name {
		case "SAMLRequest", "SAMLResponse", "RelayState", "SigAlg", "Signature":
			if _, dup := raw[name]; dup {
				return nil, fmt.Errorf("query parameter %s given twice", name)
			}
			raw[name] = v
		}
	}
	rawMsg, ok := raw[param]
	if !ok {
		return nil, fmt.Errorf("query has no %s", param)
	}
	if _, both := raw[otherParam(param)]; both {
		return nil, errors.New("query has both SAMLRequest and SAMLResponse")
	}
	unescape := func(name string) (string, error) {
		v, err := url.QueryUnescape(raw[name])
		if err != nil {
			return "", fmt.Errorf("query parameter %s: %w", name, err)
		}
		return v, nil
	}
	msgB64, err := unescape(param)
	if err != nil {
		return nil, err
	}
	relay, err := unescape("RelayState")
	if err != nil {
		return nil, err
	}
	out := &RedirectMessage{RelayState: relay}
	rawSigAlg, hasAlg := raw["SigAlg"]
	rawSig, hasSig := raw["Signature"]
	if hasAlg != hasSig {
		return nil, errors.New("query has SigAlg without Signature or the reverse")
	}
	if hasSig {
		sigAlg, err := unescape("SigAlg")
		if err != nil {
			return nil, err
		}
		if _, ok := SignatureHash(sigAlg, allowSHA1); !ok {
			return nil, fmt.Errorf("query signature algorithm %q not allowed", sigAlg)
		}
		sigB64, err := url.QueryUnescape(rawSig)
		if err != nil {
			return nil, fmt.Errorf("query parameter Signature: %w", err)
		}
		sig, err := base64.StdEncoding.DecodeString(sigB64)
		if err != nil {
			return nil, fmt.Errorf("query signature is not base64: %w", err)
		}
		signed := param + "=" + rawMsg
		if r, ok := raw["RelayState"]; ok {
			signed += "&RelayState=" + r
		}
		signed += "&SigAlg=" + rawSigAlg
		if err := VerifyBytes(certs, sigAlg, []byte(signed), sig); err != nil {
			return nil, err
		}
		out.Signed = true
	}
	deflated, err := base64.StdEncoding.DecodeString(msgB64)
	if err != nil {
		return nil, fmt.Errorf("%s is not base64: %w", param, err)
	}
	out.XML, err = Inflate(deflated)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", param, err)
	}
	return out, nil
}

func otherParam(p string) string {
	if p == "SAMLRequest" {
		return "SAMLResponse"
	}
	return "SAMLRequest"
}

// Inflate decompresses at most MaxInflatedBytes.
func Inflate(b []byte) ([]byte, error) {
	fr := flate.NewReader(bytes.NewReader(b))
	defer fr.Close()
	out, err := io.ReadAll(io.LimitReader(fr, MaxInflatedBytes+1))
	if err != nil {
		return nil, fmt.Errorf("Inflate: %w", err)
	}
	if len(out) > MaxInflatedBytes {
		return nil, fmt.Errorf("inflated message is larger than %d bytes", MaxInflatedBytes)
	}
	return out, nil
}

// DecodePost reads a base64 POST-binding parameter.
func DecodePost(v string) ([]byte, error) {
	v = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, v)
	if base64.StdEncoding.DecodedLen(len(v)) > MaxXMLBytes {
		return nil, fmt.Errorf("message is larger than %d bytes", MaxXMLBytes)
	}
	return base64.StdEncoding.DecodeString(v)
}

// DefaultSigAlg is what we sign with: RSA or ECDSA with SHA-256.
func DefaultSigAlg(key crypto.Signer) string {
	if _, ok := key.Public().(*ecdsa.PublicKey); ok {
		return dsig.ECDSASHA256SignatureMethod
	}
	return dsig.RSASHA256SignatureMethod
}

// DecodeRedirect decodes param ("SAMLRequest" or "SAMLResponse") of a
// Redirect-binding query, checking SigAlg/Signature over the raw query with
// certs when present (signed reports whether it was).
func DecodeRedirect(rawQuery, param string, certs []*x509.Certificate, allowSHA1 bool) (xml []byte, relayState string, signed bool, err error) {
	m, err := DecodeRedirectMessage(rawQuery, param, certs, allowSHA1)
	if err != nil {
		return nil, "", false, err
	}
	return m.XML, m.RelayState, m.Signed, nil
}
