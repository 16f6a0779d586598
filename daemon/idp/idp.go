package idp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
	"github.com/cmtls/cmtls/pki/samlxml"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// Attribute names (urn:oid, URI NameFormat) released for every user.
const (
	AttrUID   = "urn:oid:0.9.2342.19200300.100.1.1"
	AttrOU    = "urn:oid:2.5.4.11"
	AttrMail  = "urn:oid:0.9.2342.19200300.100.1.3"
	uriFormat = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
)

// Paths.
const (
	PathMetadata     = "/metadata"
	PathSSO          = "/sso"
	PathSLO          = "/slo"
	PathIdPInitiated = "/idp-initiated" // ?sp=<entity ID>&RelayState=/path
	PathLogout       = "/logout"        // ?sp=<entity ID>: IdP-initiated logout
)

const sessionCookie = "cmtls_idp_session"

// User is a test user.
type User struct {
	Name     string
	Password string
	// UID is released as uid; defaults to Name.
	UID string
	// OU values are released as ou (the role attribute CM reads by
	// default).
	OU    []string
	Email string
}

// Config builds a test IdP.
type Config struct {
	// BaseURL is how browsers reach the IdP, e.g. http://127.0.0.1:8180.
	// The entity ID is BaseURL + /metadata.
	BaseURL string
	// Key and Certificate sign assertions; generated when nil.
	Key         *rsa.PrivateKey
	Certificate *x509.Certificate
	Users       []User
	// SPMetadata are where the IdP loads an SP's metadata when a request
	// comes from an issuer it does not know, or when the metadata it has
	// no longer verifies the SP's signature (the SP's keys changed).
	SPMetadata []MetadataSource
	Logger     *slog.Logger
}

// Server is the test IdP.
type Server struct {
	cfg     Config
	idp     *saml.IdentityProvider
	log     *slog.Logger
	srv     *http.Server
	handler http.Handler
	spDir   string // where registrations are saved ("" keeps them in memory)

	// fetchMu makes SP metadata fetches one at a time.
	fetchMu sync.Mutex

	mu       sync.Mutex
	users    map[string]User
	sps      map[string]*saml.EntityDescriptor
	sessions map[string]*saml.Session
	logouts  map[string]string // our LogoutRequest ID -> SP entity ID
	// artifacts are Responses waiting for an ArtifactResolve.
	artifacts map[string]issuedArtifact
	base      *url.URL
}

