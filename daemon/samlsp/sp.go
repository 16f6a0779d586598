package samlsp

import (
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

	"github.com/cmtls/cmtls/pki/samlxml"
)

// Paths served by the SP (Spring Security SAML's, as CM uses).
const (
	PathMetadata = samlxml.PathMetadata
	PathLogin    = samlxml.PathLogin
	PathACS      = samlxml.PathACS
	PathLogout   = samlxml.PathLogout
	PathSLO      = samlxml.PathSLO
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
	verifier samlxml.Verifier
	store    *store
	log      *slog.Logger
	now      func() time.Time
	mux      *http.ServeMux
	metadata []byte
	// secret keys the MACs of tracking cookies and CSRF tokens.
	secret []byte
	// scheme, hostPort and origin describe the base URL's host, where
	// logins start (cookies are per host).
	scheme, hostPort, origin string
	// binding is the response binding the AuthnRequest asks for.
	binding string
	// artifacts resolves HTTP-Artifact responses; nil without an
	// ArtifactResolutionService.
	artifacts *artifactResolver
}

// New checks cfg and builds an SP.
func New(cfg Config) (*SP, error) {
	idp, err := samlxml.ParseIdPMetadata(cfg.IdPMetadata)
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
		verifier: samlxml.Verifier{Certs: idp.SigningCerts, AllowSHA1: cfg.AllowSHA1},
		store:    newStore(), log: cfg.Logger, now: cfg.Now,
		secret: make([]byte, 32), scheme: base.Scheme, hostPort: hostPort(base.Host, base.Scheme),
		origin: base.Scheme + "://" + base.Host, binding: saml.HTTPPostBinding,
	}
	_, _ = rand.Read(sp.secret) // crypto/rand.Read never returns an error since Go 1.24
	if err := sp.setupArtifacts(); err != nil {
		return nil, err
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
	mux.HandleFunc("GET "+PathACS, sp.serveACS)
	mux.HandleFunc("GET "+PathContinue, sp.serveContinue)
	mux.HandleFunc("POST "+PathContinue, sp.serveContinue)
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
			if sp.redirectCanonical(w, r) {
				return
			}
			http.Redirect(w, r, sp.LoginURL(r.URL.RequestURI()), http.StatusFound)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// LoginURL is the local URL that starts a login and comes back to
// returnTo (a local path; anything else comes back to "/"): the deep link
// a console keeps through the login.
func (sp *SP) LoginURL(returnTo string) string {
	if p, err := localPath(returnTo); err == nil && p != "/" {
		return PathLogin + "?return=" + url.QueryEscape(p)
	}
	return PathLogin
}

func (sp *SP) serveMetadata(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	_, _ = w.Write(sp.metadata)
}

// localPath accepts only a same-origin path, at most 80 bytes: no scheme,
// no host, no "//" or "/\" (browsers treat both as another host), no
// control characters (open redirect, CWE-601).
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

// notAuthorized is CM's special page: authenticated by the IdP, but
// neither an admin nor a regular user. No session is created.
func (sp *SP) notAuthorized(w http.ResponseWriter, user, _ string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	_ = pages.ExecuteTemplate(w, "notauthorized", map[string]string{"User": user})
}

func (sp *SP) serveHome(w http.ResponseWriter, r *http.Request) {
	if sp.redirectCanonical(w, r) {
		return
	}
	sess, ok := sp.Session(r)
	if !ok {
		http.Redirect(w, r, PathLogin, http.StatusFound)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pages.ExecuteTemplate(w, "home", map[string]any{"User": sess.UserID, "Role": sess.Role.String(), "RoleID": string(sess.Role), "Logout": PathLogout, "CSRF": sp.mac("logout", sess.ID)})
}

var pages = template.Must(template.New("pages").Parse(`
{{define "head"}}<!DOCTYPE html><html><head><meta charset="utf-8"><title>{{.}} - Cloudera Manager</title></head><body>{{end}}
{{define "home"}}{{template "head" "Home"}}
<h1>Cloudera Manager</h1>
<p>Logged in as <strong id="user">{{.User}}</strong>, role <strong id="role" data-role="{{.RoleID}}">{{.Role}}</strong>.</p>
<form method="post" action="{{.Logout}}"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit">Logout</button></form>
</body></html>{{end}}
{{define "logout"}}{{template "head" "Log out"}}
<h1 id="logout-confirm">Log out?</h1>
{{if .User}}<p>You are logged in to Cloudera Manager as <strong id="user">{{.User}}</strong>.</p>
<form method="post" action="{{.Logout}}"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit" id="logout">Log out</button></form>
<p><a href="/">Stay logged in</a></p>{{else}}<p>You are not logged in.</p><p><a href="/">Log in</a></p>{{end}}
</body></html>{{end}}
{{define "confirm"}}{{template "head" "Switch user?"}}
<h1 id="confirm-switch">Switch user?</h1>
<p>You are logged in to Cloudera Manager as <strong id="current">{{.Current}}</strong>. The identity provider
has sent a login for <strong id="new">{{.New}}</strong> that this browser did not ask for.</p>
<form method="post" action="{{.Action}}"><input type="hidden" name="state" value="{{.State}}"><button type="submit" id="switch">Continue as {{.New}}</button></form>
<p><a href="/">Stay logged in as {{.Current}}</a></p>
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
