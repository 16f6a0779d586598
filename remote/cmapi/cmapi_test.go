package cmapi

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeCM answers like a real CM 7 (shapes from cm_api's ApiHost and a
// recorded cm/config answer).
func fakeCM(t *testing.T) (*httptest.Server, *map[string]string) {
	t.Helper()
	cfg := map[string]string{}
	mux := http.NewServeMux()
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || u != "admin" || p != "s3cret!" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(401)
				io.WriteString(w, `{"message":"Bad credentials"}`)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: "SESSION", Value: "abc", Path: "/"})
			h(w, r)
		}
	}
	mux.HandleFunc("GET /api/version", auth(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "v41") }))
	mux.HandleFunc("GET /api/v41/cm/version", auth(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"version":"7.11.3","buildUser":"jenkins","snapshot":false}`)
	}))
	mux.HandleFunc("GET /api/v41/hosts", auth(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("view") != "FULL" {
			t.Errorf("view = %q", r.URL.Query().Get("view"))
		}
		io.WriteString(w, `{"items":[{"hostId":"6f7c","hostname":"agent1.example.com","ipAddress":"10.0.0.11","rackId":"/default","lastHeartbeat":"2017-10-05T15:35:22.774Z","healthSummary":"GOOD","numCores":4}]}`)
	}))
	mux.HandleFunc("GET /api/v41/cm/config", auth(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"items":[{"name":"AGENT_TLS","value":"false","displayName":"Use TLS Encryption for Agents","sensitive":false},{"name":"KEYSTORE_PASSWORD","value":"REDACTED","displayName":"Cloudera Manager TLS/SSL Server JKS Keystore File Password","sensitive":true}]}`)
	}))
	mux.HandleFunc("PUT /api/v41/cm/config", auth(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Items []struct {
				Name  string  `json:"name"`
				Value *string `json:"value"`
			} `json:"items"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(400)
			io.WriteString(w, `{"message":"bad json"}`)
			return
		}
		for _, it := range body.Items {
			if it.Value == nil {
				delete(cfg, it.Name)
			} else {
				cfg[it.Name] = *it.Value
			}
		}
		io.WriteString(w, `{"items":[]}`)
	}))
	mux.HandleFunc("POST /api/v41/cm/service/commands/restart", auth(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cookie") == "" {
			t.Errorf("SESSION cookie not sent back")
		}
		io.WriteString(w, `{"id":12,"name":"Restart","active":true}`)
	}))
	// The restart command is polled until it ends.
	polls := 0
	mux.HandleFunc("GET /api/v41/commands/12", auth(func(w http.ResponseWriter, r *http.Request) {
		polls++
		if polls < 2 {
			io.WriteString(w, `{"id":12,"name":"Restart","active":true}`)
			return
		}
		io.WriteString(w, `{"id":12,"name":"Restart","active":false,"success":true,"resultMessage":"Restarted."}`)
	}))
	mux.HandleFunc("GET /api/v41/commands/13", auth(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":13,"name":"Restart","active":false,"success":false,"resultMessage":"Command failed to start: Host Monitor is down."}`)
	}))
	mux.HandleFunc("GET /api/v41/commands/14", auth(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":14,"name":"Restart","active":true}`)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &cfg
}

func TestClientAgainstCMShapes(t *testing.T) {
	srv, cfg := fakeCM(t)
	ctx := context.Background()
	c, err := New(srv.URL+"/", "admin", []byte("s3cret!"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.APIVersion(ctx)
	if err != nil || v != "v41" {
		t.Fatalf("APIVersion = %q, %v", v, err)
	}
	cv, err := c.CMVersion(ctx)
	if err != nil || cv.Version != "7.11.3" {
		t.Fatalf("CMVersion = %+v, %v", cv, err)
	}
	hosts, err := c.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2017, 10, 5, 15, 35, 22, 774e6, time.UTC)
	if len(hosts) != 1 || hosts[0].HostID != "6f7c" || !hosts[0].LastHeartbeat.Equal(want) || hosts[0].HealthSummary != "GOOD" {
		t.Fatalf("Hosts = %+v", hosts)
	}
	items, err := c.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if it, ok := FindByDisplayName(items, "use tls encryption for agents"); !ok || it.Name != "AGENT_TLS" {
		t.Fatalf("FindByDisplayName = %+v %v", it, ok)
	}
	if it, ok := FindByName(items, "keystore_password"); !ok || !it.Sensitive {
		t.Fatalf("FindByName = %+v %v", it, ok)
	}
	if err := c.SetConfig(ctx, map[string]string{"AGENT_TLS": "true", "WEB_TLS": ""}); err != nil {
		t.Fatal(err)
	}
	if (*cfg)["AGENT_TLS"] != "true" {
		t.Fatalf("server config = %v", *cfg)
	}
	if err := c.RestartManagementService(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestWaitCommand: a failed command's resultMessage is the error; a
// command still active when the wait ends is a timeout, bounded.
func TestWaitCommand(t *testing.T) {
	srv, _ := fakeCM(t)
	ctx := context.Background()
	c, err := New(srv.URL, "admin", []byte("s3cret!"), WithPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.WaitCommand(ctx, 13, time.Second)
	var ce *CommandError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "Host Monitor is down") {
		t.Fatalf("failed command: %v", err)
	}
	cmd, err := c.WaitCommand(ctx, 14, 150*time.Millisecond)
	var te *CommandTimeoutError
	if !errors.As(err, &te) || !cmd.Active || te.Hint() == "" {
		t.Fatalf("active command: %+v %v", cmd, err)
	}
	if _, err := c.WaitCommand(ctx, 99, time.Second); !IsNotFound(err) {
		t.Fatalf("unknown command: %v", err)
	}
}

func TestClientErrors(t *testing.T) {
	srv, _ := fakeCM(t)
	ctx := context.Background()
	c, err := New(srv.URL, "admin", []byte("wrong-password"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Hosts(ctx)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Message != "Bad credentials" {
		t.Fatalf("err = %v", err)
	}
	if !IsUnauthorized(err) || !strings.Contains(ae.Hint(), "password") {
		t.Fatalf("hint = %q", ae.Hint())
	}
	if strings.Contains(err.Error(), "wrong-password") {
		t.Fatal("password in error text")
	}
	// Pinned version from the URL; an unknown endpoint is a 404 APIError.
	c2, _ := New(srv.URL+"/api/v40", "admin", []byte("s3cret!"))
	if v, _ := c2.APIVersion(ctx); v != "v40" {
		t.Fatalf("pinned version = %q", v)
	}
	if _, err := c2.CMVersion(ctx); !errors.As(err, &ae) || ae.Status != 404 {
		t.Fatalf("err = %v", err)
	}
	for _, bad := range []string{"cm1:7180", "ftp://cm1", "http://"} {
		if _, err := New(bad, "a", nil); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
	if _, err := New(srv.URL, "a", nil, WithCAFile("/nonexistent.pem")); err == nil {
		t.Error("missing CA file accepted")
	}
}

// TestCAPEM: the client trusts the PEM it is given and nothing else (the
// console's own certificate after Step 7).
func TestCAPEM(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `"v41"`)
	}))
	t.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c, err := New(srv.URL, "admin", nil, WithCAPEM(caPEM))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := c.APIVersion(context.Background()); err != nil || v != "v41" {
		t.Fatalf("trusted PEM: version %q, %v", v, err)
	}
	c, err = New(srv.URL, "admin", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.APIVersion(context.Background()); err == nil {
		t.Fatal("a server the system roots do not know was trusted without the PEM")
	}
	if _, err := New(srv.URL, "admin", nil, WithCAPEM([]byte("not a pem"))); err == nil {
		t.Fatal("a CA PEM with no certificate was accepted")
	}
}
