package saml

import (
	"context"
	"encoding/pem"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cmtls/cmtls/pki/pkitest"
	"github.com/cmtls/cmtls/steps/answers"
)

// fakeServer is the server host's files; it records what was read.
type fakeServer struct {
	files map[string][]byte
	read  []string
}

func (s *fakeServer) ReadFile(_ context.Context, p string) ([]byte, error) {
	s.read = append(s.read, p)
	b, ok := s.files[p]
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: p, Err: fs.ErrNotExist}
	}
	return b, nil
}

func tlsConsole(t *testing.T) (*httptest.Server, []byte) {
	t.Helper()
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(ts.Close)
	return ts, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
}

// otherPEM is a certificate that did not sign the console's.
func otherPEM(t *testing.T) []byte {
	c, _ := pkitest.SelfSigned(t, "other", []string{"127.0.0.1"})
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func trustAnswers(dir, caFile, pemPath string) *answers.File {
	f := &answers.File{Version: 1, Dir: dir, Server: &answers.Server{Host: "127.0.0.1", PEMPath: pemPath,
		API: &answers.API{URL: "http://127.0.0.1:7180", CAFile: caFile}}}
	return f
}

// The decision: ca_file wins (the server is not even read); else the PEM
// at server.pem_path on the server host; else exit code 2 with a hint
// naming both settings.
func TestChooseTrust(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, consolePEM := tlsConsole(t)
	other := otherPEM(t)
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, other, 0o644); err != nil {
		t.Fatal(err)
	}
	const pemPath = "/srv/x509/server.pem"

	t.Run("ca_file wins", func(t *testing.T) {
		srv := &fakeServer{files: map[string][]byte{pemPath: consolePEM}}
		tr, err := ChooseTrust(ctx, trustAnswers(dir, "ca.pem", pemPath), srv)
		if err != nil {
			t.Fatal(err)
		}
		if string(tr.PEM) != string(other) || tr.Source != "server.api.ca_file "+ca {
			t.Fatalf("trust %q from %q, want the ca_file", tr.PEM, tr.Source)
		}
		if len(srv.read) != 0 {
			t.Fatalf("server read %v although ca_file is set", srv.read)
		}
	})
	t.Run("pem_path", func(t *testing.T) {
		srv := &fakeServer{files: map[string][]byte{pemPath: consolePEM}}
		tr, err := ChooseTrust(ctx, trustAnswers(dir, "", pemPath), srv)
		if err != nil {
			t.Fatal(err)
		}
		if string(tr.PEM) != string(consolePEM) || !strings.HasPrefix(tr.Source, "server.pem_path "+pemPath) {
			t.Fatalf("trust %q from %q, want the server PEM", tr.PEM, tr.Source)
		}
	})
	t.Run("pem_path default", func(t *testing.T) {
		srv := &fakeServer{files: map[string][]byte{answers.DefaultPEMPath: consolePEM}}
		f := trustAnswers(dir, "", "")
		f.ApplyDefaults()
		if _, err := ChooseTrust(ctx, f, srv); err != nil {
			t.Fatal(err)
		}
		if len(srv.read) != 1 || srv.read[0] != answers.DefaultPEMPath {
			t.Fatalf("read %v, want %s", srv.read, answers.DefaultPEMPath)
		}
	})
	neither := map[string]struct {
		f   *answers.File
		srv FileReader
	}{
		"no pem on the server":  {trustAnswers(dir, "", pemPath), &fakeServer{}},
		"no server host":        {trustAnswers(dir, "", pemPath), nil},
		"pem_path not a PEM":    {trustAnswers(dir, "", pemPath), &fakeServer{files: map[string][]byte{pemPath: []byte("not a certificate")}}},
		"ca_file missing":       {trustAnswers(dir, "missing.pem", pemPath), &fakeServer{files: map[string][]byte{pemPath: consolePEM}}},
		"ca_file without certs": {trustAnswers(dir, "../", pemPath), nil},
	}
	for name, c := range neither {
		t.Run(name, func(t *testing.T) {
			_, err := ChooseTrust(ctx, c.f, c.srv)
			var e *Error
			if !errors.As(err, &e) || !e.BadInput() {
				t.Fatalf("err %v, want a saml Error with exit code 2", err)
			}
			if h := e.Hint(); !strings.Contains(h, "server.api.ca_file") || !strings.Contains(h, "server.pem_path") {
				t.Fatalf("hint %q names neither server.api.ca_file nor server.pem_path", h)
			}
		})
	}
}

// CheckTrust accepts the console's own certificate and refuses another
// one (exit code 2, never a fallback).
func TestCheckTrust(t *testing.T) {
	ts, consolePEM := tlsConsole(t)
	u, _ := url.Parse(ts.URL)
	if err := CheckTrust(context.Background(), u, Trust{PEM: consolePEM, Source: "server PEM"}); err != nil {
		t.Fatalf("the console's own certificate: %v", err)
	}
	err := CheckTrust(context.Background(), u, Trust{PEM: otherPEM(t), Source: "server.api.ca_file other"})
	var e *Error
	if !errors.As(err, &e) || !e.BadInput() || !strings.Contains(err.Error(), "not verified by server.api.ca_file other") ||
		!strings.Contains(e.Hint(), "server.pem_path") {
		t.Fatalf("another certificate: %v", err)
	}
}

// ConsoleTLSTarget finds the https port of a redirecting plain console,
// under server.api.url's host name; no redirect, or https already: nil.
func TestConsoleTLSTarget(t *testing.T) {
	ctx := context.Background()
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://cm.example.invalid:7443"+r.URL.Path, http.StatusFound)
	}))
	defer redirecting.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer plain.Close()
	toHTTP := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/cmf/login", http.StatusFound)
	}))
	defer toHTTP.Close()

	u, _ := url.Parse(redirecting.URL)
	got := ConsoleTLSTarget(ctx, redirecting.URL+"/")
	if got == nil || got.String() != "https://"+u.Hostname()+":7443" {
		t.Fatalf("redirecting console: %v", got)
	}
	for _, s := range []string{plain.URL, toHTTP.URL, "https://127.0.0.1:1", "::bad"} {
		if got := ConsoleTLSTarget(ctx, s); got != nil {
			t.Errorf("%s: %v, want nil", s, got)
		}
	}
}

// FollowConsoleTLS moves the API URL (keeping its path) and an entity base
// URL naming the same plain console; another entity base stays.
func TestFollowConsoleTLS(t *testing.T) {
	to := &url.URL{Scheme: "https", Host: "cm1:7183"}
	f := &answers.File{Server: &answers.Server{API: &answers.API{URL: "http://cm1:7180/api/v19"}},
		SAML: &answers.SAML{EntityBaseURL: "http://cm1:7180/"}}
	moved := FollowConsoleTLS(f, to)
	if f.Server.API.URL != "https://cm1:7183/api/v19" || f.SAML.EntityBaseURL != "https://cm1:7183" || len(moved) != 2 {
		t.Fatalf("api %q, entity base %q, moved %q", f.Server.API.URL, f.SAML.EntityBaseURL, moved)
	}
	f = &answers.File{Server: &answers.Server{API: &answers.API{URL: "http://cm1:7180"}},
		SAML: &answers.SAML{EntityBaseURL: "https://sso.example.com"}}
	moved = FollowConsoleTLS(f, to)
	if f.Server.API.URL != "https://cm1:7183" || f.SAML.EntityBaseURL != "https://sso.example.com" || len(moved) != 1 {
		t.Fatalf("api %q, entity base %q, moved %q", f.Server.API.URL, f.SAML.EntityBaseURL, moved)
	}
}
