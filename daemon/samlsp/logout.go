package samlsp

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"

	"github.com/cmtls/cmtls/pki/samlxml"
)

// serveLogout asks before logging out on GET (a link, an image or a
// prefetch must end nothing: logout CSRF) and logs out on a POST carrying
// the session's CSRF token. Logout ends the local session at once (SLO is
// the least portable SAML feature, so its failure must not keep anyone
// logged in) and, when the IdP has a Single Logout endpoint, sends it a
// signed LogoutRequest naming the asserted NameID and SessionIndex.
func (sp *SP) serveLogout(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		sess, _ := sp.Session(r)
		data := map[string]string{"Logout": PathLogout}
		if sess != nil {
			data["User"], data["CSRF"] = sess.UserID, sp.mac("logout", sess.ID)
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = pages.ExecuteTemplate(w, "logout", data)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	now := sp.now()
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	_ = r.ParseForm()
	cur, ok := sp.Session(r)
	if !ok {
		sp.setCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, SameSite: http.SameSiteLaxMode})
		sp.loggedOut(w, "You are logged out.")
		return
	}
	if !sp.macOK(r.PostForm.Get("csrf"), "logout", cur.ID) {
		sp.log.Warn("saml: logout refused: missing or wrong CSRF token", "user", cur.UserID)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_ = pages.ExecuteTemplate(w, "logout", map[string]string{"Logout": PathLogout, "User": cur.UserID, "CSRF": sp.mac("logout", cur.ID)})
		return
	}
	sess, _ := sp.store.deleteSession(cur.ID)
	sp.setCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, SameSite: http.SameSiteLaxMode})
	if sess == nil {
		sp.loggedOut(w, "You are logged out.")
		return
	}
	sp.log.Info("saml: logout", "user", sess.UserID)
	dest := cmp.Or(sp.idp.SLORedirect.Location, sp.idp.SLOPost.Location)
	if dest == "" || sess.NameID.Value == "" {
		sp.loggedOut(w, "You are logged out of Cloudera Manager. The identity provider offers no single logout.")
		return
	}
	nid := sess.NameID
	req := &saml.LogoutRequest{
		ID: newRequestID(), Version: "2.0", IssueInstant: now.UTC(), Destination: dest,
		Issuer: &saml.Issuer{Format: entityFormat, Value: sp.entityID},
		NameID: &nid,
	}
	if sess.SessionIndex != "" {
		req.SessionIndex = &saml.SessionIndex{Value: sess.SessionIndex}
	}
	sp.store.addLogout(req.ID, now.Add(pendingTTL))
	if err := sp.send(w, r, sp.idp.SLORedirect.Location, sp.idp.SLOPost.Location, "SAMLRequest", req.Element, func(sig *etree.Element) { req.Signature = sig }, ""); err != nil {
		sp.log.Error("saml: cannot send LogoutRequest", "err", err)
		sp.loggedOut(w, "You are logged out of Cloudera Manager, but the logout request to the identity provider failed.")
	}
}

// send delivers a message to the IdP: Redirect binding with a query
// signature when redirectURL is set, else POST binding with an enveloped
// signature.
func (sp *SP) send(w http.ResponseWriter, r *http.Request, redirectURL, postURL, param string, element func() *etree.Element, setSig func(*etree.Element), relay string) error {
	if redirectURL != "" {
		msg, err := xmlBytes(element())
		if err != nil {
			return err
		}
		loc, err := samlxml.EncodeRedirect(redirectURL, param, msg, relay, sp.key, sp.sigAlg)
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, loc, http.StatusFound)
		return nil
	}
	sig, err := sp.signEnveloped(element())
	if err != nil {
		return err
	}
	setSig(sig)
	msg, err := xmlBytes(element())
	if err != nil {
		return err
	}
	writePostForm(w, postURL, param, msg, relay)
	return nil
}

func (sp *SP) loggedOut(w http.ResponseWriter, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pages.ExecuteTemplate(w, "loggedout", map[string]string{"Message": msg})
}

// inbound is a decoded and authenticated message at the SLO endpoint.
type inbound struct {
	root  *etree.Element
	relay string
	param string
}