// New builds the IdP.
func New(cfg Config) (*Server, error) {
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("idp base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.Key == nil {
		if cfg.Key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, err
		}
		cfg.Certificate = nil
	}
	if cfg.Certificate == nil {
		if cfg.Certificate, err = selfSigned(cfg.Key); err != nil {
			return nil, err
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger,
		users: map[string]User{}, sps: map[string]*saml.EntityDescriptor{},
		sessions: map[string]*saml.Session{}, logouts: map[string]string{},
		artifacts: map[string]issuedArtifact{}, base: base,
	}
	for _, u := range cfg.Users {
		s.AddUser(u)
	}
	at := func(p string) url.URL { u := *base; u.Path += p; return u }
	s.idp = &saml.IdentityProvider{
		Key: cfg.Key, Signer: cfg.Key, Certificate: cfg.Certificate,
		Logger:      slogLogger{cfg.Logger},
		MetadataURL: at(PathMetadata), SSOURL: at(PathSSO), LogoutURL: at(PathSLO),
		ServiceProviderProvider: s, SessionProvider: s,
		SignatureMethod: dsig.RSASHA256SignatureMethod,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathMetadata, s.serveMetadata)
	if s.artifactURL() != "" {
		mux.HandleFunc("POST "+PathArtifact, s.serveArtifact)
	}
	mux.HandleFunc(PathSSO, s.serveSSO)
	mux.HandleFunc(PathIdPInitiated, s.serveIdPInitiated)
	mux.HandleFunc("GET "+PathSLO, s.serveSLO)
	mux.HandleFunc("GET "+PathLogout, s.serveLogout)
	s.handler = mux
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

func selfSigned(key *rsa.PrivateKey) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "cmtls sandbox IdP"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// Handler serves the IdP's endpoints.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves HTTP on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	err := s.srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// EntityID is the IdP's entity ID (its metadata URL).
func (s *Server) EntityID() string { return s.idp.MetadataURL.String() }

// Certificate is the IdP's signing certificate.
func (s *Server) Certificate() *x509.Certificate { return s.cfg.Certificate }

// Metadata returns the IdP metadata XML, as an SP's "IdP metadata file".
func (s *Server) Metadata() ([]byte, error) {
	ed := s.idp.Metadata()
	if u := s.artifactURL(); u != "" {
		for i := range ed.IDPSSODescriptors {
			ed.IDPSSODescriptors[i].ArtifactResolutionServices = []saml.Endpoint{{Binding: saml.SOAPBinding, Location: u}}
		}
	}
	b, err := xml.MarshalIndent(ed, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}

func (s *Server) serveMetadata(w http.ResponseWriter, _ *http.Request) {
	b, err := s.Metadata()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	_, _ = w.Write(b)
}

// AddUser adds or replaces a user.
func (s *Server) AddUser(u User) {
	if u.UID == "" {
		u.UID = u.Name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.Name] = u
}

// RegisterSP trusts an SP from its metadata (what "provide this metadata
// file to your IdP" means for this IdP), for in-process tests.
func (s *Server) RegisterSP(metadata []byte) (entityID string, err error) {
	ed, err := parseSP(metadata)
	if err != nil {
		return "", err
	}
	return ed.EntityID, s.trustSP(ed, metadata, true)
}

func parseSP(metadata []byte) (*saml.EntityDescriptor, error) {
	if err := samlxml.CheckXML(metadata); err != nil {
		return nil, fmt.Errorf("sp metadata: %w", err)
	}
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(metadata, &ed); err != nil {
		return nil, fmt.Errorf("sp metadata: %w", err)
	}
	if ed.EntityID == "" || len(ed.SPSSODescriptors) == 0 {
		return nil, errors.New("sp metadata: no entityID or SPSSODescriptor")
	}
	return &ed, nil
}

// trustSP keeps ed (parsed from metadata), saving the metadata in spDir
// when save is set, as a file-backed metadata provider keeps its last
// good copy across restarts.
func (s *Server) trustSP(ed *saml.EntityDescriptor, metadata []byte, save bool) error {
	if save && s.spDir != "" {
		sum := sha256.Sum256([]byte(ed.EntityID))
		if err := writeAtomic(filepath.Join(s.spDir, hex.EncodeToString(sum[:8])+".xml"), metadata, 0o644); err != nil {
			return fmt.Errorf("save sp metadata: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sps[ed.EntityID] = ed
	s.log.Info("idp: trusting service provider", "entityID", ed.EntityID)
	return nil
}

// GetServiceProvider implements saml.ServiceProviderProvider: an SP trusted
// already, or one a configured metadata source serves (r may be nil).
func (s *Server) GetServiceProvider(r *http.Request, id string) (*saml.EntityDescriptor, error) {
	ctx := context.Background()
	if r != nil {
		ctx = r.Context()
	}
	return s.lookupSP(ctx, id, nil)
}

// spCerts lists the SP's signing certificates. This is a test IdP: a
// certificate that does not parse ends its own descriptor's list but not
// the others', so a half-broken SP still gets its requests checked.
func (s *Server) spCerts(ed *saml.EntityDescriptor) []*x509.Certificate {
	var out []*x509.Certificate
	for _, d := range ed.SPSSODescriptors {
		certs, _ := samlxml.SigningCerts(d.KeyDescriptors)
		out = append(out, certs...)
	}
	return out
}

func (s *Server) spSLO(ed *saml.EntityDescriptor) string {
	for _, d := range ed.SPSSODescriptors {
		for _, e := range d.SingleLogoutServices {
			if e.Binding == saml.HTTPRedirectBinding {
				return e.Location
			}
		}
	}
	return ""
}

// serveSSO checks the Redirect-binding query signature of the SP's
// AuthnRequest when the SP's metadata says it signs requests, then lets
// crewjam's IdP do the rest (it accepts any signature, or none).
func (s *Server) serveSSO(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		var req saml.AuthnRequest
		msg, _, _, err := decodeUnverified(r.URL.RawQuery)
		if err != nil || xml.Unmarshal(msg, &req) != nil || req.Issuer == nil {
			s.log.Warn("idp: bad AuthnRequest", "err", err)
			http.Error(w, "bad SAMLRequest", http.StatusBadRequest)
			return
		}
		ed, err := s.GetServiceProvider(r, req.Issuer.Value)
		if err != nil {
			s.log.Warn("idp: unknown service provider", "entityID", req.Issuer.Value)
			http.Error(w, "unknown service provider "+req.Issuer.Value, http.StatusForbidden)
			return
		}
		_, _, signed, ed, err := s.verifiedRedirect(r, "SAMLRequest", ed)
		wantSigned := false
		for _, d := range ed.SPSSODescriptors {
			wantSigned = wantSigned || (d.AuthnRequestsSigned != nil && *d.AuthnRequestsSigned)
		}
		if err != nil || (wantSigned && !signed) {
			s.log.Warn("idp: AuthnRequest signature refused", "sp", req.Issuer.Value, "err", err, "signed", signed)
			http.Error(w, "AuthnRequest signature invalid or missing", http.StatusForbidden)
			return
		}
	}
	s.serveSSOWithBinding(w, r)
}

// verifiedRedirect decodes the Redirect-binding message param, checking
// its signature (if any) with the certificates of ed's metadata. When they
// do not verify it, the SP's metadata is loaded again, once, and the
// message checked with the certificates it has now: the SP's keys may have
// changed since (a new SAML keystore; in the SAML V2.0 Metadata
// Interoperability Profile the keys in metadata are what a peer trusts,
// and key rollover is learned from refreshed metadata). It returns the
// metadata that was used.
func (s *Server) verifiedRedirect(r *http.Request, param string, ed *saml.EntityDescriptor) (msg []byte, relay string, signed bool, used *saml.EntityDescriptor, err error) {
	msg, relay, signed, err = samlxml.DecodeRedirect(r.URL.RawQuery, param, s.spCerts(ed), false)
	if err == nil {
		return msg, relay, signed, ed, nil
	}
	fresh, ferr := s.lookupSP(r.Context(), ed.EntityID, ed)
	if ferr != nil || fresh == ed {
		return msg, relay, signed, ed, err
	}
	s.log.Info("idp: checking the signature with the SP's reloaded metadata", "sp", ed.EntityID)
	msg, relay, signed, err = samlxml.DecodeRedirect(r.URL.RawQuery, param, s.spCerts(fresh), false)
	return msg, relay, signed, fresh, err
}

// decodeUnverified inflates a Redirect message without a signature check,
// only to learn who sent it.
func decodeUnverified(rawQuery string) ([]byte, string, bool, error) {
	var kept []string
	for _, kv := range strings.Split(rawQuery, "&") {
		if !strings.HasPrefix(kv, "SigAlg=") && !strings.HasPrefix(kv, "Signature=") {
			kept = append(kept, kv)
		}
	}
	return samlxml.DecodeRedirect(strings.Join(kept, "&"), "SAMLRequest", nil, false)
}

func (s *Server) serveIdPInitiated(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.idp.ServeIDPInitiated(w, r, q.Get("sp"), q.Get("RelayState"))
}

// GetSession implements saml.SessionProvider: the session cookie, or the
// login form (user name and password) posted back to the same URL.
func (s *Server) GetSession(w http.ResponseWriter, r *http.Request, req *saml.IdpAuthnRequest) *saml.Session {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.mu.Lock()
		sess, ok := s.sessions[c.Value]
		s.mu.Unlock()
		if ok && time.Now().Before(sess.ExpireTime) {
			return sess
		}
	}
	toast := ""
	if r.Method == http.MethodPost && r.PostFormValue("username") != "" {
		name, pass := r.PostFormValue("username"), r.PostFormValue("password")
		s.mu.Lock()
		u, ok := s.users[name]
		s.mu.Unlock()
		if ok && subtle.ConstantTimeCompare([]byte(u.Password), []byte(pass)) == 1 {
			sess := s.newSession(u)
			http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sess.ID, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
			s.log.Info("idp: login", "user", name)
			return sess
		}
		s.log.Warn("idp: wrong user name or password", "user", name)
		toast = "Wrong user name or password."
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if toast != "" {
		w.WriteHeader(http.StatusUnauthorized)
	}
	samlRequest := ""
	if req != nil && len(req.RequestBuffer) > 0 {
		samlRequest = base64.StdEncoding.EncodeToString(req.RequestBuffer)
	}
	relay := ""
	if req != nil {
		relay = req.RelayState
	}
	_ = loginForm.Execute(w, map[string]string{"Action": r.URL.String(), "SAMLRequest": samlRequest, "RelayState": relay, "Toast": toast})
	return nil
}

func (s *Server) newSession(u User) *saml.Session {
	id := randomID()
	sess := &saml.Session{
		ID: id, CreateTime: time.Now(), ExpireTime: time.Now().Add(8 * time.Hour),
		Index:  "_" + randomID(),
		NameID: u.UID, NameIDFormat: string(saml.UnspecifiedNameIDFormat),
		UserName: u.UID, UserEmail: u.Email,
	}
	if len(u.OU) > 0 {
		a := saml.Attribute{FriendlyName: "ou", Name: AttrOU, NameFormat: uriFormat}
		for _, v := range u.OU {
			a.Values = append(a.Values, saml.AttributeValue{Type: "xs:string", Value: v})
		}
		sess.CustomAttributes = append(sess.CustomAttributes, a)
	}
	s.mu.Lock()
	s.sessions[id] = sess
	s.mu.Unlock()
	return sess
}

func randomID() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error since Go 1.24
	return fmt.Sprintf("%x", b)
}

var loginForm = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Test IdP login</title></head><body>
<h1>cmtls test IdP</h1>
{{if .Toast}}<p id="toast">{{.Toast}}</p>{{end}}
<form method="post" action="{{.Action}}">
<label>User name <input name="username" autofocus></label>
<label>Password <input name="password" type="password"></label>
<input type="hidden" name="SAMLRequest" value="{{.SAMLRequest}}">
<input type="hidden" name="RelayState" value="{{.RelayState}}">
<button type="submit">Log in</button>
</form></body></html>
`))

// serveSLO takes the SP's LogoutRequest (ends the IdP session, answers
// with a signed LogoutResponse) or the SP's LogoutResponse to our
// IdP-initiated logout. A LogoutRequest must carry a valid query signature
// of the SP that issued it; a LogoutResponse one of a trusted SP.
func (s *Server) serveSLO(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("SAMLResponse") {
		s.serveLogoutResponse(w, r)
		return
	}
	var req saml.LogoutRequest
	msg, _, _, err := decodeUnverified(r.URL.RawQuery)
	if err != nil || xml.Unmarshal(msg, &req) != nil || req.Issuer == nil || req.NameID == nil {
		http.Error(w, "bad LogoutRequest", http.StatusBadRequest)
		return
	}
	ed, err := s.GetServiceProvider(r, req.Issuer.Value)
	if err != nil {
		s.log.Warn("idp: logout from an unknown service provider", "entityID", req.Issuer.Value)
		http.Error(w, "unknown service provider", http.StatusForbidden)
		return
	}
	msg, relay, signed, ed, err := s.verifiedRedirect(r, "SAMLRequest", ed)
	if err == nil && !signed {
		err = errors.New("not signed")
	}
	if err == nil {
		err = samlxml.CheckXML(msg)
	}
	if err != nil {
		s.log.Warn("idp: logout message refused", "sp", req.Issuer.Value, "err", err)
		http.Error(w, "logout message refused", http.StatusForbidden)
		return
	}
	n := s.endSessions(req.NameID.Value)
	s.log.Info("idp: SP-initiated logout", "sp", req.Issuer.Value, "nameid", req.NameID.Value, "sessionsEnded", n)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1})
	dest := s.spSLO(ed)
	resp := &saml.LogoutResponse{
		ID: "_" + randomID(), InResponseTo: req.ID, Version: "2.0", IssueInstant: time.Now().UTC(),
		Destination: dest, Issuer: &saml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: s.EntityID()},
		Status: saml.Status{StatusCode: saml.StatusCode{Value: saml.StatusSuccess}},
	}
	s.redirect(w, r, dest, "SAMLResponse", resp.Element(), relay)
}

// serveLogoutResponse is the SP's answer to our IdP-initiated logout.
func (s *Server) serveLogoutResponse(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var certs []*x509.Certificate
	for _, ed := range s.sps {
		certs = append(certs, s.spCerts(ed)...)
	}
	s.mu.Unlock()
	msg, _, signed, err := samlxml.DecodeRedirect(r.URL.RawQuery, "SAMLResponse", certs, false)
	if err == nil && !signed {
		err = errors.New("not signed")
	}
	if err == nil {
		err = samlxml.CheckXML(msg)
	}
	if err != nil {
		s.log.Warn("idp: logout message refused", "err", err)
		http.Error(w, "logout message refused", http.StatusForbidden)
		return
	}
	var resp saml.LogoutResponse
	if err := xml.Unmarshal(msg, &resp); err != nil {
		http.Error(w, "bad LogoutResponse", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	_, ok := s.logouts[resp.InResponseTo]
	delete(s.logouts, resp.InResponseTo)
	s.mu.Unlock()
	if !ok || resp.Status.StatusCode.Value != saml.StatusSuccess {
		http.Error(w, "unexpected LogoutResponse", http.StatusForbidden)
		return
	}
	fmt.Fprintln(w, "Logged out of the service provider and the IdP.")
}

func (s *Server) endSessions(nameID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, v := range s.sessions {
		if v.NameID == nameID {
			delete(s.sessions, k)
			n++
		}
	}
	return n
}

func (s *Server) redirect(w http.ResponseWriter, r *http.Request, dest, param string, el *etree.Element, relay string) {
	doc := etree.NewDocument()
	doc.SetRoot(el)
	b, err := doc.WriteToBytes()
	if err == nil {
		var loc string
		if loc, err = samlxml.EncodeRedirect(dest, param, b, relay, s.cfg.Key, dsig.RSASHA256SignatureMethod); err == nil {
			http.Redirect(w, r, loc, http.StatusFound)
			return
		}
	}
	s.log.Error("idp: cannot build redirect", "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

// serveLogout is IdP-initiated Single Logout: the IdP session ends and the
// browser carries a signed LogoutRequest to the SP.
func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		http.Error(w, "not logged in at the IdP", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	sess, ok := s.sessions[c.Value]
	delete(s.sessions, c.Value)
	s.mu.Unlock()
	if !ok {
		http.Error(w, "not logged in at the IdP", http.StatusBadRequest)
		return
	}
	ed, err := s.GetServiceProvider(r, r.URL.Query().Get("sp"))
	if err != nil || s.spSLO(ed) == "" {
		http.Error(w, "unknown service provider or no SingleLogoutService", http.StatusBadRequest)
		return
	}
	dest := s.spSLO(ed)
	req := &saml.LogoutRequest{
		ID: "_" + randomID(), Version: "2.0", IssueInstant: time.Now().UTC(), Destination: dest,
		Issuer:       &saml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: s.EntityID()},
		NameID:       &saml.NameID{Format: sess.NameIDFormat, Value: sess.NameID},
		SessionIndex: &saml.SessionIndex{Value: sess.Index},
	}
	s.mu.Lock()
	s.logouts[req.ID] = ed.EntityID
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1})
	s.redirect(w, r, dest, "SAMLRequest", req.Element(), "")
}

// slogLogger adapts slog to crewjam's logger interface.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Printf(format string, v ...any) { s.l.Info("idp: " + fmt.Sprintf(format, v...)) }
func (s slogLogger) Print(v ...any)                 { s.l.Info("idp: " + fmt.Sprint(v...)) }
func (s slogLogger) Println(v ...any)               { s.l.Info("idp: " + fmt.Sprint(v...)) }
func (s slogLogger) Fatal(v ...any)                 { s.l.Error("idp: " + fmt.Sprint(v...)) }
func (s slogLogger) Fatalf(format string, v ...any) { s.l.Error("idp: " + fmt.Sprintf(format, v...)) }
func (s slogLogger) Fatalln(v ...any)               { s.l.Error("idp: " + fmt.Sprint(v...)) }
func (s slogLogger) Panic(v ...any)                 { s.l.Error("idp: " + fmt.Sprint(v...)) }
func (s slogLogger) Panicf(format string, v ...any) { s.l.Error("idp: " + fmt.Sprintf(format, v...)) }
func (s slogLogger) Panicln(v ...any)               { s.l.Error("idp: " + fmt.Sprint(v...)) }
