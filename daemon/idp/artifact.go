package idp

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/cmtls/cmtls/pki/samlxml"
)

// PathArtifact is the ArtifactResolutionService (SOAP binding). It is
// published when the IdP's base URL is https: the SP's back channel must be
// TLS.
const PathArtifact = "/artifact"

const (
	nsSOAP      = "http://schemas.xmlsoap.org/soap/envelope/"
	artifactTTL = time.Minute
)

// issuedArtifact is a Response waiting for the SP's ArtifactResolve.
type issuedArtifact struct {
	response *etree.Element
	sp       string
	expires  time.Time
}

// artifactURL is the published ArtifactResolutionService, "" without TLS.
func (s *Server) artifactURL() string {
	if s.base.Scheme != "https" {
		return ""
	}
	return s.base.String() + PathArtifact
}

// newArtifact stores resp for sp and returns a type 0x0004 artifact
// (SAML 2.0 Bindings 3.6.4): type code, endpoint index 0, SourceID = SHA-1
// of our entity ID, 20 random bytes of message handle.
func (s *Server) newArtifact(resp *etree.Element, sp string) string {
	b := make([]byte, 44)
	binary.BigEndian.PutUint16(b, 0x0004)
	src := sha1.Sum([]byte(s.EntityID()))
	copy(b[4:], src[:])
	copy(b[24:], randomBytes(20))
	art := base64.StdEncoding.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for k, v := range s.artifacts {
		if now.After(v.expires) {
			delete(s.artifacts, k)
		}
	}
	s.artifacts[art] = issuedArtifact{response: resp, sp: sp, expires: now.Add(artifactTTL)}
	return art
}

// sendArtifact answers an SSO request with the HTTP-Artifact binding: a
// redirect to the SP's ACS with SAMLart and RelayState.
func (s *Server) sendArtifact(w http.ResponseWriter, r *http.Request, req *saml.IdpAuthnRequest, acs string) {
	if err := req.MakeResponse(); err != nil {
		s.log.Error("idp: cannot make the response", "err", err)
		http.Error(w, "cannot make the response", http.StatusInternalServerError)
		return
	}
	art := s.newArtifact(req.ResponseEl, req.ServiceProviderMetadata.EntityID)
	u, err := url.Parse(acs)
	if err != nil {
		http.Error(w, "bad ACS URL", http.StatusInternalServerError)
		return
	}
	q := u.Query()
	q.Set("SAMLart", art)
	if req.RelayState != "" {
		q.Set("RelayState", req.RelayState)
	}
	u.RawQuery = q.Encode()
	s.log.Info("idp: artifact issued", "sp", req.ServiceProviderMetadata.EntityID)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// serveArtifact is the ArtifactResolutionService: a SOAP ArtifactResolve
// signed by a registered SP (checked against its metadata certificates)
// gets the Response once, in a signed ArtifactResponse. An unknown, used or
// expired artifact, or one issued to another SP, gets an ArtifactResponse
// without a message, as the spec says.
func (s *Server) serveArtifact(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, samlxml.MaxXMLBytes+1))
	if err != nil || len(data) > samlxml.MaxXMLBytes {
		soapFault(w, "request too large or unreadable")
		return
	}
	root, err := samlxml.Parse(data)
	if err != nil || !samlxml.Is(root, nsSOAP, "Envelope") {
		soapFault(w, "not a SOAP envelope")
		return
	}
	body, _ := samlxml.Child(root, nsSOAP, "Body")
	var ar *etree.Element
	if body != nil && len(body.ChildElements()) == 1 {
		ar = body.ChildElements()[0]
	}
	if !samlxml.Is(ar, samlxml.NSProtocol, "ArtifactResolve") {
		soapFault(w, "expected an ArtifactResolve")
		return
	}
	iss, _ := samlxml.Child(ar, samlxml.NSAssertion, "Issuer")
	issuer, _ := samlxml.Text(iss)
	ed, err := s.GetServiceProvider(r, issuer)
	if err != nil {
		s.log.Warn("idp: ArtifactResolve from an unknown SP", "issuer", issuer)
		soapFault(w, "unknown service provider")
		return
	}
	verified, err := samlxml.Verifier{Certs: s.spCerts(ed)}.Verify(ar, time.Now())
	if err != nil {
		s.log.Warn("idp: ArtifactResolve signature refused", "sp", issuer, "err", err)
		soapFault(w, "ArtifactResolve must be signed by the SP")
		return
	}
	artEl, _ := samlxml.Child(verified, samlxml.NSProtocol, "Artifact")
	art, _ := samlxml.Text(artEl)
	s.mu.Lock()
	a, ok := s.artifacts[art]
	delete(s.artifacts, art)
	s.mu.Unlock()
	if !ok || time.Now().After(a.expires) || a.sp != issuer {
		s.log.Warn("idp: artifact unknown, used, expired or another SP's", "sp", issuer)
		a.response = nil
	}
	resp, err := s.artifactResponse(verified.SelectAttrValue("ID", ""), a.response)
	if err != nil {
		s.log.Error("idp: cannot build the ArtifactResponse", "err", err)
		soapFault(w, "internal error")
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(resp)
	if a.response != nil {
		s.log.Info("idp: artifact resolved", "sp", issuer)
	}
}

