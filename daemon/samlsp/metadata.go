package samlsp

import (
	"crypto/rsa"
	"encoding/base64"
	"strconv"

	"github.com/beevik/etree"
	"github.com/cmtls/cmtls/pki/samlxml"
	"github.com/crewjam/saml"
)

// IdP is what the SP needs from the IdP's metadata.
type IdP = samlxml.IdP

// spMetadata renders our metadata. There is no validUntil: crewjam's +48h
// default makes Shibboleth-style consumers drop the SP two days after
// registration.
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
		// XML encryption key transport is RSA only (RSA-OAEP): an
		// EC key is published for signing alone, so IdPs do not encrypt.
		uses = append(uses, "encryption")
	}
	for _, use := range uses {
		kd := d.CreateElement("md:KeyDescriptor")
		kd.CreateAttr("use", use)
		kd.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").SetText(certB64)
		if use == "encryption" {
			for _, alg := range EncryptionMethods {
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
	// The configured response binding is the default ACS (index 0); with
	// HTTP-Artifact, HTTP-POST stays available as index 1.
	bindings := []string{saml.HTTPPostBinding}
	if sp.binding == saml.HTTPArtifactBinding {
		bindings = []string{saml.HTTPArtifactBinding, saml.HTTPPostBinding}
	}
	for i, b := range bindings {
		acs := d.CreateElement("md:AssertionConsumerService")
		acs.CreateAttr("Binding", b)
		acs.CreateAttr("Location", sp.acsURL)
		acs.CreateAttr("index", strconv.Itoa(i))
		if i == 0 {
			acs.CreateAttr("isDefault", "true")
		}
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	doc.SetRoot(ed)
	doc.Indent(2)
	return doc.WriteToBytes()
}
