package cmapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultTimeout bounds one API call when the context has no deadline.
const DefaultTimeout = 30 * time.Second

// Client talks to one CM server. It is safe for concurrent use.
type Client struct {
	base     *url.URL
	user     string
	password []byte
	hc       *http.Client
	caFile   string
	caPEM    []byte
	wrap     func(http.RoundTripper) http.RoundTripper

	// CommandTimeout bounds how long a command method waits for its
	// command to end (default DefaultCommandTimeout).
	commandTimeout time.Duration
	pollInterval   time.Duration

	mu      sync.Mutex
	version string    // "v19", found once
	date    time.Time // the Date header of the last answer
}

// Option configures a Client.
type Option func(*Client)

// WithCAFile trusts the PEM certificates in pemPath (the server's PEM of
// Step 3, or its CA) for an https:// URL, instead of the system roots.
func WithCAFile(pemPath string) Option {
	return func(c *Client) { c.caFile = pemPath }
}

// WithCAPEM is WithCAFile for PEM bytes already in memory.
func WithCAPEM(pemBytes []byte) Option {
	return func(c *Client) { c.caPEM = append([]byte(nil), pemBytes...) }
}

// WithHTTPClient makes the client use hc (tests, proxies). A cookie jar is
// added when hc has none.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.hc = hc }
}

// WithTransport wraps the client's transport (after the CA options took
// effect), e.g. with a contract checker in tests.
func WithTransport(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(c *Client) { c.wrap = wrap }
}

// WithCommandTimeout bounds how long a command method (a restart) waits
// for its command to end; a real CM restart takes minutes.
func WithCommandTimeout(d time.Duration) Option {
	return func(c *Client) { c.commandTimeout = d }
}

// WithPollInterval sets the longest pause between two polls of a command
// (default 2 s; the first polls come sooner).
func WithPollInterval(d time.Duration) Option {
	return func(c *Client) { c.pollInterval = d }
}

// WithAPIVersion pins the API version ("v19") instead of asking /api/version.
func WithAPIVersion(v string) Option {
	return func(c *Client) { c.version = v }
}

var versionRE = regexp.MustCompile(`^v[0-9]+$`)

// New returns a client of the CM at baseURL (e.g. http://cm1:7180; a
// trailing /api or /api/vN is accepted and the version pinned from it).
func New(baseURL, user string, password []byte, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cm api url %q is not an http(s) URL (use e.g. http://cm1.example.com:7180)", baseURL)
	}
	c := &Client{user: user, password: append([]byte(nil), password...)}
	// Accept http://cm:7180/api or /api/v19.
	p := strings.TrimRight(u.Path, "/")
	if i := strings.LastIndex(p, "/api"); i >= 0 {
		rest := strings.Trim(p[i+len("/api"):], "/")
		if versionRE.MatchString(rest) {
			c.version = rest
		}
		p = p[:i]
	}
	u.Path, u.RawQuery, u.Fragment = p, "", ""
	c.base = u
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		pemBytes, from := c.caPEM, "the given CA PEM"
		if c.caFile != "" {
			b, err := os.ReadFile(c.caFile)
			if err != nil {
				return nil, fmt.Errorf("cm api ca file: %w", err)
			}
			pemBytes, from = b, "cm api ca file "+c.caFile
		}
		if len(pemBytes) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pemBytes) {
				return nil, fmt.Errorf("%s holds no PEM certificate", from)
			}
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		c.hc = &http.Client{Transport: tr}
	}
	if c.wrap != nil {
		hc := *c.hc
		hc.Transport = c.wrap(hc.Transport)
		c.hc = &hc
	}
	if c.commandTimeout <= 0 {
		c.commandTimeout = DefaultCommandTimeout
	}
	if c.pollInterval <= 0 {
		c.pollInterval = 2 * time.Second
	}
	if c.hc.Jar == nil {
		jar, _ := cookiejar.New(nil)
		hc := *c.hc
		hc.Jar = jar
		c.hc = &hc
	}
	return c, nil
}

// BaseURL is the server's URL without /api.
func (c *Client) BaseURL() string { return c.base.String() }

// APIError is a non-2xx answer of the API, with CM's JSON "message".
type APIError struct {
	Status  int
	Message string
	Method  string
	Path    string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("cm api %s %s: %d %s", e.Method, e.Path, e.Status, msg)
}

