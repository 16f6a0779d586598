package saml

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
)

// cm7 is a CM 6/7 as its API v45 definition describes it: settings
// without the role-value settings of CM 5, and external user mappings
// with server-assigned uuids.
type cm7 struct {
	mu       sync.Mutex
	config   []cmapi.ConfigItem
	mappings []ExternalUserMapping
	next     int
	calls    []string
}

var cm7Roles = map[string]string{RoleAdmin: "Full Administrator", RoleUser: "Read-Only"}

func newCM7(existing ...ExternalUserMapping) *cm7 {
	c := &cm7{}
	for _, d := range []string{"External Authentication Type", "Path to SAML IDP Metadata File", "Path to SAML Keystore File",
		"SAML Keystore Password", "Alias of SAML Sign/Encrypt Private Key", "SAML Sign/Encrypt Private Key Password",
		"SAML Entity ID", "SAML Entity Base URL", "SAML Response Binding", "Source of User ID in SAML Response",
		"SAML Attribute Identifier for User ID", "SAML Role Assignment Mechanism", "SAML Attribute Identifier for User Role", "Path to SAML Script"} {
		c.config = append(c.config, cmapi.ConfigItem{Name: strings.ToLower(strings.ReplaceAll(d, " ", "_")), DisplayName: d, Sensitive: strings.Contains(d, "Password")})
	}
	for _, m := range existing {
		c.mappings = append(c.mappings, c.stored(m))
	}
	return c
}

// stored is m as CM keeps it: a uuid, roles with display names.
func (c *cm7) stored(m ExternalUserMapping) ExternalUserMapping {
	c.next++
	m.UUID = fmt.Sprintf("uuid-%d", c.next)
	m.AuthRoles = slices.Clone(m.AuthRoles)
	for i, r := range m.AuthRoles {
		m.AuthRoles[i] = AuthRoleRef{Name: r.Name, DisplayName: cm7Roles[r.Name], UUID: "role-" + r.Name}
	}
	return m
}

func (c *cm7) Config(context.Context) ([]cmapi.ConfigItem, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.config), nil
}

func (c *cm7) SetConfig(_ context.Context, items map[string]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n, v := range items {
		i := slices.IndexFunc(c.config, func(it cmapi.ConfigItem) bool { return it.Name == n })
		if i < 0 {
			return &cmapi.APIError{Status: http.StatusBadRequest, Message: "Unknown configuration attribute: " + n}
		}
		c.config[i].Value = v
	}
	return nil
}

func (c *cm7) ExternalUserMappings(context.Context) ([]ExternalUserMapping, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.mappings), nil
}

func (c *cm7) CreateExternalUserMappings(_ context.Context, ms []ExternalUserMapping) ([]ExternalUserMapping, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []ExternalUserMapping
	for _, m := range ms {
		if m.UUID != "" || (m.Type != MappingSAMLAttribute && m.Type != MappingSAMLScript) {
			return nil, &cmapi.APIError{Status: http.StatusBadRequest, Message: "bad mapping"}
		}
		if _, dup := findMapping(c.mappings, m.Type, m.Name); dup {
			return nil, &cmapi.APIError{Status: http.StatusBadRequest, Message: "duplicate mapping"}
		}
		m = c.stored(m)
		c.mappings = append(c.mappings, m)
		c.calls = append(c.calls, "POST "+m.Name)
		out = append(out, m)
	}
	return out, nil
}

func (c *cm7) UpdateExternalUserMapping(_ context.Context, m ExternalUserMapping) error {
	uuid := m.UUID
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.IndexFunc(c.mappings, func(x ExternalUserMapping) bool { return x.UUID == uuid })
	if i < 0 {
		return &cmapi.APIError{Status: http.StatusNotFound}
	}
	s := c.stored(m)
	c.next--
	s.UUID = uuid
	c.mappings[i] = s
	c.calls = append(c.calls, "PUT "+m.Name)
	return nil
}

func (c *cm7) DeleteExternalUserMapping(_ context.Context, uuid string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.IndexFunc(c.mappings, func(x ExternalUserMapping) bool { return x.UUID == uuid })
	if i < 0 {
		return &cmapi.APIError{Status: http.StatusNotFound}
	}
	c.calls = append(c.calls, "DELETE "+c.mappings[i].Name)
	c.mappings = slices.Delete(c.mappings, i, i+1)
	return nil
}

func (c *cm7) User(context.Context, string) (User, error) {
	return User{}, &cmapi.APIError{Status: http.StatusNotFound}
}
func (c *cm7) Sessions(context.Context) ([]Session, error) { return nil, nil }

func (c *cm7) roles(typ, name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := findMapping(c.mappings, typ, name)
	if !ok {
		return "(none)"
	}
	return strings.Join(roleNames(m.AuthRoles), ",")
}

func cm7Answers(t *testing.T, role *answers.Role) (*answers.File, *steps.Env) {
	dir := t.TempDir()
	f := &answers.File{Version: 1, Dir: dir,
		Server: &answers.Server{Host: "localhost", API: &answers.API{URL: "http://127.0.0.1:1", User: "admin"}},
		SAML:   &answers.SAML{IdPMetadata: "idp.xml", Keystore: &answers.SAMLKeystore{Path: "saml.jks", Alias: "k"}, Role: role}}
	return f, &steps.Env{Answers: f}
}

