package cmapitest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func spec(t *testing.T) *Spec {
	t.Helper()
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckRequest(t *testing.T) {
	s := spec(t)
	for _, tc := range []struct {
		method, target, body string
		want                 string // substring of the first violation; "" = none
	}{
		{"GET", "/api/v45/cm/version", "", ""},
		{"GET", "/api/v19/hosts?view=FULL", "", ""},
		{"GET", "/api/v45/cm/config?view=full", "", ""},
		{"GET", "/api/version", "", ""},
		{"GET", "/api/v45/users/sessions", "", ""},
		{"GET", "/api/v45/users/alice", "", ""},
		{"GET", "/api/v45/commands/17", "", ""},
		{"PUT", "/api/v45/cm/config", `{"items":[{"name":"AGENT_TLS","value":"true"},{"name":"KEYSTORE_PATH","value":null}]}`, ""},
		{"POST", "/api/v45/externalUserMappings", `{"items":[{"name":"cm-admins","type":"SAML_ATTRIBUTE","authRoles":[{"name":"ROLE_ADMIN"}]}]}`, ""},
		{"GET", "/api/v45/commands/abc", "", "not an integer"},
		{"GET", "/api/v45/hosts?view=WIDE", "", "not one of"},
		{"GET", "/api/v45/hosts?colour=red", "", `parameter "colour" is not defined`},
		{"GET", "/api/v45/nowhere", "", "is not a path"},
		{"PATCH", "/api/v45/cm/config", "", "PATCH /cm/config is not defined"},
		{"POST", "/api/v45/version", "", "is not a path"},
		{"PUT", "/api/v45/cm/config", `{"items":[{"name":"X","value":"1","colour":"red"}]}`, `property "colour" is not defined`},
		{"PUT", "/api/v45/cm/config", `{"items":[{"name":"X","value":1}]}`, "want a string"},
		{"POST", "/api/v45/externalUserMappings", `{"items":[{"name":"x","type":"SAML_ROLE"}]}`, `"SAML_ROLE" is not one of`},
		{"POST", "/api/v45/externalUserMappings", `{"items":`, "not JSON"},
		{"GET", "/api/v45/cm/version", `{}`, "takes no body"},
		{"POST", "/api/version", "", "GET only"},
	} {
		u, _ := url.Parse(tc.target)
		vs := s.CheckRequest(tc.method, u, []byte(tc.body))
		switch {
		case tc.want == "" && len(vs) > 0:
			t.Errorf("%s %s: unexpected %s", tc.method, tc.target, String(vs))
		case tc.want != "" && (len(vs) == 0 || !strings.Contains(vs[0].Problem, tc.want)):
			t.Errorf("%s %s: want %q, got %q", tc.method, tc.target, tc.want, String(vs))
		}
	}
}

func TestCheckResponse(t *testing.T) {
	s := spec(t)
	for _, tc := range []struct {
		method, target string
		status         int
		body           string
		want           string
	}{
		{"GET", "/api/v45/hosts", 200, `{"items":[{"hostId":"u1","hostname":"h1","ipAddress":"127.0.0.1","lastHeartbeat":"2024-01-01T00:00:00.000Z","healthSummary":"GOOD","commissionState":"COMMISSIONED","maintenanceMode":false}]}`, ""},
		{"GET", "/api/v45/hosts", 200, `{"items":[{"hostId":"u1","cmtlsAgentTls":{"enabled":true}}]}`, `property "cmtlsAgentTls" is not defined`},
		{"GET", "/api/v45/hosts", 200, `{"items":[{"hostId":"u1","healthSummary":"FINE"}]}`, `"FINE" is not one of`},
		{"PUT", "/api/v45/cm/config", 204, ``, ""},
		{"PUT", "/api/v45/cm/config", 200, `{"items":[]}`, "status 200 is not defined (CM answers 204)"},
		{"PUT", "/api/v45/cm/config", 204, `{"items":[]}`, "has no body"},
		{"POST", "/api/v45/cm/service/commands/restart", 201, `{"id":3,"name":"Restart","active":true,"startTime":"2024-01-01T00:00:00.000Z"}`, ""},
		{"POST", "/api/v45/cm/service/commands/restart", 201, `{"id":3.5,"active":true}`, "is not a integer"},
		{"GET", "/api/v45/commands/3", 200, `{"id":3,"active":"no"}`, "want a boolean"},
		{"GET", "/api/v45/commands/3", 404, `{"message":"no such command"}`, ""},
		{"GET", "/api/v45/users/sessions", 200, `{"items":[{"name":"alice","remoteAddr":"127.0.0.1","lastRequest":"2024-01-01T00:00:00.000Z"}]}`, ""},
		{"GET", "/api/v45/users/sessions", 200, ``, "empty body"},
	} {
		u, _ := url.Parse(tc.target)
		vs := s.CheckResponse(tc.method, u, tc.status, []byte(tc.body))
		switch {
		case tc.want == "" && len(vs) > 0:
			t.Errorf("%s %s %d: unexpected %s", tc.method, tc.target, tc.status, String(vs))
		case tc.want != "" && (len(vs) == 0 || !strings.Contains(vs[0].Problem, tc.want)):
			t.Errorf("%s %s %d: want %q, got %q", tc.method, tc.target, tc.status, tc.want, String(vs))
		}
	}
}

// fakeTB records what a Checker reports.
type fakeTB struct{ errs []string }

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Errorf(format string, a ...any) { f.errs = append(f.errs, fmt.Sprintf(format, a...)) }
func (f *fakeTB) Fatalf(format string, a ...any) { f.errs = append(f.errs, fmt.Sprintf(format, a...)) }

// TestTransportAndHandler: both wrappers see the same exchange, let the
// bodies through unchanged and report an extension field.
func TestTransportAndHandler(t *testing.T) {
	srvTB, cliTB := &fakeTB{}, &fakeTB{}
	srvChk, cliChk := New(srvTB), New(cliTB)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/api/v45/cm/config":
			if string(b) != `{"items":[{"name":"A","value":"b"}]}` {
				t.Errorf("server got body %q", b)
			}
			w.WriteHeader(http.StatusNoContent)
		case "/api/v45/hosts":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"items":[{"hostId":"h","cmtlsAgentVersion":"1"}]}`)
		default:
			_, _ = io.WriteString(w, "<html>console</html>")
		}
	})
	srv := httptest.NewServer(srvChk.Handler(h))
	defer srv.Close()
	hc := &http.Client{Transport: cliChk.Transport(nil)}
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/api/v45/cm/config", strings.NewReader(`{"items":[{"name":"A","value":"b"}]}`))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = hc.Get(srv.URL + "/api/v45/hosts")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "cmtlsAgentVersion") {
		t.Errorf("client got %q", b)
	}
	if _, err := hc.Get(srv.URL + "/cmf/home"); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*Checker{"server": srvChk, "client": cliChk} {
		if c.Exchanges() != 2 {
			t.Errorf("%s checker judged %d exchanges, want 2 (the console page is not API)", name, c.Exchanges())
		}
		vs := c.Violations()
		if len(vs) != 1 || !strings.Contains(vs[0].Problem, `"cmtlsAgentVersion" is not defined`) {
			t.Errorf("%s checker: %s", name, String(vs))
		}
	}
	if len(srvTB.errs) != 1 || len(cliTB.errs) != 1 {
		t.Errorf("reports: server %q, client %q", srvTB.errs, cliTB.errs)
	}
}

// TestNestedAllOf: ApiServiceConfig is allOf ApiConfigList, itself allOf
// ApiListBase and items; properties of every level count, others do not.
func TestNestedAllOf(t *testing.T) {
	s := spec(t)
	u, _ := url.Parse("/api/v45/cm/service/config")
	if vs := s.CheckRequest("PUT", u, []byte(`{"items":[{"name":"a","value":"b"}],"roleTypeConfigs":[{"roleType":"HOSTMONITOR","items":[]}]}`)); len(vs) != 0 {
		t.Errorf("valid ApiServiceConfig: %s", String(vs))
	}
	if vs := s.CheckRequest("PUT", u, []byte(`{"items":[{"name":"a","bogus":1}]}`)); len(vs) != 1 || !strings.Contains(vs[0].Problem, `"bogus" is not defined`) {
		t.Errorf("unknown nested property: %s", String(vs))
	}
}

// TestProxy: a run through the proxy is judged, bodies unchanged.
func TestProxy(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"version":"7.5.3","extra":true}`)
	}))
	defer backend.Close()
	tb := &fakeTB{}
	chk := New(tb)
	u, _ := url.Parse(backend.URL)
	proxy := httptest.NewServer(chk.Proxy(u))
	defer proxy.Close()
	resp, err := http.Get(proxy.URL + "/api/v45/cm/version")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != `{"version":"7.5.3","extra":true}` {
		t.Errorf("body through the proxy: %q", b)
	}
	if chk.Exchanges() != 1 || len(tb.errs) != 1 || !strings.Contains(tb.errs[0], `"extra" is not defined`) {
		t.Errorf("exchanges %d, reports %q", chk.Exchanges(), tb.errs)
	}
}