// artifactResponse is the signed SOAP answer (Signature after Issuer, as
// the schema orders it).
func (s *Server) artifactResponse(inResponseTo string, resp *etree.Element) ([]byte, error) {
	ar := etree.NewElement("samlp:ArtifactResponse")
	ar.CreateAttr("xmlns:samlp", samlxml.NSProtocol)
	ar.CreateAttr("xmlns:saml", samlxml.NSAssertion)
	ar.CreateAttr("ID", "_"+randomID())
	ar.CreateAttr("InResponseTo", inResponseTo)
	ar.CreateAttr("Version", "2.0")
	ar.CreateAttr("IssueInstant", time.Now().UTC().Format(time.RFC3339Nano))
	iss := ar.CreateElement("saml:Issuer")
	iss.SetText(s.EntityID())
	ar.CreateElement("samlp:Status").CreateElement("samlp:StatusCode").CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:Success")
	if resp != nil {
		ar.AddChild(resp.Copy())
	}
	ctx, err := dsig.NewSigningContext(s.cfg.Key, [][]byte{s.cfg.Certificate.Raw})
	if err != nil {
		return nil, err
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return nil, err
	}
	signed, err := ctx.SignEnveloped(ar)
	if err != nil {
		return nil, err
	}
	sig := signed.Child[len(signed.Child)-1].(*etree.Element)
	ar.InsertChildAt(iss.Index()+1, sig)
	env := etree.NewElement("soap-env:Envelope")
	env.CreateAttr("xmlns:soap-env", nsSOAP)
	env.CreateElement("soap-env:Body").AddChild(ar)
	doc := etree.NewDocument()
	doc.SetRoot(env)
	return doc.WriteToBytes()
}

func soapFault(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	doc := etree.NewDocument()
	env := doc.CreateElement("soap-env:Envelope")
	env.CreateAttr("xmlns:soap-env", nsSOAP)
	f := env.CreateElement("soap-env:Body").CreateElement("soap-env:Fault")
	f.CreateElement("faultcode").SetText("soap-env:Client")
	f.CreateElement("faultstring").SetText(msg)
	_, _ = doc.WriteTo(w)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error since Go 1.24
	return b
}

// serveSSOWithBinding is crewjam's ServeSSO with the HTTP-Artifact binding
// added (crewjam's IdP posts only): the SP asks for it in the
// AuthnRequest's ProtocolBinding.
func (s *Server) serveSSOWithBinding(w http.ResponseWriter, r *http.Request) {
	req, err := saml.NewIdpAuthnRequest(s.idp, r)
	if err != nil {
		s.log.Warn("idp: cannot parse the AuthnRequest", "err", err)
		http.Error(w, "bad SAMLRequest", http.StatusBadRequest)
		return
	}
	if err := req.Validate(); err != nil {
		s.log.Warn("idp: AuthnRequest refused", "err", err)
		http.Error(w, "bad SAMLRequest", http.StatusBadRequest)
		return
	}
	artifact := req.Request.ProtocolBinding == saml.HTTPArtifactBinding
	if artifact && s.artifactURL() == "" {
		s.log.Warn("idp: HTTP-Artifact asked for, but this IdP has no TLS ArtifactResolutionService")
		http.Error(w, "HTTP-Artifact binding not available", http.StatusBadRequest)
		return
	}
	// The response goes to an ACS endpoint of the chosen binding.
	want := saml.HTTPPostBinding
	if artifact {
		want = saml.HTTPArtifactBinding
	}
	if req.ACSEndpoint.Binding != want {
		found := false
		for _, d := range req.ServiceProviderMetadata.SPSSODescriptors {
			for _, e := range d.AssertionConsumerServices {
				if e.Binding == want && e.Location == req.ACSEndpoint.Location && !found {
					e := e
					req.ACSEndpoint, found = &e, true
				}
			}
		}
		if !found {
			http.Error(w, "the SP has no "+want+" endpoint at "+req.ACSEndpoint.Location, http.StatusBadRequest)
			return
		}
	}
	session := s.GetSession(w, r, req)
	if session == nil {
		return
	}
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, session); err != nil {
		s.log.Error("idp: cannot make the assertion", "err", err)
		http.Error(w, "cannot make the assertion", http.StatusInternalServerError)
		return
	}
	if artifact {
		s.sendArtifact(w, r, req, req.ACSEndpoint.Location)
		return
	}
	if err := req.WriteResponse(w); err != nil {
		s.log.Error("idp: cannot write the response", "err", err)
		http.Error(w, "cannot write the response", http.StatusInternalServerError)
	}
}