// Hint names the next action for the statuses users hit.
func (e *APIError) Hint() string {
	switch e.Status {
	case http.StatusUnauthorized:
		return "check the CM admin user and password (server.api.user, server.api.password)"
	case http.StatusForbidden:
		return "the CM user needs the Full Administrator role"
	case http.StatusNotFound:
		if strings.Contains(e.Path, "/cm/service") {
			return "this cluster has no Cloudera Management Service (add it in CM, or skip what needs it)"
		}
		return "check server.api.url and server.api.version; this CM may not serve the endpoint"
	}
	return ""
}

// APIVersion returns the highest API version the server offers ("v19").
func (c *Client) APIVersion(ctx context.Context) (string, error) {
	c.mu.Lock()
	v := c.version
	c.mu.Unlock()
	if v != "" {
		return v, nil
	}
	body, err := c.do(ctx, http.MethodGet, "/api/version", nil)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(body))
	s = strings.Trim(s, `"`)
	if !versionRE.MatchString(s) {
		return "", fmt.Errorf("cm api /api/version: unexpected answer %q", truncate(s, 60))
	}
	c.mu.Lock()
	c.version = s
	c.mu.Unlock()
	return s, nil
}

// CMVersion is the answer of /api/vN/cm/version.
type CMVersion struct {
	Version        string `json:"version"`
	BuildUser      string `json:"buildUser,omitempty"`
	BuildTimestamp string `json:"buildTimestamp,omitempty"`
	GitHash        string `json:"gitHash,omitempty"`
	Snapshot       bool   `json:"snapshot,omitempty"`
}

// CMVersion returns the CM server's version.
func (c *Client) CMVersion(ctx context.Context) (CMVersion, error) {
	var v CMVersion
	err := c.getJSON(ctx, "/cm/version", nil, &v)
	return v, err
}

// Host is one ApiHost of the FULL view.
type Host struct {
	HostID        string    `json:"hostId"`
	Hostname      string    `json:"hostname"`
	IPAddress     string    `json:"ipAddress"`
	LastHeartbeat time.Time `json:"lastHeartbeat"`
	HealthSummary string    `json:"healthSummary"`
}

// Hosts lists the hosts (GET /api/vN/hosts?view=FULL).
func (c *Client) Hosts(ctx context.Context) ([]Host, error) {
	v, err := c.APIVersion(ctx)
	if err != nil {
		return nil, err
	}
	b, err := c.do(ctx, http.MethodGet, "/api/"+v+"/hosts?view=FULL", nil)
	if err != nil {
		return nil, err
	}
	return ParseHosts(b)
}

// maxHosts bounds the hosts one answer may list.
const maxHosts = 100000

