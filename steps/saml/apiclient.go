package saml

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/cmtls/cmtls/remote/cmapi"
)

// client is API over a *cmapi.Client: settings through it, the user
// mappings, users and sessions through the same server, credentials and
// HTTP client. (The CM API client gains these calls of its own; then this
// adapter goes.)
type client struct {
	*cmapi.Client
	hc       *http.Client
	user     string
	password []byte
}

// NewAPI returns the SAML steps' API over c; hc must trust the server as c
// does (nil: http.DefaultClient).
func NewAPI(c *cmapi.Client, hc *http.Client, user string, password []byte) API {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &client{Client: c, hc: hc, user: user, password: append([]byte(nil), password...)}
}

func (c *client) ExternalUserMappings(ctx context.Context) ([]ExternalUserMapping, error) {
	var r struct {
		Items []ExternalUserMapping `json:"items"`
	}
	return r.Items, c.call(ctx, http.MethodGet, "/externalUserMappings", nil, &r)
}

func (c *client) CreateExternalUserMappings(ctx context.Context, ms []ExternalUserMapping) ([]ExternalUserMapping, error) {
	in := make([]ExternalUserMapping, len(ms))
	for i, m := range ms {
		m.UUID = "" // read-only in CM's definition
		if m.AuthRoles == nil {
			m.AuthRoles = []AuthRoleRef{}
		}
		in[i] = m
	}
	var r struct {
		Items []ExternalUserMapping `json:"items"`
	}
	if err := c.call(ctx, http.MethodPost, "/externalUserMappings", map[string]any{"items": in}, &r); err != nil {
		return nil, err
	}
	return r.Items, nil
}

func (c *client) UpdateExternalUserMapping(ctx context.Context, m ExternalUserMapping) error {
	if m.UUID == "" {
		return fmt.Errorf("cm api: update of external user mapping %q without a uuid", m.Name)
	}
	uuid := m.UUID
	m.UUID = ""
	if m.AuthRoles == nil {
		m.AuthRoles = []AuthRoleRef{}
	}
	return c.call(ctx, http.MethodPut, "/externalUserMappings/"+url.PathEscape(uuid), m, nil)
}

func (c *client) DeleteExternalUserMapping(ctx context.Context, uuid string) error {
	return c.call(ctx, http.MethodDelete, "/externalUserMappings/"+url.PathEscape(uuid), nil, nil)
}

func (c *client) User(ctx context.Context, name string) (User, error) {
	var u User
	return u, c.call(ctx, http.MethodGet, "/users/"+url.PathEscape(name), nil, &u)
}

func (c *client) Sessions(ctx context.Context) ([]Session, error) {
	var r struct {
		Items []Session `json:"items"`
	}
	return r.Items, c.call(ctx, http.MethodGet, "/users/sessions", nil, &r)
}

// call sends one request to /api/vN+path and decodes a 2xx answer into
// out (nil: the body is dropped); anything else is a *cmapi.APIError.
func (c *client) call(ctx context.Context, method, path string, in, out any) error {
	v, err := c.APIVersion(ctx)
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL(), "/")+"/api/"+v+path, body)
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.user, string(c.password))
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cm api %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("cm api %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &cmapi.APIError{Status: resp.StatusCode, Method: method, Path: path}
		var m struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &m) == nil {
			e.Message = m.Message
		}
		return e
	}
	if out == nil || len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("cm api %s %s: bad JSON: %w", method, path, err)
	}
	return nil
}
