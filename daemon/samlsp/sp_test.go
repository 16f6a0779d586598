package samlsp

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSPInitiatedLoginAdmin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id, relay, track := f.startLogin("/cmf/home")
	s := f.spec()
	s.InResponseTo = id
	w := f.post(f.build(s, nil), relay, track)
	c := f.accepted(w)
	if loc := w.Header().Get("Location"); loc != "/cmf/home" {
		t.Fatalf("redirect to %q, want the return path", loc)
	}
	home := f.get("/", c)
	body := home.Body.String()
	if home.Code != http.StatusOK || !strings.Contains(body, `<strong id="user">alice</strong>`) || !strings.Contains(body, `data-role="admin"`) {
		t.Fatalf("home page: %d %s", home.Code, body)
	}
	// The same AuthnRequest ID cannot be answered twice.
	s2 := f.spec()
	s2.InResponseTo = id
	f.refusedN(f.post(f.build(s2, nil), relay, track), "matches no login started by this browser", 1)
}

func TestIdPInitiatedLoginUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec()
	s.NameID = "bob"
	s.Attrs = [][2]string{{uidOID, "bob"}, {ouOID, "cm-users"}}
	w := f.post(f.build(s, nil), "/cmf/hosts")
	c := f.accepted(w)
	if loc := w.Header().Get("Location"); loc != "/cmf/hosts" {
		t.Fatalf("redirect to %q", loc)
	}
	sess, ok := f.sp.store.session(c.Value, f.now)
	if !ok || sess.UserID != "bob" || sess.Role != RoleUser {
		t.Fatalf("session %+v", sess)
	}
}

func TestEncryptedAssertionAccepted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec()
	s.Encrypt = true
	f.accepted(f.post(f.build(s, nil), ""))
	if !strings.Contains(f.logs.String(), "encrypted=true") {
		t.Fatalf("logs: %s", f.logs)
	}
}

func TestOnlyAssertionSignedAccepted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec()
	s.SignResponse = false
	f.accepted(f.post(f.build(s, nil), ""))
}

func TestOnlyResponseSignedAccepted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec()
	s.SignAssertion = false
	f.accepted(f.post(f.build(s, nil), ""))
}

func TestUserIDFromNameID(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.UserIDFrom = FromNameID })
	s := f.spec()
	s.NameID = "carol@example.test"
	c := f.accepted(f.post(f.build(s, nil), ""))
	if sess, _ := f.sp.store.session(c.Value, f.now); sess.UserID != "carol@example.test" {
		t.Fatalf("user %q", sess.UserID)
	}
}

func TestUnmappedUserNotAuthorized(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec()
	s.Attrs = [][2]string{{uidOID, "mallory"}, {ouOID, "sales"}}
	w := f.post(f.build(s, nil), "")
	f.refused(w, "match neither the admin values")
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), `id="not-authorized"`) || !strings.Contains(w.Body.String(), "mallory") {
		t.Fatalf("not the not-authorized page: %d %s", w.Code, w.Body)
	}
}

func TestClockSkewConfigurable(t *testing.T) {
	t.Parallel()
	// NotBefore 2 minutes ahead: accepted with the default 3 minute skew,
	// refused with 1 minute.
	for _, tc := range []struct {
		skew time.Duration
		ok   bool
	}{{0, true}, {time.Minute, false}} {
		f := newFixture(t, func(c *Config) { c.ClockSkew = tc.skew })
		s := f.spec()
		s.NotBefore = f.now.Add(2 * time.Minute)
		w := f.post(f.build(s, nil), "")
		if tc.ok {
			f.accepted(w)
		} else {
			f.refused(w, "not valid before")
		}
	}
}

func TestMetadataEndpoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.EntityID = "cm-prod"; c.BaseURL = "https://cm1.example.test:7183/" })
	w := f.get(PathMetadata)
	body := w.Body.String()
	for _, want := range []string{
		`entityID="cm-prod"`, `AuthnRequestsSigned="true"`, `use="signing"`, `use="encryption"`,
		`Location="https://cm1.example.test:7183/saml/SSO"`, `Location="https://cm1.example.test:7183/saml/SingleLogout"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metadata lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "validUntil") {
		t.Error("metadata has validUntil")
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/samlmetadata+xml" {
		t.Errorf("content type %q", ct)
	}
}

func TestHomeWithoutSessionRedirectsToLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.get("/")
	if w.Code != http.StatusFound || w.Header().Get("Location") != PathLogin {
		t.Fatalf("%d %s", w.Code, w.Header().Get("Location"))
	}
}
