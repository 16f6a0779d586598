package saml

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
)

// console is a CM console's login behaviour: a form login that opens a
// session, the home page for sessions only, and (saml) every anonymous
// page sent to an IdP.
type console struct {
	mu       sync.Mutex
	sessions []Session
	// listed: whether CM lists the sessions it opens
	listed bool
	idp    string // when set, anonymous pages go there (SAML still on)
}

func (c *console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, err := r.Cookie("SESSION")
	in := err == nil
	switch {
	case r.URL.Path == "/" || (r.URL.Path == "/cmf/home" && !in):
		if c.idp != "" && !in {
			http.Redirect(w, r, c.idp+"/sso?SAMLRequest=x", http.StatusFound)
			return
		}
		if !in {
			http.Redirect(w, r, "/cmf/login", http.StatusFound)
			return
		}
		http.Redirect(w, r, "/cmf/home", http.StatusFound)
	case r.URL.Path == "/cmf/home":
		w.WriteHeader(http.StatusOK)
	case r.URL.Path == "/cmf/login":
		w.WriteHeader(http.StatusOK)
	case r.URL.Path == "/j_spring_security_check" && r.Method == http.MethodPost:
		_ = r.ParseForm()
		if r.PostForm.Get("j_username") != "admin" || r.PostForm.Get("j_password") != "pw" {
			http.Redirect(w, r, "/cmf/localLogin?error", http.StatusFound)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "SESSION", Value: "1", Path: "/"})
		c.mu.Lock()
		if c.listed {
			c.sessions = append(c.sessions, Session{Name: "admin", LastRequest: time.Now()})
		}
		c.mu.Unlock()
		http.Redirect(w, r, "/cmf/home", http.StatusFound)
	default:
		http.NotFound(w, r)
	}
}

type consoleAPI struct {
	*cm7
	c *console
}

func (a consoleAPI) Sessions(context.Context) ([]Session, error) {
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	return append([]Session(nil), a.c.sessions...), nil
}

// Rollback's last step passes only when the console no longer leads to
// the IdP, the local login opens a session and CM lists it.
func TestRollbackVerifyAsksCM(t *testing.T) {
	cases := []struct {
		name     string
		c        *console
		password string
		fail     string
	}{
		{"back to local logins", &console{listed: true}, "pw", ""},
		{"still SAML", &console{listed: true, idp: "http://127.0.0.9:1"}, "pw", "still leads to"},
		{"wrong password", &console{listed: true}, "nope", "local login as admin"},
		{"no session listed", &console{listed: false}, "pw", "no new session"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(tc.c)
			defer ts.Close()
			f := &answers.File{Version: 1, Dir: t.TempDir(), Server: &answers.Server{API: &answers.API{URL: ts.URL, User: "admin", Password: answers.NewSecret([]byte(tc.password))}},
				SAML: &answers.SAML{IdPMetadata: "missing.xml"}}
			p := New(Deps{API: consoleAPI{newCM7(), tc.c}})
			err := p.verifyLocalLogin(context.Background(), &steps.Env{Answers: f})
			if tc.fail == "" && err != nil {
				t.Fatal(err)
			}
			if tc.fail != "" && (err == nil || !strings.Contains(err.Error(), tc.fail)) {
				t.Fatalf("got %v, want an error saying %q", err, tc.fail)
			}
		})
	}
}
