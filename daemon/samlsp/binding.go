package samlsp

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
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"

	dsig "github.com/russellhaering/goxmldsig"
)

// Limits for the HTTP bindings. A Redirect query is capped before anything
// is decoded and the inflated message is capped while inflating
// (CVE-2023-28119 deflate bomb).
const (
	maxQueryBytes    = 16 << 10
	maxInflatedBytes = 128 << 10
	maxPostBytes     = 512 << 10
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
		sig, err := signBytes(key, sigAlg, []byte(q))
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

func signBytes(key crypto.Signer, sigAlg string, data []byte) ([]byte, error) {
	h, ok := signatureHash[sigAlg]
	if !ok {
		return nil, fmt.Errorf("unsupported signature algorithm %q", sigAlg)
	}
	d := h.New()
	d.Write(data)
	return key.Sign(rand.Reader, d.Sum(nil), h)
}

// verifyBytes checks sig over data with any of certs.
func verifyBytes(certs []*x509.Certificate, sigAlg string, data, sig []byte) error {
	h := signatureHash[sigAlg]
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

// redirectMessage is a decoded Redirect-binding message.
type redirectMessage struct {
	XML        []byte
	RelayState string
	Signed     bool
}

// decodeRedirect reads param from a Redirect-binding request. The signature
// is checked over the query parameters exactly as they were sent (raw,
// still percent-encoded), never over re-encoded values. An unsigned message
// is returned with Signed false; callers decide whether that is acceptable.
func decodeRedirect(rawQuery, param string, certs []*x509.Certificate, allowSHA1 bool) (*redirectMessage, error) {
	if len(rawQuery) > maxQueryBytes {
		return nil, fmt.Errorf("query is %d bytes, more than the limit of %d", len(rawQuery), maxQueryBytes)
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
	out := &redirectMessage{RelayState: relay}
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
		h, ok := signatureHash[sigAlg]
		if !allowedHash(h, ok, allowSHA1) {
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
		if err := verifyBytes(certs, sigAlg, []byte(signed), sig); err != nil {
			return nil, err
		}
		out.Signed = true
	}
	deflated, err := base64.StdEncoding.DecodeString(msgB64)
	if err != nil {
		return nil, fmt.Errorf("%s is not base64: %w", param, err)
	}
	out.XML, err = inflate(deflated)
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

// inflate decompresses at most maxInflatedBytes.
func inflate(b []byte) ([]byte, error) {
	fr := flate.NewReader(bytes.NewReader(b))
	defer fr.Close()
	out, err := io.ReadAll(io.LimitReader(fr, maxInflatedBytes+1))
	if err != nil {
		return nil, fmt.Errorf("inflate: %w", err)
	}
	if len(out) > maxInflatedBytes {
		return nil, fmt.Errorf("inflated message is larger than %d bytes", maxInflatedBytes)
	}
	return out, nil
}

// decodePost reads a base64 POST-binding parameter.
func decodePost(v string) ([]byte, error) {
	v = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, v)
	if base64.StdEncoding.DecodedLen(len(v)) > maxXMLBytes {
		return nil, fmt.Errorf("message is larger than %d bytes", maxXMLBytes)
	}
	return base64.StdEncoding.DecodeString(v)
}

var postForm = template.Must(template.New("post").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>SAML</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{{.Action}}">
<input type="hidden" name="{{.Param}}" value="{{.Value}}">
{{if .RelayState}}<input type="hidden" name="RelayState" value="{{.RelayState}}">{{end}}
<noscript><button type="submit">Continue</button></noscript>
</form></body></html>
`))

// writePostForm answers with an auto-submitting HTTP-POST binding form.
func writePostForm(w http.ResponseWriter, action, param string, msg []byte, relayState string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = postForm.Execute(w, map[string]string{
		"Action": action, "Param": param,
		"Value":      base64.StdEncoding.EncodeToString(msg),
		"RelayState": relayState,
	})
}

// defaultSigAlg is what we sign with: RSA or ECDSA with SHA-256.
func defaultSigAlg(key crypto.Signer) string {
	if _, ok := key.Public().(*ecdsa.PublicKey); ok {
		return dsig.ECDSASHA256SignatureMethod
	}
	return dsig.RSASHA256SignatureMethod
}

// DecodeRedirect decodes param ("SAMLRequest" or "SAMLResponse") of a
// Redirect-binding query, checking SigAlg/Signature over the raw query with
// certs when present (signed reports whether it was). The test IdP uses it
// for the SP's messages.
func DecodeRedirect(rawQuery, param string, certs []*x509.Certificate, allowSHA1 bool) (xml []byte, relayState string, signed bool, err error) {
	m, err := decodeRedirect(rawQuery, param, certs, allowSHA1)
	if err != nil {
		return nil, "", false, err
	}
	return m.XML, m.RelayState, m.Signed, nil
}

// CheckXML refuses untrusted XML that SAML never needs (DOCTYPE, comments,
// processing instructions, undeclared prefixes, deep or huge trees) and
// XML that does not survive an encoding/xml round trip.
func CheckXML(data []byte) error { return checkXML(data) }
