package samlsp_test

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/daemon/cmserver"
	"github.com/cmtls/cmtls/daemon/idp"
	"github.com/cmtls/cmtls/daemon/samlsp"
	"github.com/cmtls/cmtls/daemon/samlsp/browser"
	"github.com/cmtls/cmtls/pki/pkitest"
)

// The setting names samlsp reads are the embedded server's.
func TestSettingNamesMatchCMServer(t *testing.T) {
	t.Parallel()
	pairs := [][2]string{
		{samlsp.SettingExternalAuthType, cmserver.ExternalAuthType},
		{samlsp.SettingIdPMetadataPath, cmserver.SAMLIdPMetadataPath},
		{samlsp.SettingKeystorePath, cmserver.SAMLKeystorePath},
		{samlsp.SettingKeystorePassword, cmserver.SAMLKeystorePassword},
		{samlsp.SettingKeyAlias, cmserver.SAMLKeyAlias},
		{samlsp.SettingKeyPassword, cmserver.SAMLKeyPassword},
		{samlsp.SettingEntityID, cmserver.SAMLEntityID},
		{samlsp.SettingEntityBaseURL, cmserver.SAMLEntityBaseURL},
		{samlsp.SettingUserIDSource, cmserver.SAMLUserIDSource},
		{samlsp.SettingUserIDAttribute, cmserver.SAMLUserIDAttribute},
		{samlsp.SettingRoleMechanism, cmserver.SAMLRoleMechanism},
		{samlsp.SettingRoleAttribute, cmserver.SAMLRoleAttribute},
		{samlsp.SettingRoleAdminValues, cmserver.SAMLRoleAdminValues},
		{samlsp.SettingRoleUserValues, cmserver.SAMLRoleUserValues},
		{samlsp.SettingScriptPath, cmserver.SAMLScriptPath},
	}
	for _, p := range pairs {
		if p[0] != p[1] {
			t.Errorf("samlsp reads %q, cmserver stores %q", p[0], p[1])
		}
	}
}

