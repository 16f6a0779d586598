package cmapitest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// TB is the part of testing.TB a Checker reports to.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Checker judges every API exchange it sees; it is safe for concurrent use.
type Checker struct {
	spec   *Spec
	report func(Violation)

	mu         sync.Mutex
	exchanges  int
	violations []Violation
}

// New returns a checker of the kept CM v45 definition that fails tb on
// every violation.
//
//	chk := cmapitest.New(t)
//	c, _ := cmapi.New(url, user, pw, cmapi.WithTransport(chk.Transport))
//	srv := httptest.NewServer(chk.Handler(handler))
//	... // at the end: chk.Exchanges() > 0
func New(tb TB) *Checker {
	tb.Helper()
	s, err := Load()
	if err != nil {
		tb.Fatalf("cmapitest: %v", err)
	}
	return NewWithSpec(s, func(v Violation) { tb.Errorf("not in CM's API definition: %s", v) })
}

// NewWithSpec returns a checker of s that calls report (when not nil) for
// every violation; Violations returns them all in any case.
func NewWithSpec(s *Spec, report func(Violation)) *Checker {
	return &Checker{spec: s, report: report}
}

// Check judges one exchange and returns its violations (also recorded and
// reported). A path outside /api/ is not judged.
func (c *Checker) Check(req *http.Request, reqBody []byte, status int, respBody []byte) []Violation {
	if !IsAPI(req.URL.Path) {
		return nil
	}
	vs := c.spec.CheckRequest(req.Method, req.URL, reqBody)
	if len(vs) == 0 {
		vs = c.spec.CheckResponse(req.Method, req.URL, status, respBody)
	}
	c.mu.Lock()
	c.exchanges++
	c.violations = append(c.violations, vs...)
	c.mu.Unlock()
	if c.report != nil {
		for _, v := range vs {
			c.report(v)
		}
	}
	return vs
}

// Exchanges counts the API exchanges judged, so a test can show the checker
// saw traffic at all.
func (c *Checker) Exchanges() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exchanges
}

// Violations returns every violation seen so far.
func (c *Checker) Violations() []Violation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Violation(nil), c.violations...)
}

// maxBody bounds what is kept of one body for judging.
const maxBody = 16 << 20

// Transport wraps next (nil: http.DefaultTransport) so that every exchange
// a client makes is judged; the bodies pass through unchanged.
func (c *Checker) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		var reqBody []byte
		if req.Body != nil && req.Body != http.NoBody {
			b, err := io.ReadAll(io.LimitReader(req.Body, maxBody))
			req.Body.Close()
			if err != nil {
				return nil, err
			}
			reqBody = b
			req = req.Clone(req.Context())
			req.Body = io.NopCloser(bytes.NewReader(b))
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		}
		resp, err := next.RoundTrip(req)
		if err != nil {
			return resp, err
		}
		var respBody []byte
		if IsAPI(req.URL.Path) {
			b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
			resp.Body.Close()
			if rerr != nil {
				return nil, rerr
			}
			respBody = b
			resp.Body = io.NopCloser(bytes.NewReader(b))
		}
		c.Check(req, reqBody, resp.StatusCode, respBody)
		return resp, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Handler wraps a server's handler so that every exchange it serves is
// judged.
func (c *Checker) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !IsAPI(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		var reqBody []byte
		if r.Body != nil {
			b, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
			if err != nil {
				http.Error(w, "read body", http.StatusBadRequest)
				return
			}
			reqBody = b
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		c.Check(r, reqBody, rec.status, rec.body.Bytes())
	})
}

type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	if r.body.Len() < maxBody {
		r.body.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

// String lists violations one a line (for test failure messages).
func String(vs []Violation) string {
	var b strings.Builder
	for _, v := range vs {
		b.WriteString(v.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Proxy is a reverse proxy to target (http://127.0.0.1:7180) that judges
// every exchange passing through it: point cmtls at it to check a whole
// run against CM's definition. Redirects the server sends (7180 to the TLS
// console) are passed on unchanged and lead around the proxy.
func (c *Checker) Proxy(target *url.URL) http.Handler {
	rp := httputil.NewSingleHostReverseProxy(target)
	return c.Handler(rp)
}
