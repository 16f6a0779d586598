package samlsp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
)

// mac is an HMAC-SHA-256 of purpose and parts under the SP's secret: the
// tracking cookie's and the CSRF tokens' proof that this server issued them.
func (sp *SP) mac(purpose string, parts ...string) string {
	m := hmac.New(sha256.New, sp.secret)
	m.Write([]byte(purpose))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (sp *SP) macOK(got, purpose string, parts ...string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(sp.mac(purpose, parts...)))
}

// newTrack issues a tracking value: random, with this server's MAC, so a
// value a client (or a page that planted a cookie) chose is refused.
func (sp *SP) newTrack() string {
	r := randomID()
	return r + "." + sp.mac("track", r)
}

// track returns the request's tracking cookie if this server issued it,
// else "".
func (sp *SP) track(r *http.Request) string {
	c, err := r.Cookie(trackCookie)
	if err != nil {
		return ""
	}
	v, sum, ok := strings.Cut(c.Value, ".")
	if !ok || !sp.macOK(sum, "track", v) {
		return ""
	}
	return c.Value
}

// LogoutToken is the CSRF token a logout POST from this browser's session
// must carry (form field "csrf"); "" when the request has no session. The
// embedded console puts it in its logout form.
func (sp *SP) LogoutToken(r *http.Request) string {
	sess, ok := sp.Session(r)
	if !ok {
		return ""
	}
	return sp.mac("logout", sess.ID)
}

// canonical reports whether the request came to the entity base URL's
// host. Cookies are per host, so a login started on another name
// (127.0.0.1 for localhost) would come back from the IdP to the base URL
// without them.
func (sp *SP) canonical(r *http.Request) bool {
	return hostPort(r.Host, sp.scheme) == sp.hostPort
}

func hostPort(host, scheme string) string {
	h, p, err := net.SplitHostPort(host)
	if err != nil {
		h, p = host, map[string]string{"https": "443"}[scheme]
		if p == "" {
			p = "80"
		}
	}
	return strings.ToLower(strings.TrimSuffix(strings.Trim(h, "[]"), ".")) + ":" + p
}

// redirectCanonical sends a GET that came to another host name to the same
// path on the base URL's host, before anything (a login) starts.
func (sp *SP) redirectCanonical(w http.ResponseWriter, r *http.Request) bool {
	if sp.canonical(r) || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, sp.origin+r.URL.RequestURI(), http.StatusFound)
	return true
}