func listenT(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type cmEnv struct {
	idp      *idp.Server
	idpURL   string
	cmURL    string
	settings cmserver.Settings
	log      *lockedBuf
	dir      string
}

// cmSettings writes the IdP metadata and a JKS keystore and returns SAML
// settings pointing at them.
func newCMEnv(t *testing.T) *cmEnv { return newCMEnvKey(t, false) }

func newCMEnvKey(t *testing.T, rsaKey bool) *cmEnv {
	t.Helper()
	e := &cmEnv{log: &lockedBuf{}, dir: t.TempDir()}
	il := listenT(t)
	e.idpURL = "http://" + il.Addr().String()
	var err error
	e.idp, err = idp.New(idp.Config{BaseURL: e.idpURL, Users: []idp.User{
		{Name: "alice", Password: "alicepass", OU: []string{"cm-admins"}},
		{Name: "bob", Password: "bobpass", OU: []string{"cm-users"}},
		{Name: "mallory", Password: "mallorypass", OU: []string{"sales"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.idp.Serve(il) }()
	t.Cleanup(func() { _ = e.idp.Shutdown(context.Background()) })
	md, _ := e.idp.Metadata()
	mdPath := filepath.Join(e.dir, "idp-metadata.xml")
	ksPath := filepath.Join(e.dir, "saml.jks")
	if err := os.WriteFile(mdPath, md, 0o644); err != nil {
		t.Fatal(err)
	}
	ks := pkitest.SelfSignedKeystore(t, "jks", "samlkey", "cm saml", nil, []byte("changeit"))
	if rsaKey {
		ca := pkitest.NewCA(t, "test ca")
		key := pkitest.RSAKey(t)
		cert := ca.LeafForKey(t, key.Public(), "cm saml", nil, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		ks = pkitest.Keystore(t, "jks", "samlkey", key, []*x509.Certificate{cert, ca.Cert}, []byte("changeit"))
	}
	if err := os.WriteFile(ksPath, ks, 0o600); err != nil {
		t.Fatal(err)
	}
	e.settings = cmserver.Settings{
		cmserver.ExternalAuthType:     "SAML",
		cmserver.SAMLIdPMetadataPath:  mdPath,
		cmserver.SAMLKeystorePath:     ksPath,
		cmserver.SAMLKeystorePassword: "changeit",
		cmserver.SAMLKeyAlias:         "samlkey",
		cmserver.SAMLKeyPassword:      "changeit",
		cmserver.SAMLRoleAttribute:    "urn:oid:2.5.4.11",
		cmserver.SAMLRoleAdminValues:  "cm-admins",
		cmserver.SAMLRoleUserValues:   "cm-users, cm-operators",
	}
	return e
}

func samlFactory(s cmserver.Settings, baseURL string, l *slog.Logger) (http.Handler, error) {
	return samlsp.NewFromSettings(s, baseURL, l)
}

func (e *cmEnv) startCM(t *testing.T) {
	t.Helper()
	hl, al := listenT(t), listenT(t)
	e.cmURL = "http://" + hl.Addr().String()
	e.settings[cmserver.SAMLEntityBaseURL] = e.cmURL
	srv, err := cmserver.New(cmserver.Config{
		AdminUser: "admin", AdminPassword: []byte("admin-Pw1"), Settings: e.settings,
		Log: e.log, SAML: samlFactory,
	})
	if err != nil {
		t.Fatalf("cmserver.New: %v\n%s", err, e.log)
	}
	go func() { _ = srv.Serve(cmserver.Listeners{HTTP: hl, Agent: al}) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	resp, err := http.Get(e.cmURL + samlsp.PathMetadata)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := new(strings.Builder)
	_, _ = ioCopy(b, resp)
	if _, err := e.idp.RegisterSP([]byte(b.String())); err != nil {
		t.Fatalf("register CM's metadata: %v\n%s", err, b)
	}
}

// Seed "Verifying": the embedded CM server, configured only through its
// SAML settings, sends the browser to the IdP; an admin and a regular user
// land on the CM home page with their role, an unmapped user on the
// not-authorized page.
func TestCMServerSAMLLogin(t *testing.T) {
	t.Parallel()
	for _, rsaKey := range []bool{false, true} {
		t.Run(map[bool]string{false: "ec key", true: "rsa key, encrypted assertions"}[rsaKey], func(t *testing.T) {
			t.Parallel()
			testCMServerSAMLLogin(t, rsaKey)
		})
	}
}

func testCMServerSAMLLogin(t *testing.T, rsaKey bool) {
	e := newCMEnvKey(t, rsaKey)
	e.startCM(t)
	ctx := context.Background()
	for _, tc := range []struct{ user, pass, want string }{
		{"alice", "alicepass", "Logged in as alice (ADMIN)"},
		{"bob", "bobpass", "Logged in as bob (USER)"},
		{"mallory", "mallorypass", ""},
	} {
		b := browser.NewBrowser(nil)
		p, err := b.Get(ctx, e.cmURL+"/cmf/home")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.URL.String(), e.idpURL) {
			t.Fatalf("CM home did not redirect to the IdP: %s\n%s", p.URL, strings.Join(b.Trace, "\n"))
		}
		if p, err = b.Login(ctx, p, tc.user, tc.pass); err != nil {
			t.Fatal(err)
		}
		if tc.want == "" {
			if p.Status != http.StatusForbidden || !strings.Contains(p.Body, `id="not-authorized"`) {
				t.Fatalf("mallory: %d %s", p.Status, p.Body)
			}
			continue
		}
		if p.Status != http.StatusOK || !strings.Contains(p.Body, tc.want) {
			t.Fatalf("%s: %d %s\ntrace: %s\nlog: %s", tc.user, p.Status, p.Body, strings.Join(b.Trace, "\n"), e.log)
		}
	}
	if enc := strings.Contains(e.log.String(), "encrypted=true"); enc != rsaKey {
		t.Errorf("encrypted assertions: %v, want %v (log: %s)", enc, rsaKey, e.log)
	}
}

// Seed step 13: wrong settings are refused with the setting named.
func TestConfigFromSettingsValidation(t *testing.T) {
	t.Parallel()
	e := newCMEnv(t)
	base := "http://cm.example.test:7180"
	if _, err := samlsp.NewFromSettings(e.settings, base, nil); err != nil {
		t.Fatalf("good settings refused: %v", err)
	}
	script := filepath.Join(e.dir, "role.sh")
	_ = os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o644)
	garbage := filepath.Join(e.dir, "garbage.xml")
	_ = os.WriteFile(garbage, []byte("<html/>"), 0o644)
	cases := []struct {
		key, value, setting string
	}{
		{cmserver.SAMLIdPMetadataPath, filepath.Join(e.dir, "missing.xml"), "Path to SAML IDP Metadata File"},
		{cmserver.SAMLIdPMetadataPath, garbage, "Path to SAML IDP Metadata File"},
		{cmserver.SAMLKeystorePath, filepath.Join(e.dir, "missing.jks"), "Path to SAML Keystore File"},
		{cmserver.SAMLKeystorePassword, "wrongpass", "SAML Keystore Password"},
		{cmserver.SAMLKeyAlias, "nokey", "Alias of SAML Sign/Encrypt Private Key"},
		{cmserver.SAMLKeyPassword, "wrongpass", "SAML Sign/Encrypt Private Key Password"},
		{cmserver.SAMLRoleMechanism, "SCRIPT", "Path to SAML Script"},
	}
	for _, tc := range cases {
		s := e.settings.Clone()
		s[tc.key] = tc.value
		if tc.key == cmserver.SAMLRoleMechanism {
			s[cmserver.SAMLScriptPath] = script // not executable
		}
		_, err := samlsp.NewFromSettings(s, base, nil)
		var se *samlsp.SettingsError
		if !errors.As(err, &se) || se.Setting != tc.setting || !se.BadInput() || se.Hint() == "" {
			t.Errorf("%s=%q: got %v, want a SettingsError for %q with a hint", tc.key, tc.value, err, tc.setting)
		}
	}
}
