package samlxml

import (
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
	// one is trusted, so an IdP can roll its key over.
	SigningCerts []*x509.Certificate
	// SSO endpoints; at least one is set.
	SSORedirect, SSOPost string
	// Single Logout endpoints; may be empty (e.g. JumpCloud has none).
	SLORedirect, SLOPost saml.Endpoint
	// ArtifactResolution are the SOAP ArtifactResolutionService endpoints
	// (HTTP-Artifact binding), in document order.
	ArtifactResolution []saml.Endpoint
	// ValidUntil is the metadata's validUntil, zero when absent.
	ValidUntil time.Time
}

// MetadataError is an IdP metadata file that cannot be used. It is bad input
// (exit code 2) with a hint.
type MetadataError struct{ Err error }

func (e *MetadataError) Error() string { return "idp metadata: " + e.Err.Error() }
func (e *MetadataError) Unwrap() error { return e.Err }

// BadInput marks the error as the operator's input to fix.
func (e *MetadataError) BadInput() bool { return true }

// Hint names the fix.
func (e *MetadataError) Hint() string {
	return "download the metadata XML again from your IdP; it must describe one IdP with a signing certificate and a SingleSignOnService"
}

// ParseIdPMetadata reads an IdP metadata file: an EntityDescriptor, or an
// EntitiesDescriptor holding exactly one entity with an IDPSSODescriptor.
// It refuses files without a signing certificate or an SSO URL, which are
// the checks CM runs when the settings are saved (Cloudera Manager
// documentation, "Configuring Authentication Using SAML").
func ParseIdPMetadata(data []byte) (*IdP, error) {
	idp, err := parseIdPMetadata(data)
	if err != nil {
		return nil, &MetadataError{Err: err}
	}
	return idp, nil
}

func parseIdPMetadata(data []byte) (*IdP, error) {
	if err := CheckXMLLimits(data, maxMetadataBytes, maxMetadataElements); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, fmt.Errorf("malformed xml: %w", err)
	}
	root := doc.Root()
	var entities []*etree.Element
	switch {
	case Is(root, NSMetadata, "EntityDescriptor"):
		entities = []*etree.Element{root}
	case Is(root, NSMetadata, "EntitiesDescriptor"):
		entities = Descendants(root, NSMetadata, "EntityDescriptor")
	default:
		return nil, fmt.Errorf("root element is %q, expected a SAML 2.0 metadata EntityDescriptor", root.Tag)
	}
	var idps []*etree.Element
	for _, e := range entities {
		if len(Children(e, NSMetadata, "IDPSSODescriptor")) > 0 {
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
		for _, e := range d.ArtifactResolutionServices {
			if e.Binding == saml.SOAPBinding {
				idp.ArtifactResolution = append(idp.ArtifactResolution, e)
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
	locs := []string{idp.SSORedirect, idp.SSOPost, idp.SLORedirect.Location, idp.SLORedirect.ResponseLocation, idp.SLOPost.Location, idp.SLOPost.ResponseLocation}
	for _, e := range idp.ArtifactResolution {
		locs = append(locs, e.Location)
	}
	for _, loc := range locs {
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

// SP is what an SP's metadata says (the SP side of a registration, and
// what `cmtls saml configure` checks in CM's /saml/metadata).
type SP struct {
	EntityID string
	// ACS and SLO list every endpoint location, in document order.
	ACS, SLO []string
	// Certs are the signing certificates (use="signing" or no use).
	Certs []*x509.Certificate
	// EncryptionMethods are the algorithms listed under the encryption
	// KeyDescriptor, in document order.
	EncryptionMethods []string
	// Descriptor is the parsed SPSSODescriptor, for callers that need more.
	Descriptor *saml.EntityDescriptor
}

// ParseSPMetadata reads an SP's EntityDescriptor after the XML safety
// checks. It refuses metadata without an SPSSODescriptor or with a signing
// certificate that does not parse.
func ParseSPMetadata(data []byte) (*SP, error) {
	if err := CheckXMLLimits(data, maxMetadataBytes, maxMetadataElements); err != nil {
		return nil, err
	}
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(data, &ed); err != nil {
		return nil, fmt.Errorf("malformed metadata: %w", err)
	}
	if len(ed.SPSSODescriptors) == 0 {
		return nil, errors.New("no SPSSODescriptor")
	}
	md := &SP{EntityID: ed.EntityID, Descriptor: &ed}
	for _, d := range ed.SPSSODescriptors {
		for _, a := range d.AssertionConsumerServices {
			md.ACS = append(md.ACS, a.Location)
		}
		for _, s := range d.SingleLogoutServices {
			md.SLO = append(md.SLO, s.Location)
		}
		certs, err := SigningCerts(d.KeyDescriptors)
		if err != nil {
			return nil, err
		}
		md.Certs = append(md.Certs, certs...)
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "encryption" && kd.Use != "" {
				continue
			}
			for _, m := range kd.EncryptionMethods {
				md.EncryptionMethods = append(md.EncryptionMethods, m.Algorithm)
			}
		}
	}
	return md, nil
}
