package samlsp

import (
	"crypto"
	"crypto/x509"

	"github.com/beevik/etree"
	"github.com/cmtls/cmtls/pki/samlxml"
)

// The XML safety checks, signature checks and binding codecs live in
// pki/samlxml, shared with the `cmtls saml` procedure; these short names
// keep the SP's validation code readable.
const (
	nsAssertion = samlxml.NSAssertion
	nsProtocol  = samlxml.NSProtocol
	nsDSig      = samlxml.NSDSig
	nsMetadata  = samlxml.NSMetadata

	maxXMLBytes  = samlxml.MaxXMLBytes
	maxPostBytes = samlxml.MaxPostBytes
)

var errNoSignature = samlxml.ErrNoSignature

func parseXML(data []byte) (*etree.Element, error) { return samlxml.Parse(data) }
func is(el *etree.Element, ns, local string) bool  { return samlxml.Is(el, ns, local) }
func children(el *etree.Element, ns, local string) []*etree.Element {
	return samlxml.Children(el, ns, local)
}
func child(el *etree.Element, ns, local string) (*etree.Element, error) {
	return samlxml.Child(el, ns, local)
}
func descendants(el *etree.Element, ns, local string) []*etree.Element {
	return samlxml.Descendants(el, ns, local)
}
func text(el *etree.Element) (string, error) { return samlxml.Text(el) }

func decodeRedirect(rawQuery, param string, certs []*x509.Certificate, allowSHA1 bool) (*samlxml.RedirectMessage, error) {
	return samlxml.DecodeRedirectMessage(rawQuery, param, certs, allowSHA1)
}
func decodePost(v string) ([]byte, error)    { return samlxml.DecodePost(v) }
func defaultSigAlg(key crypto.Signer) string { return samlxml.DefaultSigAlg(key) }
func attr(el *etree.Element, key string) string {
	if el == nil {
		return ""
	}
	return el.SelectAttrValue(key, "")
}