// readSLO decodes a LogoutRequest or LogoutResponse in either binding and
// requires a valid signature: over the raw query (Redirect binding, as
// SimpleSAMLphp and the spec do) or enveloped (POST binding, or crewjam-
// style embedded signatures in a Redirect message).
func (sp *SP) readSLO(r *http.Request, now time.Time) (*inbound, error) {
	var data []byte
	in := &inbound{}
	querySigned := false
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		in.param = "SAMLRequest"
		if q.Has("SAMLResponse") {
			in.param = "SAMLResponse"
		}
		msg, err := decodeRedirect(r.URL.RawQuery, in.param, sp.idp.SigningCerts, sp.cfg.AllowSHA1)
		if err != nil {
			return nil, err
		}
		data, in.relay, querySigned = msg.XML, msg.RelayState, msg.Signed
	case http.MethodPost:
		r.Body = http.MaxBytesReader(nil, r.Body, maxPostBytes)
		if err := r.ParseForm(); err != nil {
			return nil, fmt.Errorf("cannot read the form: %w", err)
		}
		reqs, resps := r.PostForm["SAMLRequest"], r.PostForm["SAMLResponse"]
		var v []string
		switch {
		case len(reqs) == 1 && len(resps) == 0:
			in.param, v = "SAMLRequest", reqs
		case len(resps) == 1 && len(reqs) == 0:
			in.param, v = "SAMLResponse", resps
		default:
			return nil, errors.New("expected exactly one SAMLRequest or SAMLResponse")
		}
		if rs := r.PostForm["RelayState"]; len(rs) > 1 {
			return nil, errors.New("RelayState given twice")
		} else if len(rs) == 1 {
			in.relay = rs[0]
		}
		var err error
		if data, err = decodePost(v[0]); err != nil {
			return nil, fmt.Errorf("%s: %w", in.param, err)
		}
	default:
		return nil, fmt.Errorf("method %s not allowed", r.Method)
	}
	root, err := parseXML(data)
	if err != nil {
		return nil, err
	}
	switch out, err := sp.verifier.Verify(root, now); {
	case err == nil:
		root = out
	case errors.Is(err, errNoSignature):
		if !querySigned {
			return nil, errors.New("the logout message is not signed")
		}
	default:
		return nil, err
	}
	in.root = root
	return in, nil
}

// serveSLO handles the IdP's LogoutRequest (IdP-initiated logout) and its
// LogoutResponse to ours.
func (sp *SP) serveSLO(w http.ResponseWriter, r *http.Request) {
	// A GET without a message is someone checking that the URL answers
	// (the procedure's metadata URL check): no refusal in the log.
	if q := r.URL.Query(); r.Method == http.MethodGet && !q.Has("SAMLRequest") && !q.Has("SAMLResponse") {
		http.Error(w, "no SAML logout message", http.StatusBadRequest)
		return
	}
	now := sp.now()
	in, err := sp.readSLO(r, now)
	if err != nil {
		sp.refuseLogout(w, err)
		return
	}
	switch {
	case in.param == "SAMLRequest" && is(in.root, nsProtocol, "LogoutRequest"):
		sp.handleLogoutRequest(w, r, in, now)
	case in.param == "SAMLResponse" && is(in.root, nsProtocol, "LogoutResponse"):
		sp.handleLogoutResponse(w, in, now)
	default:
		sp.refuseLogout(w, fmt.Errorf("unexpected %s element %q at the logout endpoint", in.param, in.root.Tag))
	}
}

func (sp *SP) refuseLogout(w http.ResponseWriter, err error) {
	sp.log.Warn("saml: logout message refused", "reason", err.Error())
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	_ = pages.ExecuteTemplate(w, "loggedout", map[string]string{"Message": "The logout message from the identity provider was refused."})
}

func (sp *SP) checkLogoutMessage(el *etree.Element, what string, now time.Time) error {
	if err := sp.checkMessage(el, what, now); err != nil {
		return err
	}
	// The spec requires Destination on signed messages; we require it
	// always and match it (GHSA-pcgw-qcv5-h8ch class).
	if d := attr(el, "Destination"); d != sp.sloURL {
		return refuse("%s Destination %q is not our logout URL %q", what, d, sp.sloURL)
	}
	return nil
}