// ParseHosts decodes an ApiHostList answer.
func ParseHosts(b []byte) ([]Host, error) {
	var r struct {
		Items []struct {
			HostID        string `json:"hostId"`
			Hostname      string `json:"hostname"`
			IPAddress     string `json:"ipAddress"`
			LastHeartbeat string `json:"lastHeartbeat"`
			HealthSummary string `json:"healthSummary"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("cm api hosts: bad JSON: %w", err)
	}
	if len(r.Items) > maxHosts {
		return nil, fmt.Errorf("cm api hosts: %d hosts, more than %d", len(r.Items), maxHosts)
	}
	hosts := make([]Host, 0, len(r.Items))
	for _, it := range r.Items {
		h := Host{HostID: it.HostID, Hostname: it.Hostname, IPAddress: it.IPAddress, HealthSummary: it.HealthSummary}
		if it.LastHeartbeat != "" {
			t, err := time.Parse(time.RFC3339Nano, it.LastHeartbeat)
			if err != nil {
				return nil, fmt.Errorf("cm api hosts: host %s: lastHeartbeat %q: %w", truncate(h.Hostname, 64), truncate(it.LastHeartbeat, 64), err)
			}
			h.LastHeartbeat = t
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// ConfigItem is one CM setting. Value is empty for an unset setting, and
// "REDACTED" for a sensitive one as CM answers.
type ConfigItem struct {
	Name        string `json:"name"`
	Value       string `json:"value"`
	DisplayName string `json:"displayName,omitempty"`
	Sensitive   bool   `json:"sensitive,omitempty"`
	Default     string `json:"default,omitempty"`
}

// Config returns every CM setting with its display name (view=full).
func (c *Client) Config(ctx context.Context) ([]ConfigItem, error) {
	var r struct {
		Items []ConfigItem `json:"items"`
	}
	if err := c.getJSON(ctx, "/cm/config", url.Values{"view": {"full"}}, &r); err != nil {
		return nil, err
	}
	return r.Items, nil
}

// FindByDisplayName returns the item whose display name is name (case
// folded), the way SAML settings are looked up (their API names differ
// between CM releases).
func FindByDisplayName(items []ConfigItem, name string) (ConfigItem, bool) {
	for _, it := range items {
		if strings.EqualFold(it.DisplayName, name) {
			return it, true
		}
	}
	return ConfigItem{}, false
}

// FindByName returns the item with API name name (case folded: CM stores
// lower-case names and accepts both).
func FindByName(items []ConfigItem, name string) (ConfigItem, bool) {
	for _, it := range items {
		if strings.EqualFold(it.Name, name) {
			return it, true
		}
	}
	return ConfigItem{}, false
}

// SetConfig updates settings by API name (PUT /api/vN/cm/config). An empty
// value resets a setting to its default.
func (c *Client) SetConfig(ctx context.Context, items map[string]string) error {
	_, err := c.sendJSON(ctx, http.MethodPut, "/cm/config", configBody(items))
	return err
}

// configItem is ApiConfig as sent: a null value erases the setting.
type configItem struct {
	Name  string  `json:"name"`
	Value *string `json:"value"`
}

// configBody is the ApiConfigList of a PUT, names sorted.
func configBody(items map[string]string) any {
	names := make([]string, 0, len(items))
	for n := range items {
		names = append(names, n)
	}
	sort.Strings(names)
	body := struct {
		Items []configItem `json:"items"`
	}{Items: []configItem{}}
	for _, name := range names {
		it := configItem{Name: name}
		if v := items[name]; v != "" {
			it.Value = &v
		}
		body.Items = append(body.Items, it)
	}
	return body
}

// RestartManagementService runs the Cloudera Management Service restart
// command and returns once the command has ended: an error carrying CM's
// resultMessage when it failed, an *APIError with status 404 (IsNotFound)
// when the cluster has no Management Service.
func (c *Client) RestartManagementService(ctx context.Context) error {
	_, err := c.runCommand(ctx, "/cm/service/commands/restart")
	return err
}

// getJSON GETs /api/vN+path and decodes the answer into out.
func (c *Client) getJSON(ctx context.Context, path string, q url.Values, out any) error {
	v, err := c.APIVersion(ctx)
	if err != nil {
		return err
	}
	p := "/api/" + v + path
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	b, err := c.do(ctx, http.MethodGet, p, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("cm api %s: bad JSON: %w", path, err)
	}
	return nil
}

// maxBody bounds what is read of one answer.
const maxBody = 16 << 20

func (c *Client) do(ctx context.Context, method, pathQuery string, body []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	u := *c.base
	ref, err := url.Parse(pathQuery)
	if err != nil {
		return nil, err
	}
	u.Path = c.base.Path + ref.Path
	u.RawQuery = ref.RawQuery
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(c.user, string(c.password))
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// url.Error carries the URL, never the password (Basic auth is a header).
		return nil, fmt.Errorf("cm api %s %s: %w", method, ref.Path, err)
	}
	defer resp.Body.Close()
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		c.mu.Lock()
		c.date = d
		c.mu.Unlock()
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("cm api %s %s: read answer: %w", method, ref.Path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &APIError{Status: resp.StatusCode, Method: method, Path: ref.Path}
		var m struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &m) == nil && m.Message != "" {
			e.Message = m.Message
		} else if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/plain") {
			e.Message = truncate(strings.TrimSpace(string(b)), 200)
		}
		return nil, e
	}
	return b, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ServerDate is the Date header of the server's last answer: its clock
// when it made that answer (RFC 9110 section 6.6.1), to one second. It is
// zero before any answer, or when the server sends none.
func (c *Client) ServerDate() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.date
}

// IsUnauthorized reports whether err is the API refusing the credentials.
func IsUnauthorized(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusUnauthorized
}
