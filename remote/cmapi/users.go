package cmapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// AuthRoleRef is CM's ApiAuthRoleRef; Name (ROLE_ADMIN, ROLE_USER, ...)
// takes precedence over UUID when CM looks a role up.
type AuthRoleRef struct {
	DisplayName string `json:"displayName,omitempty"`
	Name        string `json:"name,omitempty"`
	UUID        string `json:"uuid,omitempty"`
}

// AuthRole is one role of GET /authRoles.
type AuthRole struct {
	DisplayName string `json:"displayName"`
	Name        string `json:"name"`
	UUID        string `json:"uuid"`
}

// Mapping types of ApiExternalUserMappingType the SAML procedure uses: for
// SAML_ATTRIBUTE the name is a value of the role attribute, for
// SAML_SCRIPT an exit code of the role script.
const (
	MappingSAMLAttribute = "SAML_ATTRIBUTE"
	MappingSAMLScript    = "SAML_SCRIPT"
)

// ExternalUserMapping is CM's ApiExternalUserMapping (API v19 and later).
type ExternalUserMapping struct {
	Name      string        `json:"name"`
	Type      string        `json:"type"`
	UUID      string        `json:"uuid,omitempty"`
	AuthRoles []AuthRoleRef `json:"authRoles"`
}

// User is CM's ApiUser2, the parts a login check reads.
type User struct {
	Name      string        `json:"name"`
	AuthRoles []AuthRoleRef `json:"authRoles"`
}

// Session is one interactive session of GET /users/sessions.
type Session struct {
	Name        string    `json:"name"`
	RemoteAddr  string    `json:"remoteAddr"`
	LastRequest time.Time `json:"lastRequest"`
}

// AuthRoles lists CM's roles (GET /api/vN/authRoles).
func (c *Client) AuthRoles(ctx context.Context) ([]AuthRole, error) {
	var r struct {
		Items []AuthRole `json:"items"`
	}
	err := c.getJSON(ctx, "/authRoles", nil, &r)
	return r.Items, err
}

// ExternalUserMappings lists the external user mappings.
func (c *Client) ExternalUserMappings(ctx context.Context) ([]ExternalUserMapping, error) {
	var r struct {
		Items []ExternalUserMapping `json:"items"`
	}
	err := c.getJSON(ctx, "/externalUserMappings", nil, &r)
	return r.Items, err
}

// ExternalUserMapping reads one mapping by UUID.
func (c *Client) ExternalUserMapping(ctx context.Context, uuid string) (ExternalUserMapping, error) {
	var m ExternalUserMapping
	err := c.getJSON(ctx, "/externalUserMappings/"+url.PathEscape(uuid), nil, &m)
	return m, err
}

// CreateExternalUserMappings creates mappings (POST, 201) and returns them
// as CM stored them, with their UUIDs. CM refuses a name and type that
// exist already: look first (ExternalUserMappings) to stay idempotent.
func (c *Client) CreateExternalUserMappings(ctx context.Context, ms []ExternalUserMapping) ([]ExternalUserMapping, error) {
	in := make([]ExternalUserMapping, len(ms))
	for i, m := range ms {
		m.UUID = "" // read-only in CM's definition
		if m.AuthRoles == nil {
			m.AuthRoles = []AuthRoleRef{}
		}
		in[i] = m
	}
	b, err := c.sendJSON(ctx, http.MethodPost, "/externalUserMappings", map[string]any{"items": in})
	if err != nil {
		return nil, err
	}
	var r struct {
		Items []ExternalUserMapping `json:"items"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("cm api externalUserMappings: bad JSON: %w", err)
	}
	return r.Items, nil
}

// UpdateExternalUserMapping replaces the mapping m.UUID names (PUT, 204).
func (c *Client) UpdateExternalUserMapping(ctx context.Context, m ExternalUserMapping) error {
	if m.UUID == "" {
		return fmt.Errorf("cm api: update of external user mapping %q without a uuid", m.Name)
	}
	uuid := m.UUID
	m.UUID = ""
	if m.AuthRoles == nil {
		m.AuthRoles = []AuthRoleRef{}
	}
	_, err := c.sendJSON(ctx, http.MethodPut, "/externalUserMappings/"+url.PathEscape(uuid), m)
	return err
}

// DeleteExternalUserMapping removes a mapping (DELETE, 204).
func (c *Client) DeleteExternalUserMapping(ctx context.Context, uuid string) error {
	v, err := c.APIVersion(ctx)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodDelete, "/api/"+v+"/externalUserMappings/"+url.PathEscape(uuid), nil)
	return err
}

// User reads a user (GET /api/vN/users/{name}): after a SAML login, CM
// has the user with the roles its mappings gave.
func (c *Client) User(ctx context.Context, name string) (User, error) {
	var u User
	err := c.getJSON(ctx, "/users/"+url.PathEscape(name), nil, &u)
	return u, err
}

// Sessions lists the interactive sessions (GET /api/vN/users/sessions).
func (c *Client) Sessions(ctx context.Context) ([]Session, error) {
	var r struct {
		Items []struct {
			Name        string `json:"name"`
			RemoteAddr  string `json:"remoteAddr"`
			LastRequest string `json:"lastRequest"`
		} `json:"items"`
	}
	if err := c.getJSON(ctx, "/users/sessions", nil, &r); err != nil {
		return nil, err
	}
	out := make([]Session, 0, len(r.Items))
	for _, it := range r.Items {
		s := Session{Name: it.Name, RemoteAddr: it.RemoteAddr}
		if it.LastRequest != "" {
			t, err := time.Parse(time.RFC3339Nano, it.LastRequest)
			if err != nil {
				return nil, fmt.Errorf("cm api users/sessions: lastRequest %q: %w", truncate(it.LastRequest, 64), err)
			}
			s.LastRequest = t
		}
		out = append(out, s)
	}
	return out, nil
}

// HasManagementService reports whether the cluster has the Cloudera
// Management Service (GET /api/vN/cm/service; 404 when it has none).
func (c *Client) HasManagementService(ctx context.Context) (bool, error) {
	var svc struct {
		Name string `json:"name"`
	}
	err := c.getJSON(ctx, "/cm/service", nil, &svc)
	if IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// sendJSON sends v as JSON to /api/vN+path and returns the answer.
func (c *Client) sendJSON(ctx context.Context, method, path string, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	ver, err := c.APIVersion(ctx)
	if err != nil {
		return nil, err
	}
	return c.do(ctx, method, "/api/"+ver+path, body)
}

// ServiceConfig returns the Cloudera Management Service settings with
// their display names (GET /api/vN/cm/service/config?view=full); a 404
// (IsNotFound) means the cluster has no Management Service.
func (c *Client) ServiceConfig(ctx context.Context) ([]ConfigItem, error) {
	var r struct {
		Items []ConfigItem `json:"items"`
	}
	err := c.getJSON(ctx, "/cm/service/config", url.Values{"view": {"full"}}, &r)
	return r.Items, err
}

// SetServiceConfig updates Management Service settings by API name (PUT
// /api/vN/cm/service/config), e.g. ssl_client_truststore_location and
// ssl_client_truststore_password once the console speaks TLS. An empty
// value resets a setting.
func (c *Client) SetServiceConfig(ctx context.Context, items map[string]string) error {
	_, err := c.sendJSON(ctx, http.MethodPut, "/cm/service/config", configBody(items))
	return err
}
