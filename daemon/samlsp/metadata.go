package samlsp

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// Metadata files are larger than protocol messages (several keys,
// organisation data, sometimes more entities), so they get their own caps.
const (
	maxMetadataBytes    = 2 << 20
	maxMetadataElements = 20000
)

// IdP is what the SP needs from the IdP's metadata.
type IdP struct {
	EntityID string
	// SigningCerts are all certificates with use="signing" or no use: every
	// one is trusted, so an IdP can roll its key over (notes 2).
	SigningCerts []*x509.Certificate
	// SSO endpoints; at least one is set.
	SSORedirect, SSOPost string
	// Single Logout endpoints; may be empty (e.g. JumpCloud has none).
	SLORedirect, SLOPost saml.Endpoint
	// ValidUntil is the metadata's validUntil, zero when absent.
	ValidUntil time.Time
}

// MetadataError is an IdP metadata file that cannot be used. It is bad input
// (exit code 2) with a hint.
type MetadataError struct{ Err error }

func (e *MetadataError) Error() string { return "idp metadata: " + e.Err.Error() }
func (e *MetadataError) Unwrap() error { return e.Err }

// BadInput marks bad input.
func (e *MetadataError) BadInput() bool { return true }

// Hint names the fix.
func (e *MetadataError) Hint() string {
	return "download the metadata XML again from your IdP; it must describe one IdP with a signing certificate and a SingleSignOnService"
}

// ParseIdPMetadata reads an IdP metadata file: an EntityDescriptor, or an
// EntitiesDescriptor holding exactly one entity with an IDPSSODescriptor.
// It refuses files without a signing certificate or an SSO URL, which are
// the checks CM runs when the settings are saved (seed step 13).
func ParseIdPMetadata(data []byte) (*IdP, error) {
	idp, err := parseIdPMetadata(data)
	if err != nil {
		return nil, &MetadataError{Err: err}
	}
	return idp, nil
}

func parseIdPMetadata(data []byte) (*IdP, error) {
	if err := checkXMLLimits(data, maxMetadataBytes, maxMetadataElements); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, fmt.Errorf("malformed xml: %w", err)
	}
	root := doc.Root()
	var entities []*etree.Element
	switch {
	case is(root, nsMetadata, "EntityDescriptor"):
		entities = []*etree.Element{root}
	case is(root, nsMetadata, "EntitiesDescriptor"):
		entities = descendants(root, nsMetadata, "EntityDescriptor")
	default:
		return nil, fmt.Errorf("root element is %q, expected a SAML 2.0 metadata EntityDescriptor", root.Tag)
	}
	var idps []*etree.Element
	for _, e := range entities {
		if len(children(e, nsMetadata, "IDPSSODescriptor")) > 0 {
			idps = append(idps, e)
		}
	}
	switch len(idps) {
	case 0:
		return nil, errors.New("no IDPSSODescriptor: this is not IdP metadata")
	case 1:
	default:
		return nil, fmt.Errorf("%d IdPs described; give the metadata of exactly one", len(idps))
	}
	// Detach with the namespaces declared on the parents (an
	// EntitiesDescriptor usually declares the md: prefix).
	nsctx, err := etreeutils.NSBuildParentContext(idps[0])
	if err != nil {
		return nil, fmt.Errorf("malformed metadata: %w", err)
	}
	if nsctx, err = nsctx.SubContext(idps[0]); err != nil {
		return nil, fmt.Errorf("malformed metadata: %w", err)
	}
	detached, err := etreeutils.NSDetatch(nsctx, idps[0])
	if err != nil {
		return nil, fmt.Errorf("malformed metadata: %w", err)
	}
	edDoc := etree.NewDocument()
	edDoc.SetRoot(detached)
	b, err := edDoc.WriteToBytes()
	if err != nil {
		return nil, err
	}
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(b, &ed); err != nil {
		return nil, fmt.Errorf("malformed metadata: %w", err)
	}
	idp := &IdP{EntityID: strings.TrimSpace(ed.EntityID), ValidUntil: ed.ValidUntil}
	if idp.EntityID == "" {
		return nil, errors.New("EntityDescriptor has no entityID")
	}
	for _, d := range ed.IDPSSODescriptors {
		if !strings.Contains(d.ProtocolSupportEnumeration, "urn:oasis:names:tc:SAML:2.0:protocol") {
			continue
		}
		certs, err := SigningCerts(d.KeyDescriptors)
		if err != nil {
			return nil, err
		}
		idp.SigningCerts = append(idp.SigningCerts, certs...)
		for _, e := range d.SingleSignOnServices {
			switch {
			case e.Binding == saml.HTTPRedirectBinding && idp.SSORedirect == "":
				idp.SSORedirect = e.Location
			case e.Binding == saml.HTTPPostBinding && idp.SSOPost == "":
				idp.SSOPost = e.Location
			}
		}
		for _, e := range d.SingleLogoutServices {
			switch {
			case e.Binding == saml.HTTPRedirectBinding && idp.SLORedirect.Location == "":
				idp.SLORedirect = e
			case e.Binding == saml.HTTPPostBinding && idp.SLOPost.Location == "":
				idp.SLOPost = e
			}
		}
	}
	if len(idp.SigningCerts) == 0 {
		return nil, errors.New("no signing certificate (KeyDescriptor use=\"signing\" with an X509Certificate)")
	}
	if idp.SSORedirect == "" && idp.SSOPost == "" {
		return nil, errors.New("no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding")
	}
	for _, loc := range []string{idp.SSORedirect, idp.SSOPost, idp.SLORedirect.Location, idp.SLORedirect.ResponseLocation, idp.SLOPost.Location, idp.SLOPost.ResponseLocation} {
		if loc == "" {
			continue
		}
		if u, err := url.Parse(loc); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("endpoint %q is not an http(s) URL", loc)
		}
	}
	return idp, nil
}