func (sp *SP) handleLogoutRequest(w http.ResponseWriter, r *http.Request, in *inbound, now time.Time) {
	el := in.root
	if err := sp.checkLogoutMessage(el, "LogoutRequest", now); err != nil {
		sp.refuseLogout(w, err)
		return
	}
	if v := attr(el, "NotOnOrAfter"); v != "" {
		t, err := parseTime(v)
		if err != nil || !now.Before(t.Add(sp.skew)) {
			sp.refuseLogout(w, fmt.Errorf("LogoutRequest NotOnOrAfter %q has passed or is invalid", v))
			return
		}
	}
	nidEl, err := child(el, nsAssertion, "NameID")
	if err != nil || nidEl == nil {
		sp.refuseLogout(w, errors.New("LogoutRequest needs exactly one NameID"))
		return
	}
	nameID, err := text(nidEl)
	if err != nil || nameID == "" {
		sp.refuseLogout(w, errors.New("LogoutRequest NameID is empty"))
		return
	}
	var indexes []string
	for _, si := range children(el, nsProtocol, "SessionIndex") {
		v, err := text(si)
		if err != nil {
			sp.refuseLogout(w, err)
			return
		}
		indexes = append(indexes, v)
	}
	id := attr(el, "ID")
	if err := sp.store.markSeen([]string{"logoutrequest:" + id}, now.Add(sp.maxAge+2*sp.skew), now); err != nil {
		sp.refuseLogout(w, err)
		return
	}
	n := 0
	if len(indexes) == 0 {
		n = sp.store.endSessions(nameID, "")
	}
	for _, idx := range indexes {
		n += sp.store.endSessions(nameID, idx)
	}
	sp.log.Info("saml: IdP-initiated logout", "nameid", nameID, "sessionsEnded", n)
	sp.setCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, SameSite: http.SameSiteLaxMode})

	redirect := cmp.Or(sp.idp.SLORedirect.ResponseLocation, sp.idp.SLORedirect.Location)
	post := cmp.Or(sp.idp.SLOPost.ResponseLocation, sp.idp.SLOPost.Location)
	resp := &saml.LogoutResponse{
		ID: newRequestID(), InResponseTo: id, Version: "2.0", IssueInstant: now.UTC(),
		Destination: cmp.Or(redirect, post),
		Issuer:      &saml.Issuer{Format: entityFormat, Value: sp.entityID},
		Status:      saml.Status{StatusCode: saml.StatusCode{Value: statusSuccess}},
	}
	if resp.Destination == "" {
		sp.loggedOut(w, "You were logged out by the identity provider.")
		return
	}
	if err := sp.send(w, r, redirect, post, "SAMLResponse", resp.Element, func(sig *etree.Element) { resp.Signature = sig }, in.relay); err != nil {
		sp.log.Error("saml: cannot send LogoutResponse", "err", err)
		sp.loggedOut(w, "You were logged out by the identity provider.")
	}
}

func (sp *SP) handleLogoutResponse(w http.ResponseWriter, in *inbound, now time.Time) {
	el := in.root
	if err := sp.checkLogoutMessage(el, "LogoutResponse", now); err != nil {
		sp.refuseLogout(w, err)
		return
	}
	irt := attr(el, "InResponseTo")
	if irt == "" || !sp.store.takeLogout(irt, now) {
		sp.refuseLogout(w, fmt.Errorf("LogoutResponse InResponseTo %q matches no logout we started", irt))
		return
	}
	code := ""
	if st, _ := child(el, nsProtocol, "Status"); st != nil {
		if sc, _ := child(st, nsProtocol, "StatusCode"); sc != nil {
			code = attr(sc, "Value")
		}
	}
	if code != statusSuccess {
		sp.log.Warn("saml: IdP logout did not succeed", "status", code)
		sp.loggedOut(w, "You are logged out of Cloudera Manager, but the identity provider reported that its logout did not succeed.")
		return
	}
	sp.loggedOut(w, "You are logged out of Cloudera Manager and the identity provider.")
}
