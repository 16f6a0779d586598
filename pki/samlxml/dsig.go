package samlxml

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// Algorithm identifiers (XML Signature, RFC 6931).
const (
	DigestSHA1   = "http://www.w3.org/2000/09/xmldsig#sha1"
	DigestSHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
	DigestSHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
	DigestSHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
)

// signatureHash maps the signature algorithms we accept to their hash.
// SHA-1 ones are only accepted when AllowSHA1 is set (goxmldsig accepts
// SHA-1 silently).
var signatureHash = map[string]crypto.Hash{
	dsig.RSASHA256SignatureMethod:   crypto.SHA256,
	dsig.RSASHA384SignatureMethod:   crypto.SHA384,
	dsig.RSASHA512SignatureMethod:   crypto.SHA512,
	dsig.ECDSASHA256SignatureMethod: crypto.SHA256,
	dsig.ECDSASHA384SignatureMethod: crypto.SHA384,
	dsig.ECDSASHA512SignatureMethod: crypto.SHA512,
	dsig.RSASHA1SignatureMethod:     crypto.SHA1,
	dsig.ECDSASHA1SignatureMethod:   crypto.SHA1,
}

var digestHash = map[string]crypto.Hash{
	DigestSHA256: crypto.SHA256,
	DigestSHA384: crypto.SHA384,
	DigestSHA512: crypto.SHA512,
	DigestSHA1:   crypto.SHA1,
}

// Canonicalization and transforms allowed in SignedInfo: the enveloped
// transform and c14n variants without comments. XPath, XSLT, base64 and the
// WithComments variants are refused.
var allowedC14N = map[string]bool{
	string(dsig.CanonicalXML10ExclusiveAlgorithmId): true,
	string(dsig.CanonicalXML10RecAlgorithmId):       true,
	string(dsig.CanonicalXML11AlgorithmId):          true,
}

func allowedHash(h crypto.Hash, ok, allowSHA1 bool) bool {
	return ok && (h != crypto.SHA1 || allowSHA1)
}

// Verifier checks enveloped XML signatures against metadata certificates
// only; any KeyInfo in the message is ignored.
type Verifier struct {
	// Certs are the trusted signing certificates (the peer's metadata).
	Certs []*x509.Certificate
	// AllowSHA1 accepts rsa-sha1/ecdsa-sha1 and sha1 digests.
	AllowSHA1 bool
}

// ErrNoSignature means the element has no Signature child.
var ErrNoSignature = errors.New("no signature")

// Verify checks the enveloped signature of el and returns the signed
// content (el without its Signature, as goxmldsig verified it). It refuses a
// missing signature, more than one, any SignedInfo outside the allow-lists,
// more than one Reference, and a Reference URI other than "#"+el's ID.
func (v Verifier) Verify(el *etree.Element, now time.Time) (*etree.Element, error) {
	sigs := Children(el, NSDSig, "Signature")
	switch len(sigs) {
	case 0:
		return nil, ErrNoSignature
	case 1:
	default:
		return nil, fmt.Errorf("%s has %d signatures", el.Tag, len(sigs))
	}
	if err := v.checkShape(el, sigs[0]); err != nil {
		return nil, fmt.Errorf("signature of %s: %w", el.Tag, err)
	}
	if len(v.Certs) == 0 {
		return nil, errors.New("no IdP signing certificate in the metadata")
	}
	// Detach with its in-scope namespaces, as crewjam does, so the
	// canonical form matches what the IdP signed.
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, fmt.Errorf("signature of %s: %w", el.Tag, err)
	}
	ctx, err = ctx.SubContext(el)
	if err != nil {
		return nil, fmt.Errorf("signature of %s: %w", el.Tag, err)
	}
	detached, err := etreeutils.NSDetatch(ctx, el)
	if err != nil {
		return nil, fmt.Errorf("signature of %s: %w", el.Tag, err)
	}
	// Only metadata certificates are trusted: drop KeyInfo so goxmldsig
	// uses the one root we give it (a KeyInfo certificate is the attacker's choice).
	for _, s := range Children(detached, NSDSig, "Signature") {
		for _, ki := range Children(s, NSDSig, "KeyInfo") {
			s.RemoveChild(ki)
		}
	}
	var lastErr error
	for _, cert := range v.Certs {
		vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
		vc.IdAttribute = "ID"
		vc.Clock = dsig.NewFakeClockAt(now)
		out, err := vc.Validate(detached)
		if err == nil {
			return out, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("signature of %s does not verify with the IdP's certificates: %w", el.Tag, lastErr)
}

func (v Verifier) checkShape(el, sig *etree.Element) error {
	id := el.SelectAttrValue("ID", "")
	if id == "" {
		return errors.New("signed element has no ID")
	}
	for _, c := range sig.ChildElements() {
		if Is(c, NSDSig, "Object") {
			return errors.New("signature must not carry an Object")
		}
	}
	si, err := Child(sig, NSDSig, "SignedInfo")
	if err != nil || si == nil {
		return errors.New("signature needs exactly one SignedInfo")
	}
	cm, _ := Child(si, NSDSig, "CanonicalizationMethod")
	if cm == nil || !allowedC14N[cm.SelectAttrValue("Algorithm", "")] {
		return fmt.Errorf("canonicalization method %q not allowed", attr(cm, "Algorithm"))
	}
	sm, _ := Child(si, NSDSig, "SignatureMethod")
	h, ok := signatureHash[attr(sm, "Algorithm")]
	if sm == nil || !allowedHash(h, ok, v.AllowSHA1) {
		return fmt.Errorf("signature method %q not allowed", attr(sm, "Algorithm"))
	}
	refs := Children(si, NSDSig, "Reference")
	if len(refs) != 1 {
		return fmt.Errorf("signature has %d references, expected exactly one", len(refs))
	}
	ref := refs[0]
	if uri := ref.SelectAttrValue("URI", ""); uri != "#"+id {
		return fmt.Errorf("signature reference %q does not point at the signed element %q", uri, "#"+id)
	}
	if ts, _ := Child(ref, NSDSig, "Transforms"); ts != nil {
		all := ts.ChildElements()
		if len(all) > 2 {
			return fmt.Errorf("signature has %d transforms", len(all))
		}
		for _, t := range all {
			alg := attr(t, "Algorithm")
			if !Is(t, NSDSig, "Transform") || (alg != string(dsig.EnvelopedSignatureAltorithmId) && !allowedC14N[alg]) {
				return fmt.Errorf("transform %q not allowed", alg)
			}
		}
	}
	dm, _ := Child(ref, NSDSig, "DigestMethod")
	dh, ok := digestHash[attr(dm, "Algorithm")]
	if dm == nil || !allowedHash(dh, ok, v.AllowSHA1) {
		return fmt.Errorf("digest method %q not allowed", attr(dm, "Algorithm"))
	}
	return nil
}

func attr(el *etree.Element, key string) string {
	if el == nil {
		return ""
	}
	return el.SelectAttrValue(key, "")
}

// SignatureHash returns the hash of an allowed signature algorithm (SHA-1
// ones only with allowSHA1); ok is false for anything else.
func SignatureHash(alg string, allowSHA1 bool) (h crypto.Hash, ok bool) {
	h, ok = signatureHash[alg]
	return h, allowedHash(h, ok, allowSHA1)
}

// DigestHash is SignatureHash for digest algorithms.
func DigestHash(alg string, allowSHA1 bool) (h crypto.Hash, ok bool) {
	h, ok = digestHash[alg]
	return h, allowedHash(h, ok, allowSHA1)
}