// SigningCerts returns the certificates of the KeyDescriptors usable for
// signing (use="signing" or no use), IdP's and SP's alike. A certificate
// that does not parse is an error naming it; the ones before it are
// returned too, for callers that tolerate a bad one.
func SigningCerts(kds []saml.KeyDescriptor) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, kd := range kds {
		if kd.Use != "" && kd.Use != "signing" {
			continue
		}
		for _, xc := range kd.KeyInfo.X509Data.X509Certificates {
			c, err := parseCertData(xc.Data)
			if err != nil {
				return out, fmt.Errorf("signing certificate %d: %w", len(out)+1, err)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func parseCertData(s string) (*x509.Certificate, error) {
	s = strings.Join(strings.Fields(s), "")
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	return x509.ParseCertificate(der)
}

// spMetadata renders our metadata. There is no validUntil: crewjam's +48h
// default makes Shibboleth-style consumers drop the SP two days after
// registration (notes 2).
func (sp *SP) spMetadata() ([]byte, error) {
	certB64 := base64.StdEncoding.EncodeToString(sp.cert.Raw)
	ed := etree.NewElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", nsMetadata)
	ed.CreateAttr("xmlns:ds", nsDSig)
	ed.CreateAttr("entityID", sp.entityID)
	d := ed.CreateElement("md:SPSSODescriptor")
	d.CreateAttr("AuthnRequestsSigned", "true")
	d.CreateAttr("WantAssertionsSigned", "true")
	d.CreateAttr("protocolSupportEnumeration", "urn:oasis:names:tc:SAML:2.0:protocol")
	uses := []string{"signing"}
	if _, ok := sp.key.Public().(*rsa.PublicKey); ok {
		// XML encryption key transport is RSA only (rsa-oaep, rsa-1_5): an
		// EC key is published for signing alone, so IdPs do not encrypt.
		uses = append(uses, "encryption")
	}
	for _, use := range uses {
		kd := d.CreateElement("md:KeyDescriptor")
		kd.CreateAttr("use", use)
		kd.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").SetText(certB64)
		if use == "encryption" {
			// Only what crewjam's xmlenc can decrypt.
			for _, alg := range []string{
				"http://www.w3.org/2009/xmlenc11#aes128-gcm",
				"http://www.w3.org/2001/04/xmlenc#aes256-cbc",
				"http://www.w3.org/2001/04/xmlenc#aes192-cbc",
				"http://www.w3.org/2001/04/xmlenc#aes128-cbc",
				"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
			} {
				kd.CreateElement("md:EncryptionMethod").CreateAttr("Algorithm", alg)
			}
		}
	}
	for _, b := range []string{saml.HTTPRedirectBinding, saml.HTTPPostBinding} {
		e := d.CreateElement("md:SingleLogoutService")
		e.CreateAttr("Binding", b)
		e.CreateAttr("Location", sp.sloURL)
	}
	d.CreateElement("md:NameIDFormat").SetText(string(saml.UnspecifiedNameIDFormat))
	acs := d.CreateElement("md:AssertionConsumerService")
	acs.CreateAttr("Binding", saml.HTTPPostBinding)
	acs.CreateAttr("Location", sp.acsURL)
	acs.CreateAttr("index", "0")
	acs.CreateAttr("isDefault", "true")
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	doc.SetRoot(ed)
	doc.Indent(2)
	return doc.WriteToBytes()
}
