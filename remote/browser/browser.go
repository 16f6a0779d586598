package browser

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Browser is a cookie-keeping HTTP client.
type Browser struct {
	Client *http.Client
	// Trace records every URL visited, for failure messages.
	Trace []string
}

// NewBrowser returns a browser with an empty cookie jar. transport may be
// nil (http.DefaultTransport).
func NewBrowser(transport http.RoundTripper) *Browser {
	jar, _ := cookiejar.New(nil)
	b := &Browser{}
	b.Client = &http.Client{
		Jar: jar, Transport: transport, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			b.Trace = append(b.Trace, req.Method+" "+req.URL.String())
			if len(via) > 20 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
	return b
}

// Page is a fetched page.
type Page struct {
	URL    *url.URL
	Status int
	Body   string
}

// Form is an HTML form.
type Form struct {
	Action string
	Method string
	Fields url.Values
}

var (
	formRe  = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRe = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	attrRe  = regexp.MustCompile(`(?is)([a-z_:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')`)
	metaRe  = regexp.MustCompile(`(?is)<meta\b[^>]*http-equiv\s*=\s*["']?refresh["']?[^>]*content\s*=\s*["'][^"']*?url=([^"']+)["']`)
)

func attrs(s string) map[string]string {
	out := map[string]string{}
	for _, m := range attrRe.FindAllStringSubmatch(s, -1) {
		v := m[2]
		if v == "" {
			v = m[3]
		}
		out[strings.ToLower(m[1])] = html.UnescapeString(v)
	}
	return out
}

// Forms lists the page's forms with their input fields.
func (p *Page) Forms() []Form {
	var out []Form
	for _, m := range formRe.FindAllStringSubmatch(p.Body, -1) {
		a := attrs(m[1])
		f := Form{Action: a["action"], Method: strings.ToUpper(a["method"]), Fields: url.Values{}}
		if f.Method == "" {
			f.Method = http.MethodGet
		}
		for _, in := range inputRe.FindAllStringSubmatch(m[2], -1) {
			ia := attrs(in[1])
			if ia["name"] != "" {
				f.Fields.Add(ia["name"], ia["value"])
			}
		}
		out = append(out, f)
	}
	return out
}

// Get fetches u.
func (b *Browser) Get(ctx context.Context, u string) (*Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return b.do(req)
}

// Post submits form values to u.
func (b *Browser) Post(ctx context.Context, u string, v url.Values) (*Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(v.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *Browser) do(req *http.Request) (*Page, error) {
	b.Trace = append(b.Trace, req.Method+" "+req.URL.String())
	resp, err := b.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	return &Page{URL: resp.Request.URL, Status: resp.StatusCode, Body: string(body)}, nil
}

// Submit sends form f of page p with extra fields set.
func (b *Browser) Submit(ctx context.Context, p *Page, f Form, set map[string]string) (*Page, error) {
	action, err := p.URL.Parse(f.Action)
	if err != nil {
		return nil, err
	}
	v := url.Values{}
	for k, vs := range f.Fields {
		v[k] = append([]string(nil), vs...)
	}
	for k, val := range set {
		v.Set(k, val)
	}
	if f.Method == http.MethodPost {
		return b.Post(ctx, action.String(), v)
	}
	action.RawQuery = v.Encode()
	return b.Get(ctx, action.String())
}

// Settle follows what a browser does without a user: meta refreshes and
// forms that carry a SAMLRequest or SAMLResponse (the auto-submitting
// HTTP-POST binding forms), at most 10 times.
func (b *Browser) Settle(ctx context.Context, p *Page) (*Page, error) {
	for range 10 {
		if m := metaRe.FindStringSubmatch(p.Body); m != nil {
			next, err := p.URL.Parse(html.UnescapeString(strings.TrimSpace(m[1])))
			if err != nil {
				return nil, err
			}
			if p, err = b.Get(ctx, next.String()); err != nil {
				return nil, err
			}
			continue
		}
		auto := false
		for _, f := range p.Forms() {
			if (f.Fields.Has("SAMLResponse") || f.Fields.Has("SAMLRequest")) && !f.Fields.Has("username") && !f.Fields.Has("password") {
				var err error
				if p, err = b.Submit(ctx, p, f, nil); err != nil {
					return nil, err
				}
				auto = true
				break
			}
		}
		if !auto {
			return p, nil
		}
	}
	return nil, errors.New("too many automatic steps")
}

// Login fills the first form with a password field on p with user and
// password (field names: username/password, as this module's IdP,
// crewjam's and SimpleSAMLphp's forms use), submits it and settles.
func (b *Browser) Login(ctx context.Context, p *Page, user, password string) (*Page, error) {
	for _, f := range p.Forms() {
		if f.Fields.Has("password") || strings.Contains(strings.ToLower(p.Body), `type="password"`) {
			next, err := b.Submit(ctx, p, f, map[string]string{"username": user, "password": password})
			if err != nil {
				return nil, err
			}
			return b.Settle(ctx, next)
		}
	}
	return nil, fmt.Errorf("no login form at %s (status %d)", p.URL, p.Status)
}

// Confirm opens u, a confirmation page with one form (a logout page asks
// before it ends anything), submits that form as a person clicking its
// button would, and settles.
func (b *Browser) Confirm(ctx context.Context, u string) (*Page, error) {
	p, err := b.Get(ctx, u)
	if err != nil {
		return nil, err
	}
	forms := p.Forms()
	if len(forms) != 1 {
		return p, fmt.Errorf("%s has %d forms, expected one to confirm (status %d)", u, len(forms), p.Status)
	}
	if p, err = b.Submit(ctx, p, forms[0], nil); err != nil {
		return nil, err
	}
	return b.Settle(ctx, p)
}
