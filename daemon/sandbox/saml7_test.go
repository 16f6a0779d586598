package sandbox

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/daemon/cmserver"
	"github.com/cmtls/cmtls/remote/browser"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/remote/cmapi/cmapitest"
)

// TestSAMLRolesByMappingsOnCM7: on the 7.5.3 profile the real SP process
// takes SAML roles from /externalUserMappings (live, without a restart),
// and CM's API says who logged in with which role. Every API exchange is
// judged by CM's v45 definition.
func TestSAMLRolesByMappingsOnCM7(t *testing.T) {
	exe := cmtlsBinary(t)
	dir := t.TempDir()
	m, err := Up(context.Background(), Options{Dir: dir, Agents: 1, Exe: exe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Down(dir) })
	l := NewLayout(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := "http://localhost:" + strconv.Itoa(m.Ports["http"])
	pw, _ := os.ReadFile(l.AdminPassword)
	c, err := cmapi.New(base, adminUser, []byte(strings.TrimSpace(string(pw))),
		cmapi.WithTransport(cmapitest.New(t).Transport), cmapi.WithPollInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ksPass, _ := os.ReadFile(l.SAMLKeystorePassword())
	if err := c.SetConfig(ctx, map[string]string{
		cmserver.ExternalAuthType: "SAML", cmserver.SAMLIdPMetadataPath: l.IdPMetadata(),
		cmserver.SAMLKeystorePath: l.SAMLKeystore(), cmserver.SAMLKeystorePassword: strings.TrimSpace(string(ksPass)),
		cmserver.SAMLKeyAlias: SAMLAlias, cmserver.SAMLKeyPassword: strings.TrimSpace(string(ksPass)),
		cmserver.SAMLRoleAttribute: RoleAttribute,
	}); err != nil {
		t.Fatal(err)
	}
	ms, err := c.CreateExternalUserMappings(ctx, []cmapi.ExternalUserMapping{
		{Name: AdminOU, Type: cmapi.MappingSAMLAttribute, AuthRoles: []cmapi.AuthRoleRef{{Name: "ROLE_ADMIN"}}},
		{Name: UserOU, Type: cmapi.MappingSAMLAttribute, AuthRoles: []cmapi.AuthRoleRef{{Name: "ROLE_USER"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// SAML settings take effect on restart; the mappings survive it.
	if out, err := exec.CommandContext(ctx, l.Bin, "daemon", "server", "restart", "--config", l.ServerConfig).CombinedOutput(); err != nil {
		t.Fatalf("server restart: %v\n%s", err, out)
	}
	waitAPI(ctx, t, c)
	// The IdP loads CM's SP metadata from the console at the first login.

	for _, u := range IdPUsers {
		login(ctx, t, base, l, u.Name, map[string]string{"admin": "(ADMIN)", "user": "(USER)", "unauthorized": `id="not-authorized"`}[u.Expect])
	}
	for name, role := range map[string]string{"alice": "ROLE_ADMIN", "bob": "ROLE_USER"} {
		if u, err := c.User(ctx, name); err != nil || len(u.AuthRoles) != 1 || u.AuthRoles[0].Name != role {
			t.Errorf("user %s = %+v, %v; want %s", name, u, err, role)
		}
	}
	if _, err := c.User(ctx, "mallory"); !cmapi.IsNotFound(err) {
		t.Errorf("mallory, not mapped, is a CM user: %v", err)
	}
	sessions, err := c.Sessions(ctx)
	names := map[string]bool{}
	for _, s := range sessions {
		names[s.Name] = true
	}
	if err != nil || !names["alice"] || !names["bob"] || names["mallory"] {
		t.Errorf("sessions = %+v, %v", sessions, err)
	}
	// A mapping change takes effect at the next login, without a restart:
	// cm-users now maps to Full Administrator.
	ms[1].AuthRoles = []cmapi.AuthRoleRef{{Name: "ROLE_ADMIN"}}
	if err := c.UpdateExternalUserMapping(ctx, ms[1]); err != nil {
		t.Fatal(err)
	}
	login(ctx, t, base, l, "bob", "(ADMIN)")
}

// waitAPI polls the API until the restarted server answers (bounded).
func waitAPI(ctx context.Context, t *testing.T, c *cmapi.Client) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.CMVersion(ctx)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("API not back after the restart: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// login signs user in through the IdP with a fresh browser and checks the
// console page it lands on.
func login(ctx context.Context, t *testing.T, base string, l Layout, user, want string) {
	t.Helper()
	pw, err := os.ReadFile(l.IdPPassword(user))
	if err != nil {
		t.Fatal(err)
	}
	b := browser.NewBrowser(http.DefaultTransport.(*http.Transport).Clone())
	p, err := b.Get(ctx, base+"/cmf/home")
	if err == nil {
		p, err = b.Login(ctx, p, user, strings.TrimSpace(string(pw)))
	}
	if err != nil {
		t.Fatalf("%s's login: %v\n%s", user, err, b.Trace)
	}
	if !strings.Contains(p.Body, want) {
		t.Fatalf("%s's login: want %q in\n%s", user, want, p.Body)
	}
}