// On a CM with external user mappings, roles are mapped with them:
// missing ones created, a wrong one corrected, others left alone; a
// second plan is empty; the role-value settings of CM 5 are not asked
// for; rollback removes what was created and gives the corrected mapping
// its roles back.
func TestCM7RolesByAttribute(t *testing.T) {
	ctx := context.Background()
	cm := newCM7(
		ExternalUserMapping{Name: "staff", Type: MappingSAMLAttribute, AuthRoles: []AuthRoleRef{{Name: RoleAdmin}}},
		ExternalUserMapping{Name: "cn=ops", Type: "LDAP", AuthRoles: []AuthRoleRef{{Name: RoleAdmin}}},
	)
	f, env := cm7Answers(t, &answers.Role{From: "attribute", AdminValues: []string{"cm-admins"}, UserValues: []string{"cm-users", "staff"}})
	p := New(Deps{API: cm})
	if _, err := p.planSettings(ctx, env); err != nil {
		t.Fatalf("settings plan on CM 7: %v", err)
	}
	ch, err := p.planRoles(ctx, env)
	if err != nil || p.Result.RoleModel != ModelMappings || len(ch.Items) != 3 {
		t.Fatalf("plan: %+v %v model %q", ch, err, p.Result.RoleModel)
	}
	if err := p.applyRoles(ctx, env); err != nil {
		t.Fatal(err)
	}
	if err := p.verifyRoles(ctx, env); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, want string }{{"cm-admins", RoleAdmin}, {"cm-users", RoleUser}, {"staff", RoleUser}} {
		if got := cm.roles(MappingSAMLAttribute, c.name); got != c.want {
			t.Errorf("mapping %s = %s, want %s", c.name, got, c.want)
		}
	}
	if got := cm.roles("LDAP", "cn=ops"); got != RoleAdmin {
		t.Errorf("the LDAP mapping was touched: %s", got)
	}
	// idempotent
	p2 := New(Deps{API: cm})
	if ch, err := p2.planRoles(ctx, env); err != nil || !ch.Empty() {
		t.Fatalf("second plan: %+v %v", ch, err)
	}
	// the record names what was done, and rollback undoes it
	b, err := os.ReadFile(filepath.Join(f.Dir, "cmtls-saml-state.json"))
	if err != nil || !strings.Contains(string(b), `"oldRoles"`) {
		t.Fatalf("record: %v %s", err, b)
	}
	u := New(Deps{API: cm})
	ch, err = u.planUndo(ctx, env)
	if err != nil || len(ch.Items) != 3 {
		t.Fatalf("undo plan: %+v %v", ch, err)
	}
	if err := u.applyUndo(ctx, env); err != nil {
		t.Fatal(err)
	}
	if err := u.verifyUndo(ctx, env); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ typ, name, want string }{
		{MappingSAMLAttribute, "cm-admins", "(none)"}, {MappingSAMLAttribute, "cm-users", "(none)"},
		{MappingSAMLAttribute, "staff", RoleAdmin}, {"LDAP", "cn=ops", RoleAdmin}} {
		if got := cm.roles(c.typ, c.name); got != c.want {
			t.Errorf("after rollback %s %s = %s, want %s", c.typ, c.name, got, c.want)
		}
	}
}

// With a role script, CM 6/7 map its exit codes: 0 admin, 1 user.
func TestCM7RolesByScript(t *testing.T) {
	ctx := context.Background()
	cm := newCM7()
	_, env := cm7Answers(t, &answers.Role{From: "script", Script: "/usr/local/bin/cm-role"})
	p := New(Deps{API: cm})
	if _, err := p.planRoles(ctx, env); err != nil {
		t.Fatal(err)
	}
	if err := p.applyRoles(ctx, env); err != nil {
		t.Fatal(err)
	}
	if a, u := cm.roles(MappingSAMLScript, "0"), cm.roles(MappingSAMLScript, "1"); a != RoleAdmin || u != RoleUser {
		t.Fatalf("script mappings: 0=%s 1=%s", a, u)
	}
}

// On a CM without external user mappings (404) the roles are the CM 5
// settings, and a CM that has neither says which setting is missing.
func TestCM5ModelNeedsRoleSettings(t *testing.T) {
	ctx := context.Background()
	cm := &cm5{cm7: newCM7()}
	_, env := cm7Answers(t, &answers.Role{From: "attribute", AdminValues: []string{"a"}})
	p := New(Deps{API: cm})
	_, err := p.planSettings(ctx, env)
	if p.Result.RoleModel != ModelSettings || err == nil || !strings.Contains(err.Error(), "SAML Attribute Values for ROLE_ADMIN") {
		t.Fatalf("model %q, err %v", p.Result.RoleModel, err)
	}
}

type cm5 struct{ *cm7 }

func (c *cm5) ExternalUserMappings(context.Context) ([]ExternalUserMapping, error) {
	return nil, &cmapi.APIError{Status: http.StatusNotFound, Method: "GET", Path: "/externalUserMappings"}
}
