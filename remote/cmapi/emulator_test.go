package cmapi_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/daemon/cmserver"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/remote/cmapi/cmapitest"
)

// emulator runs the embedded CM server of the given profile on 127.0.0.1,
// its handler wrapped by CM's v45 definition.
func emulator(t *testing.T, version string, mod func(*cmserver.Config)) (string, *cmserver.Server) {
	t.Helper()
	p, err := cmserver.LookupProfile(version)
	if err != nil {
		t.Fatal(err)
	}
	cfg := cmserver.Config{AdminUser: "admin", AdminPassword: []byte("admin-pw"), Profile: p, CommandDuration: 150 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := cmserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hl, _ := net.Listen("tcp", "127.0.0.1:0")
	al, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error, 1)
	go func() { done <- srv.Serve(cmserver.Listeners{HTTP: hl, Agent: al}) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return "http://" + hl.Addr().String(), srv
}

// TestClientAgainstEmulator: every client method against the 7.5.3
// profile, each exchange judged by CM's definition on the client side.
func TestClientAgainstEmulator(t *testing.T) {
	url, srv := emulator(t, "7.5.3", nil)
	chk := cmapitest.New(t)
	c, err := cmapi.New(url, "admin", []byte("admin-pw"), cmapi.WithTransport(chk.Transport), cmapi.WithPollInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if v, err := c.APIVersion(ctx); err != nil || v != "v45" {
		t.Fatalf("version %q %v", v, err)
	}
	if err := c.SetConfig(ctx, map[string]string{"AGENT_TLS": "true", "WEB_TLS": ""}); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartManagementService(ctx); err != nil || srv.Restarts() != 1 {
		t.Fatalf("restart: %v", err)
	}
	if _, err := c.Hosts(ctx); err != nil {
		t.Fatal(err)
	}
	ms, err := c.CreateExternalUserMappings(ctx, []cmapi.ExternalUserMapping{{Name: "cm-admins", Type: cmapi.MappingSAMLAttribute, AuthRoles: []cmapi.AuthRoleRef{{Name: "ROLE_ADMIN"}}}})
	if err != nil || len(ms) != 1 {
		t.Fatalf("create: %v %v", ms, err)
	}
	ms[0].AuthRoles = []cmapi.AuthRoleRef{{Name: "ROLE_USER"}}
	if err := c.UpdateExternalUserMapping(ctx, ms[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteExternalUserMapping(ctx, ms[0].UUID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AuthRoles(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sessions(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.HasManagementService(ctx); !ok || err != nil {
		t.Fatalf("management service: %v %v", ok, err)
	}
	// The Management Service truststore after console TLS.
	if err := c.SetServiceConfig(ctx, map[string]string{"ssl_client_truststore_location": "/etc/cm/truststore.jks", "ssl_client_truststore_password": "s3cret"}); err != nil {
		t.Fatal(err)
	}
	sc, err := c.ServiceConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if it, ok := cmapi.FindByName(sc, "ssl_client_truststore_location"); !ok || it.Value != "/etc/cm/truststore.jks" || it.DisplayName == "" {
		t.Errorf("truststore location = %+v", it)
	}
	if it, _ := cmapi.FindByName(sc, "ssl_client_truststore_password"); it.Value != "REDACTED" || !it.Sensitive {
		t.Errorf("truststore password read back as %+v", it)
	}
	if srv.ServiceConfig()["ssl_client_truststore_password"] != "s3cret" {
		t.Errorf("server kept %v", srv.ServiceConfig())
	}
	if err := c.SetServiceConfig(ctx, map[string]string{"no_such_setting": "1"}); err == nil {
		t.Error("an unknown Management Service setting was accepted")
	}
	if chk.Exchanges() < 12 || len(chk.Violations()) != 0 {
		t.Errorf("checker: %d exchanges, violations:\n%s", chk.Exchanges(), cmapitest.String(chk.Violations()))
	}
}

// TestNoManagementService: the restart is a 404 the caller can tell apart.
func TestNoManagementService(t *testing.T) {
	url, _ := emulator(t, "7.5.3", func(c *cmserver.Config) { c.NoManagementService = true })
	c, _ := cmapi.New(url, "admin", []byte("admin-pw"), cmapi.WithTransport(cmapitest.New(t).Transport))
	err := c.RestartManagementService(context.Background())
	var ae *cmapi.APIError
	if !cmapi.IsNotFound(err) || !errors.As(err, &ae) || !strings.Contains(ae.Hint(), "no Cloudera Management Service") {
		t.Fatalf("restart without a Management Service: %v", err)
	}
	if ok, err := c.HasManagementService(context.Background()); ok || err != nil {
		t.Fatalf("HasManagementService = %v, %v", ok, err)
	}
	if _, err := c.ServiceConfig(context.Background()); !cmapi.IsNotFound(err) {
		t.Fatalf("ServiceConfig without a Management Service: %v", err)
	}
}

// TestCM5Profile: the older release answers v18 and the client follows.
func TestCM5Profile(t *testing.T) {
	url, _ := emulator(t, "5.13.0", nil)
	c, _ := cmapi.New(url, "admin", []byte("admin-pw"), cmapi.WithPollInterval(50*time.Millisecond))
	ctx := context.Background()
	if v, err := c.APIVersion(ctx); err != nil || v != "v18" {
		t.Fatalf("version %q %v", v, err)
	}
	if err := c.SetConfig(ctx, map[string]string{"SAML_ROLE_VALUES_ADMIN": "cm-admins"}); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartManagementService(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExternalUserMappings(ctx); !cmapi.IsNotFound(err) {
		t.Fatalf("CM 5 has no external user mappings: %v", err)
	}
}

// TestTLSConsoleURL: the TLS port is the one the redirect names, not 7183.
func TestTLSConsoleURL(t *testing.T) {
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://cm1.example.com:8443"+r.URL.RequestURI(), http.StatusFound)
	}))
	t.Cleanup(redir.Close)
	c, _ := cmapi.New(redir.URL, "admin", nil)
	if u, err := c.TLSConsoleURL(context.Background()); err != nil || u != "https://cm1.example.com:8443" {
		t.Fatalf("TLSConsoleURL = %q, %v", u, err)
	}
	plain, _ := emulator(t, "7.5.3", nil)
	c, _ = cmapi.New(plain, "admin", nil)
	if u, err := c.TLSConsoleURL(context.Background()); err != nil || u != "" {
		t.Fatalf("plain console: %q, %v", u, err)
	}
	c, _ = cmapi.New("https://cm1:7443/api", "admin", nil)
	if u, err := c.TLSConsoleURL(context.Background()); err != nil || !strings.HasPrefix(u, "https://cm1:7443") {
		t.Fatalf("https base: %q, %v", u, err)
	}
}
