package browser

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Confirm submits a confirmation page's only form (with its hidden token)
// and Settle follows an auto-submitting SAML POST form; cookies are kept.
func TestConfirmAndSettle(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /logout", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "s", Value: "v"})
		fmt.Fprint(w, `<form method="post" action="/logout"><input type="hidden" name="csrf" value="t&amp;k"><button>Log out</button></form>`)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("s"); err != nil || c.Value != "v" || r.PostFormValue("csrf") != "t&k" {
			http.Error(w, "bad confirmation", http.StatusForbidden)
			return
		}
		fmt.Fprint(w, `<form method='post' action='/slo'><input type='hidden' name='SAMLRequest' value='abc'></form>`)
	})
	mux.HandleFunc("POST /slo", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<p id="done">%s</p>`, r.PostFormValue("SAMLRequest"))
	})
	mux.HandleFunc("GET /two", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<form action="/a"></form><form action="/b"></form>`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	b := NewBrowser(nil)
	p, err := b.Confirm(context.Background(), srv.URL+"/logout")
	if err != nil || p.Status != http.StatusOK || !strings.Contains(p.Body, `<p id="done">abc</p>`) {
		t.Fatalf("confirm: %v %+v\n%s", err, p, strings.Join(b.Trace, "\n"))
	}
	if _, err := b.Confirm(context.Background(), srv.URL+"/two"); err == nil || !strings.Contains(err.Error(), "2 forms") {
		t.Fatalf("two forms: %v", err)
	}
}
