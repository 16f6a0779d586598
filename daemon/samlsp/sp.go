package samlsp

import (
	"cmp"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// Paths served by the SP (Spring Security SAML's, as CM uses).
const (
	PathMetadata = "/saml/metadata"
	PathLogin    = "/saml/login"
	PathACS      = "/saml/SSO"
	PathLogout   = "/saml/logout"
	PathSLO      = "/saml/SingleLogout"
)

// Cookie names. Distinct from any IdP's on the same host (cookies ignore
// ports).
const (
	SessionCookie = "cmtls_saml_session"
	trackCookie   = "cmtls_saml_track"
)

// maxRelayState is the spec's limit (bindings 3.4.3, 3.5.3).
const maxRelayState = 80

// ConfigError is an SP configuration that cannot work (bad input).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return "saml config: " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// BadInput marks bad input.
func (e *ConfigError) BadInput() bool { return true }

// SP is the Service Provider. It is an http.Handler; create it with New.
type SP struct {
	cfg      Config
	idp      *IdP
	key      crypto.Signer
	cert     *x509.Certificate
	sigAlg   string
	entityID string
	baseURL  string
	acsURL   string
	sloURL   string
	secure   bool
	skew     time.Duration
	maxAge   time.Duration
	verifier verifier
	store    *store
	log      *slog.Logger
	now      func() time.Time
	mux      *http.ServeMux
	metadata []byte
}

// New checks cfg and builds an SP.
func New(cfg Config) (*SP, error) {
	idp, err := ParseIdPMetadata(cfg.IdPMetadata)
	if err != nil {
		return nil, err
	}
	if cfg.Key == nil || cfg.Certificate == nil {
		return nil, &ConfigError{Err: errors.New("the SAML key and certificate are required")}
	}
	if !publicKeysEqual(cfg.Key.Public(), cfg.Certificate.PublicKey) {
		return nil, &ConfigError{Err: errors.New("the SAML private key does not match its certificate")}
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, &ConfigError{Err: fmt.Errorf("entity base URL %q is not an http(s) URL", cfg.BaseURL)}
	}
	if cfg.EntityID == "" {
		cfg.EntityID = DefaultEntityID
	}
	if cfg.UserIDFrom == "" {
		cfg.UserIDFrom = FromAttribute
	}
	if cfg.UserIDAttribute == "" {
		cfg.UserIDAttribute = DefaultUserAttribute
	}
	if cfg.RoleFrom == "" {
		cfg.RoleFrom = RoleFromAttribute
	}
	if cfg.RoleAttribute == "" {
		cfg.RoleAttribute = DefaultRoleAttribute
	}
	switch cfg.UserIDFrom {
	case FromNameID, FromAttribute:
	default:
		return nil, &ConfigError{Err: fmt.Errorf("invalid user ID source %q; options are nameid, attribute", cfg.UserIDFrom)}
	}
	switch cfg.RoleFrom {
	case RoleFromAttribute:
		if len(cfg.AdminValues)+len(cfg.UserValues) == 0 {
			return nil, &ConfigError{Err: errors.New("role from attribute needs admin or user values")}
		}
	case RoleFromScript:
		if cfg.RoleScript == "" {
			return nil, &ConfigError{Err: errors.New("role from script needs the script path")}
		}
	default:
		return nil, &ConfigError{Err: fmt.Errorf("invalid role source %q; options are attribute, script", cfg.RoleFrom)}
	}
	if cfg.ClockSkew <= 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.MaxMessageAge <= 0 {
		cfg.MaxMessageAge = DefaultMaxMessageAge
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = DefaultSessionLifetime
	}
	if cfg.RoleScriptTimeout <= 0 {
		cfg.RoleScriptTimeout = DefaultScriptTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := base.String()
	sp := &SP{
		cfg: cfg, idp: idp, key: cfg.Key, cert: cfg.Certificate, sigAlg: defaultSigAlg(cfg.Key),
		entityID: cfg.EntityID, baseURL: b, acsURL: b + PathACS, sloURL: b + PathSLO,
		secure: base.Scheme == "https" || cfg.SecureCookies,
		skew:   cfg.ClockSkew, maxAge: cfg.MaxMessageAge,
		verifier: verifier{certs: idp.SigningCerts, allowSHA1: cfg.AllowSHA1},
		store:    newStore(), log: cfg.Logger, now: cfg.Now,
	}
	if sp.metadata, err = sp.spMetadata(); err != nil {
		return nil, err
	}
	if !idp.ValidUntil.IsZero() && idp.ValidUntil.Before(sp.now()) {
		sp.log.Warn("saml: the IdP metadata has expired; get a fresh copy from the IdP", "validUntil", idp.ValidUntil)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathMetadata, sp.serveMetadata)
	mux.HandleFunc("GET "+PathLogin, sp.serveLogin)
	mux.HandleFunc("POST "+PathACS, sp.serveACS)
	mux.HandleFunc(PathLogout, sp.serveLogout)
	mux.HandleFunc(PathSLO, sp.serveSLO)
	mux.HandleFunc("GET /{$}", sp.serveHome)
	sp.mux = mux
	return sp, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// ServeHTTP serves the SAML endpoints and the home page.
func (sp *SP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action *")
	sp.mux.ServeHTTP(w, r)
}

// EntityID, ACSURL, SLOURL and MetadataURL describe us to an IdP.
func (sp *SP) EntityID() string    { return sp.entityID }
func (sp *SP) ACSURL() string      { return sp.acsURL }
func (sp *SP) SLOURL() string      { return sp.sloURL }
func (sp *SP) MetadataURL() string { return sp.baseURL + PathMetadata }

// Metadata returns our SP metadata XML.
func (sp *SP) Metadata() []byte { return append([]byte(nil), sp.metadata...) }

// IdP returns what was read from the IdP metadata.
func (sp *SP) IdP() *IdP { return sp.idp }

// Session returns the caller's session, if logged in.
func (sp *SP) Session(r *http.Request) (*Session, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, false
	}
	return sp.store.session(c.Value, sp.now())
}

// RequireLogin wraps next: without a session the browser is sent to the
// IdP and comes back to the same local path.
func (sp *SP) RequireLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := sp.Session(r); !ok {
			http.Redirect(w, r, PathLogin+"?return="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (sp *SP) serveMetadata(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	_, _ = w.Write(sp.metadata)
}

// localPath accepts only a same-origin path, at most 80 bytes: no scheme,
// no host, no "//" or "/\" (browsers treat both as another host), no
// control characters (notes 5, item 33).
func localPath(p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	if len(p) > maxRelayState {
		return "", fmt.Errorf("relay state is %d bytes, more than %d", len(p), maxRelayState)
	}
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\") {
		return "", fmt.Errorf("relay state %q is not a local path", p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("relay state %q has a control character", p)
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "", fmt.Errorf("relay state %q is not a local path", p)
	}
	return p, nil
}

// newRequestID is an xs:ID (an NCName, so it starts with "_").
func newRequestID() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error since Go 1.24
	return "_" + hex.EncodeToString(b)
}

func (sp *SP) setCookie(w http.ResponseWriter, c *http.Cookie) {
	c.HttpOnly = true
	c.Secure = sp.secure
	w.Header().Add("Set-Cookie", c.String())
}

// serveLogin starts SP-initiated SSO with a signed AuthnRequest.
func (sp *SP) serveLogin(w http.ResponseWriter, r *http.Request) {
	now := sp.now()
	returnTo, err := localPath(r.URL.Query().Get("return"))
	if err != nil {
		returnTo = "/"
	}
	track := ""
	if c, err := r.Cookie(trackCookie); err == nil && len(c.Value) == len(randomID()) {
		track = c.Value
	} else {
		track = randomID()
	}
	// The tracking cookie must survive the IdP's cross-site POST to the
	// ACS: SameSite=None needs Secure, so over plain HTTP we leave
	// SameSite unset (browsers' lax-by-default still sends it on the
	// top-level POST within two minutes, and same-site IdPs always work).
	c := &http.Cookie{Name: trackCookie, Value: track, Path: "/saml/", MaxAge: int(pendingTTL / time.Second)}
	if sp.secure {
		c.SameSite = http.SameSiteNoneMode
	}
	id := newRequestID()
	relay := randomID()
	if err := sp.store.addPending(id, pendingAuthn{track: track, relay: relay, returnTo: returnTo, expires: now.Add(pendingTTL)}, now); err != nil {
		sp.fail(w, http.StatusServiceUnavailable, "login refused", err)
		return
	}
	sp.setCookie(w, c)
	allow := true
	format := string(saml.UnspecifiedNameIDFormat)
	req := &saml.AuthnRequest{
		ID: id, Version: "2.0", IssueInstant: now.UTC(),
		Destination:                 cmp.Or(sp.idp.SSORedirect, sp.idp.SSOPost),
		AssertionConsumerServiceURL: sp.acsURL,
		ProtocolBinding:             saml.HTTPPostBinding,
		Issuer:                      &saml.Issuer{Format: entityFormat, Value: sp.entityID},
		NameIDPolicy:                &saml.NameIDPolicy{AllowCreate: &allow, Format: &format},
	}
	if sp.idp.SSORedirect != "" {
		msg, err := xmlBytes(req.Element())
		if err == nil {
			var loc string
			if loc, err = EncodeRedirect(sp.idp.SSORedirect, "SAMLRequest", msg, relay, sp.key, sp.sigAlg); err == nil {
				w.Header().Set("Cache-Control", "no-store")
				http.Redirect(w, r, loc, http.StatusFound)
				return
			}
		}
		sp.fail(w, http.StatusInternalServerError, "cannot build the login request", err)
		return
	}
	sig, err := sp.signEnveloped(req.Element())
	if err != nil {
		sp.fail(w, http.StatusInternalServerError, "cannot sign the login request", err)
		return
	}
	req.Signature = sig
	msg, err := xmlBytes(req.Element())
	if err != nil {
		sp.fail(w, http.StatusInternalServerError, "cannot build the login request", err)
		return
	}
	writePostForm(w, sp.idp.SSOPost, "SAMLRequest", msg, relay)
}

func xmlBytes(el *etree.Element) ([]byte, error) {
	doc := etree.NewDocument()
	doc.SetRoot(el)
	return doc.WriteToBytes()
}

// signEnveloped returns the enveloped signature element for el.
func (sp *SP) signEnveloped(el *etree.Element) (*etree.Element, error) {
	ctx, err := dsig.NewSigningContext(sp.key, [][]byte{sp.cert.Raw})
	if err != nil {
		return nil, err
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(sp.sigAlg); err != nil {
		return nil, err
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		return nil, err
	}
	return signed.Child[len(signed.Child)-1].(*etree.Element), nil
}

// serveACS consumes a Response posted by the IdP.
func (sp *SP) serveACS(w http.ResponseWriter, r *http.Request) {
	now := sp.now()
	r.Body = http.MaxBytesReader(w, r.Body, maxPostBytes)
	if err := r.ParseForm(); err != nil {
		sp.refuseLogin(w, fmt.Errorf("cannot read the form: %w", err))
		return
	}
	resps, relays := r.PostForm["SAMLResponse"], r.PostForm["RelayState"]
	if len(resps) != 1 || len(relays) > 1 {
		sp.refuseLogin(w, errors.New("expected one SAMLResponse and at most one RelayState"))
		return
	}
	relay := ""
	if len(relays) == 1 {
		relay = relays[0]
	}
	data, err := decodePost(resps[0])
	if err != nil {
		sp.refuseLogin(w, fmt.Errorf("SAMLResponse: %w", err))
		return
	}
	va, err := sp.validateResponse(data, now)
	if err != nil {
		sp.refuseLogin(w, err)
		return
	}
	// Solicited responses must answer a login this browser started;
	// unsolicited ones are IdP-initiated SSO.
	var returnTo string
	if va.InResponseTo != "" {
		track := ""
		if c, err := r.Cookie(trackCookie); err == nil {
			track = c.Value
		}
		p, ok := sp.store.takePending(va.InResponseTo, track, now)
		if !ok {
			sp.refuseLogin(w, fmt.Errorf("InResponseTo %q matches no login started by this browser", va.InResponseTo))
			return
		}
		if relay != p.relay {
			sp.refuseLogin(w, fmt.Errorf("RelayState %q is not the one sent with request %s", relay, va.InResponseTo))
			return
		}
		returnTo = p.returnTo
	} else {
		if sp.cfg.DisableIdPInitiated {
			sp.refuseLogin(w, errors.New("unsolicited response while IdP-initiated SSO is disabled"))
			return
		}
		if returnTo, err = localPath(relay); err != nil {
			sp.refuseLogin(w, err)
			return
		}
	}
	if err := sp.store.markSeen([]string{"response:" + va.ResponseID, "assertion:" + va.AssertionID}, va.ReplayUntil, now); err != nil {
		sp.refuseLogin(w, err)
		return
	}
	userID, err := sp.userID(va)
	if err != nil {
		sp.log.Warn("saml: login refused: no usable user ID", "reason", err.Error(), "nameid", va.NameID.Value)
		sp.notAuthorized(w, "", err.Error())
		return
	}
	role, reason := sp.role(r.Context(), userID, va)
	if role == RoleNone {
		sp.log.Warn("saml: user is not authorized", "user", userID, "reason", reason)
		sp.notAuthorized(w, userID, reason)
		return
	}
	expires := now.Add(sp.cfg.SessionLifetime)
	if !va.SessionNotOnOrAfter.IsZero() && va.SessionNotOnOrAfter.Before(expires) {
		expires = va.SessionNotOnOrAfter
	}
	sess := &Session{ID: randomID(), UserID: userID, Role: role, NameID: va.NameID, SessionIndex: va.SessionIndex, Created: now, Expires: expires}
	if err := sp.store.addSession(sess, now); err != nil {
		sp.fail(w, http.StatusServiceUnavailable, "login refused", err)
		return
	}
	sp.log.Info("saml: login", "user", userID, "role", string(role), "idpInitiated", va.InResponseTo == "", "encrypted", va.Encrypted)
	sp.setCookie(w, &http.Cookie{Name: SessionCookie, Value: sess.ID, Path: "/", SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, returnTo, http.StatusSeeOther)
}

func (sp *SP) refuseLogin(w http.ResponseWriter, err error) {
	sp.log.Warn("saml: response refused", "reason", err.Error())
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	_ = pages.ExecuteTemplate(w, "refused", map[string]string{"Login": PathLogin})
}

func (sp *SP) fail(w http.ResponseWriter, code int, what string, err error) {
	sp.log.Error("saml: "+what, "err", err)
	http.Error(w, what, code)
}

// notAuthorized is the seed's special page: authenticated by the IdP, but
// neither an admin nor a regular user. No session is created.
func (sp *SP) notAuthorized(w http.ResponseWriter, user, _ string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	_ = pages.ExecuteTemplate(w, "notauthorized", map[string]string{"User": user})
}

func (sp *SP) serveHome(w http.ResponseWriter, r *http.Request) {
	sess, ok := sp.Session(r)
	if !ok {
		http.Redirect(w, r, PathLogin, http.StatusFound)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pages.ExecuteTemplate(w, "home", map[string]any{"User": sess.UserID, "Role": sess.Role.String(), "RoleID": string(sess.Role), "Logout": PathLogout})
}

var pages = template.Must(template.New("pages").Parse(`
{{define "head"}}<!DOCTYPE html><html><head><meta charset="utf-8"><title>{{.}} - Cloudera Manager</title></head><body>{{end}}
{{define "home"}}{{template "head" "Home"}}
<h1>Cloudera Manager</h1>
<p>Logged in as <strong id="user">{{.User}}</strong>, role <strong id="role" data-role="{{.RoleID}}">{{.Role}}</strong>.</p>
<form method="post" action="{{.Logout}}"><button type="submit">Logout</button></form>
</body></html>{{end}}
{{define "notauthorized"}}{{template "head" "Not authorized"}}
<h1 id="not-authorized">Not authorized</h1>
<p>You were authenticated by the identity provider{{if .User}} as <strong id="user">{{.User}}</strong>{{end}},
but you are not authorized to use Cloudera Manager as an administrator or as a regular user.</p>
<p>If you should have access, ask your administrator to check your role: the SAML attribute the
identity provider sends, or the external role script. The Cloudera Manager server log gives the
reason for this decision.</p>
</body></html>{{end}}
{{define "refused"}}{{template "head" "Login failed"}}
<h1 id="login-refused">Login failed</h1>
<p>The response from the identity provider was refused. The Cloudera Manager server log gives the reason.</p>
<p><a href="{{.Login}}">Try again</a></p>
</body></html>{{end}}
{{define "loggedout"}}{{template "head" "Logged out"}}
<h1 id="logged-out">Logged out</h1>
<p>{{.Message}}</p>
<p><a href="/">Log in again</a></p>
</body></html>{{end}}
`))
