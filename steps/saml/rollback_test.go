package saml

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps"
)

// consoleLeadsToIdP follows GET / on the console the way a browser would
// until it leaves the console, and reports whether it reached the IdP.
func consoleLeadsToIdP(t *testing.T, w *world) bool {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := w.cmURL + "/"
	for range 10 {
		resp, err := c.Get(next)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if loc == "" {
			return false
		}
		u, err := resp.Request.URL.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(w.idp.EntityID(), u.Host) {
			return true
		}
		next = u.String()
	}
	t.Fatal("too many redirects")
	return false
}

// saml rollback after configure: the settings go back to what they were,
// the server restarts, GET / no longer leads to the IdP, the local login
// works; a second rollback has nothing to do. Without a record it is bad
// input and nothing changes.
func TestRollbackEndToEnd(t *testing.T) {
	w := newWorld(t)
	api, _ := cmapi.New(w.cmURL, "admin", []byte("admin"))
	before := settingByDisplay(t, api, "External Authentication Type")

	// nothing recorded yet
	r := w.run(t, w.answers(t, ""), w.api(t, "admin"), steps.Options{}, true)
	var e *Error
	if !errors.As(r.err, &e) || !e.BadInput() || !strings.Contains(r.err.Error(), "no record") {
		t.Fatalf("rollback without a record: %v", r.err)
	}

	if r := w.configure(t, w.answers(t, ""), steps.Options{}); r.err != nil {
		t.Fatalf("configure: %v", r.err)
	}
	if !consoleLeadsToIdP(t, w) {
		t.Fatal("after configure the console does not lead to the IdP")
	}
	// this CM lists no sessions: the local login is proven by the console
	cmAPI := w.api(t, "admin")
	cmAPI.noSessions = true
	r = w.run(t, w.answers(t, ""), cmAPI, steps.Options{}, true)
	if r.err != nil {
		t.Fatalf("rollback: %v (hint %q)\nevents: %+v", r.err, findHint(r.err), w.events)
	}
	if !r.saml.Restarted || w.cm.Restarts.Load() != 2 {
		t.Fatalf("restarted=%v restarts=%d", r.saml.Restarted, w.cm.Restarts.Load())
	}
	if got := settingByDisplay(t, api, "External Authentication Type"); got != before {
		t.Fatalf("External Authentication Type = %q, want %q as before configure", got, before)
	}
	if consoleLeadsToIdP(t, w) {
		t.Fatal("after rollback the console still leads to the IdP")
	}
	r = w.run(t, w.answers(t, ""), cmAPI, steps.Options{}, true)
	if r.err != nil || !r.res.Plan.Empty() || w.cm.Restarts.Load() != 2 {
		t.Fatalf("second rollback: err=%v plan=%+v restarts=%d", r.err, r.res.Plan, w.cm.Restarts.Load())
	}
}

// The record keeps each setting's value from before the first configure
// that changed it, and never a sensitive value.
func TestRecordKeepsTheFirstOldValue(t *testing.T) {
	var s state
	s.addSettings([]Setting{{Name: "auth", DisplayName: "External Authentication Type", New: "SAML", was: ""},
		{Name: "pw", DisplayName: "SAML Keystore Password", New: "secret-1", was: "REDACTED", Sensitive: true}})
	s.addSettings([]Setting{{Name: "auth", DisplayName: "External Authentication Type", New: "SAML", was: "SAML"},
		{Name: "id", DisplayName: "SAML Entity ID", New: "cm2", was: "cm1"}})
	if len(s.Settings) != 3 || s.Settings[0].Old != "" || s.Settings[2].Old != "cm1" {
		t.Fatalf("record %+v", s.Settings)
	}
	if pw := s.Settings[1]; pw.Old != "" || !pw.OldSet || !pw.Sensitive {
		t.Fatalf("sensitive setting recorded as %+v", pw)
	}
}
