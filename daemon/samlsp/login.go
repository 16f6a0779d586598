package samlsp

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/crewjam/saml"

	"github.com/cmtls/cmtls/pki/samlxml"
)

// PathContinue is where a verified login comes back to when the IdP's POST
// could not show the browser's cookies (see finish).
const PathContinue = "/saml/continue"

// completionTTL bounds how long a verified login waits for the browser.
const completionTTL = 5 * time.Minute

// login is a verified response on its way to becoming a session.
type login struct {
	userID       string
	role         Role
	nameID       saml.NameID
	sessionIndex string
	notOnOrAfter time.Time
	encrypted    bool
	encryption   string
	// solicited logins answer a pending request started by the browser
	// holding track; unsolicited ones are IdP-initiated SSO.
	solicited    bool
	track        string
	returnTo     string
	priorSession string
}

// serveLogin starts SP-initiated SSO with a signed AuthnRequest. The login
// state stays on the server under the RelayState token; the tracking
// cookie only binds it to this browser.
func (sp *SP) serveLogin(w http.ResponseWriter, r *http.Request) {
	if sp.redirectCanonical(w, r) {
		return
	}
	now := sp.now()
	returnTo, err := localPath(r.URL.Query().Get("return"))
	if err != nil {
		sp.log.Warn("saml: login return path refused", "reason", err.Error())
		returnTo = "/"
	}
	track := sp.track(r)
	if track == "" {
		track = sp.newTrack()
	}
	prior := ""
	if sess, ok := sp.Session(r); ok {
		prior = sess.ID
	}
	id := newRequestID()
	relay := randomID()
	if err := sp.store.addPending(relay, pendingAuthn{requestID: id, track: track, returnTo: returnTo, priorSession: prior, expires: now.Add(pendingTTL)}, now); err != nil {
		sp.fail(w, http.StatusServiceUnavailable, "login refused", err)
		return
	}
	sp.setCookie(w, sp.trackCookie(track))
	allow := true
	format := string(saml.UnspecifiedNameIDFormat)
	req := &saml.AuthnRequest{
		ID: id, Version: "2.0", IssueInstant: now.UTC(),
		Destination:                 cmp.Or(sp.idp.SSORedirect, sp.idp.SSOPost),
		AssertionConsumerServiceURL: sp.acsURL,
		ProtocolBinding:             sp.binding,
		Issuer:                      &saml.Issuer{Format: entityFormat, Value: sp.entityID},
		NameIDPolicy:                &saml.NameIDPolicy{AllowCreate: &allow, Format: &format},
	}
	if sp.idp.SSORedirect != "" {
		msg, err := xmlBytes(req.Element())
		if err == nil {
			var loc string
			if loc, err = samlxml.EncodeRedirect(sp.idp.SSORedirect, "SAMLRequest", msg, relay, sp.key, sp.sigAlg); err == nil {
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

// trackCookie is the tracking cookie. Over HTTPS it is SameSite=None;
// Secure so it comes back on the IdP's cross-site POST. Over plain HTTP
// SameSite=None is refused by browsers, so it is Lax, stated rather than
// left to the browser's default: the POST never carries it, whatever the
// login's duration (Chromium's two-minute grace for cookies without
// SameSite does not apply), and the login completes at PathContinue,
// where a top-level GET carries Lax cookies.
func (sp *SP) trackCookie(v string) *http.Cookie {
	c := &http.Cookie{Name: trackCookie, Value: v, Path: "/saml/", MaxAge: int(pendingTTL / time.Second), SameSite: http.SameSiteLaxMode}
	if sp.secure {
		c.SameSite = http.SameSiteNoneMode
	}
	return c
}

// serveACS consumes a Response posted by the IdP (HTTP-POST binding) or
// named by an artifact (HTTP-Artifact binding).
func (sp *SP) serveACS(w http.ResponseWriter, r *http.Request) {
	// A GET without an artifact is someone checking that the URL answers:
	// 405 as before the artifact binding, and no refusal in the log.
	if r.Method == http.MethodGet && !r.URL.Query().Has("SAMLart") {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	now := sp.now()
	r.Body = http.MaxBytesReader(w, r.Body, maxPostBytes)
	if err := r.ParseForm(); err != nil {
		sp.refuseLogin(w, fmt.Errorf("cannot read the form: %w", err))
		return
	}
	relays := r.Form["RelayState"]
	if len(relays) > 1 {
		sp.refuseLogin(w, errors.New("expected at most one RelayState"))
		return
	}
	relay := ""
	if len(relays) == 1 {
		relay = relays[0]
	}
	data, err := sp.readResponse(r, now)
	if err != nil {
		sp.refuseLogin(w, err)
		return
	}
	va, err := sp.validateResponse(data, now)
	if err != nil {
		sp.refuseLogin(w, err)
		return
	}
	lg, err := sp.match(r, va, relay, now)
	if err != nil {
		sp.refuseLogin(w, err)
		return
	}
	if err := sp.store.markSeen([]string{"response:" + va.ResponseID, "assertion:" + va.AssertionID}, va.ReplayUntil, now); err != nil {
		sp.refuseLogin(w, err)
		return
	}
	if lg.userID, err = sp.userID(va); err != nil {
		sp.log.Warn("saml: login refused: no usable user ID", "reason", err.Error(), "nameid", va.NameID.Value)
		sp.notAuthorized(w, "", err.Error())
		return
	}
	var reason string
	if lg.role, reason = sp.role(r.Context(), lg.userID, va); lg.role == RoleNone {
		sp.log.Warn("saml: user is not authorized", "user", lg.userID, "reason", reason)
		sp.notAuthorized(w, lg.userID, reason)
		return
	}
	lg.nameID, lg.sessionIndex, lg.notOnOrAfter, lg.encrypted, lg.encryption = va.NameID, va.SessionIndex, va.SessionNotOnOrAfter, va.Encrypted, va.Encryption
	sp.finish(w, r, lg, true, now)
}

// readResponse returns the Response XML: the SAMLResponse form field
// (HTTP-POST), or the Response an ArtifactResolve returns for SAMLart.
func (sp *SP) readResponse(r *http.Request, now time.Time) ([]byte, error) {
	// SAMLResponse only from the POST body (HTTP-POST binding); SAMLart
	// from the query or the body (HTTP-Artifact by redirect or by POST).
	resps, arts := r.PostForm["SAMLResponse"], r.Form["SAMLart"]
	switch {
	case len(resps) == 1 && len(arts) == 0 && r.Method == http.MethodPost:
		data, err := decodePost(resps[0])
		if err != nil {
			return nil, fmt.Errorf("SAMLResponse: %w", err)
		}
		return data, nil
	case len(arts) == 1 && len(resps) == 0:
		return sp.resolveArtifact(r.Context(), arts[0], now)
	}
	return nil, errors.New("expected one SAMLResponse or one SAMLart")
}

// match ties a verified response to the login it answers: a solicited one
// to the pending request stored under its RelayState token (and, where the
// POST shows it, to this browser's tracking cookie); an unsolicited one is
// IdP-initiated SSO, whose RelayState may only be a local path.
func (sp *SP) match(r *http.Request, va *verifiedAssertion, relay string, now time.Time) (*login, error) {
	if va.InResponseTo == "" {
		if sp.cfg.DisableIdPInitiated {
			return nil, errors.New("unsolicited response while IdP-initiated SSO is disabled")
		}
		returnTo, err := localPath(relay)
		if err != nil {
			return nil, err
		}
		return &login{returnTo: returnTo}, nil
	}
	p, ok := sp.store.takePending(relay, va.InResponseTo, now)
	if !ok {
		return nil, fmt.Errorf("InResponseTo %q matches no login started by this browser (or RelayState %q is not the one sent with it)", va.InResponseTo, relay)
	}
	if t := sp.track(r); t != "" && t != p.track {
		return nil, fmt.Errorf("InResponseTo %q matches no login started by this browser", va.InResponseTo)
	}
	return &login{solicited: true, track: p.track, returnTo: p.returnTo, priorSession: p.priorSession}, nil
}

// finish turns a verified login into a session once the browser is known:
//   - a solicited login needs the tracking cookie of the browser that
//     started it;
//   - an unsolicited one (IdP-initiated SSO, kept because CM supports it)
//     never replaces another user's live session without the user's
//     confirmation (login CSRF).
//
// A cross-site POST over plain HTTP carries no Lax cookies, so at the ACS
// (atACS) a login whose decision needs cookies the POST lacks is handed
// over to PathContinue by a 303: the browser's GET there carries them.
func (sp *SP) finish(w http.ResponseWriter, r *http.Request, lg *login, atACS bool, now time.Time) {
	track := sp.track(r)
	live, _ := sp.Session(r)
	_, sessErr := r.Cookie(SessionCookie)
	switch {
	case lg.solicited && track == "" && atACS:
		sp.handOver(w, r, lg, now)
	case lg.solicited && track != lg.track:
		sp.refuseLogin(w, errors.New("the response matches no login started by this browser: its tracking cookie is missing or another browser's"))
	case lg.solicited:
		sp.complete(w, r, lg, live, now)
	case sessErr != nil && atACS:
		sp.handOver(w, r, lg, now)
	case live != nil && live.UserID != lg.userID:
		sp.askConfirm(w, lg, live, now)
	default:
		sp.complete(w, r, lg, live, now)
	}
}

func (sp *SP) handOver(w http.ResponseWriter, r *http.Request, lg *login, now time.Time) {
	token, err := sp.store.addCompletion(&completion{login: *lg, expires: now.Add(completionTTL)}, now)
	if err != nil {
		sp.fail(w, http.StatusServiceUnavailable, "login refused", err)
		return
	}
	sp.log.Info("saml: login handed over to "+PathContinue+": the POST showed none of the cookies needed", "solicited", lg.solicited)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, PathContinue+"?state="+url.QueryEscape(token), http.StatusSeeOther)
}

// serveContinue is the second half of a login handed over by the ACS (GET)
// and the user's confirmation to replace a session (POST, same-origin form
// whose token is bound to the session being replaced).
func (sp *SP) serveContinue(w http.ResponseWriter, r *http.Request) {
	now := sp.now()
	if r.Method == http.MethodGet {
		c, ok := sp.store.takeCompletion(r.URL.Query().Get("state"), now)
		if !ok || c.confirmFor != "" {
			sp.refuseLogin(w, errors.New("login continuation unknown, used or expired"))
			return
		}
		sp.finish(w, r, &c.login, false, now)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		sp.refuseLogin(w, err)
		return
	}
	c, ok := sp.store.takeCompletion(r.PostForm.Get("state"), now)
	live, _ := sp.Session(r)
	if !ok || c.confirmFor == "" || live == nil || live.ID != c.confirmFor {
		sp.refuseLogin(w, errors.New("login confirmation unknown, expired or from another browser"))
		return
	}
	sp.complete(w, r, &c.login, live, now)
}

// askConfirm shows whose session a new unsolicited login would replace.
func (sp *SP) askConfirm(w http.ResponseWriter, lg *login, live *Session, now time.Time) {
	token, err := sp.store.addCompletion(&completion{login: *lg, confirmFor: live.ID, expires: now.Add(completionTTL)}, now)
	if err != nil {
		sp.fail(w, http.StatusServiceUnavailable, "login refused", err)
		return
	}
	sp.log.Warn("saml: unsolicited login for another user waits for confirmation", "current", live.UserID, "new", lg.userID)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pages.ExecuteTemplate(w, "confirm", map[string]string{"Current": live.UserID, "New": lg.userID, "Action": PathContinue, "State": token})
}

// complete ends the browser's previous session (the one it had when the
// login started and the one it shows now) and starts the new one.
func (sp *SP) complete(w http.ResponseWriter, r *http.Request, lg *login, live *Session, now time.Time) {
	for _, id := range []string{lg.priorSession, sessionID(live)} {
		if id == "" {
			continue
		}
		if old, ok := sp.store.deleteSession(id); ok {
			sp.log.Info("saml: previous session ended by a new login", "user", old.UserID)
		}
	}
	expires := now.Add(sp.cfg.SessionLifetime)
	if !lg.notOnOrAfter.IsZero() && lg.notOnOrAfter.Before(expires) {
		expires = lg.notOnOrAfter
	}
	sess := &Session{ID: randomID(), UserID: lg.userID, Role: lg.role, NameID: lg.nameID, SessionIndex: lg.sessionIndex, Created: now, Expires: expires}
	if err := sp.store.addSession(sess, now); err != nil {
		sp.fail(w, http.StatusServiceUnavailable, "login refused", err)
		return
	}
	sp.log.Info("saml: login", "user", lg.userID, "role", string(lg.role), "idpInitiated", !lg.solicited, "encrypted", lg.encrypted, "encryption", lg.encryption)
	sp.setCookie(w, &http.Cookie{Name: SessionCookie, Value: sess.ID, Path: "/", SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, lg.returnTo, http.StatusSeeOther)
}

func sessionID(s *Session) string {
	if s == nil {
		return ""
	}
	return s.ID
}
