package idp

import (
	"context"
	"crypto/rsa"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmtls/cmtls/pki/samlxml"
)

func TestRunKeepsKeyPortAndSPMetadata(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "secrets"), 0o700))
	must(os.WriteFile(filepath.Join(dir, "secrets", "alice"), []byte("alicepass\n"), 0o600))
	spMD := `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="clouderaManager"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://127.0.0.1:1/saml/SSO" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>`
	var fetched atomic.Int32
	sp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/saml/metadata" {
			http.NotFound(w, r)
			return
		}
		fetched.Add(1)
		_, _ = io.WriteString(w, spMD)
	}))
	defer sp.Close()
	must(os.WriteFile(filepath.Join(dir, "idp.yaml"), []byte("users:\n  - {name: alice, password_file: secrets/alice, ou: [cm-admins]}\nsp_metadata_url: "+sp.URL+"/saml/metadata\n"), 0o600))
	fc, err := LoadFileConfig(filepath.Join(dir, "idp.yaml"))
	must(err)

	var srv *Server
	start := func() (base string, stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, fc, RunOptions{Ready: func(s *Server, b string) { srv = s; ready <- b }})
		}()
		select {
		case base = <-ready:
		case err := <-done:
			t.Fatalf("Run: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatal("idp did not start")
		}
		return base, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run returned %v", err)
			}
		}
	}

	base, stop := start()
	if b, err := os.ReadFile(fc.Pid); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid file while serving: %q %v", b, err)
	}
	md1, err := os.ReadFile(fc.Metadata)
	must(err)
	idp1, err := samlxml.ParseIdPMetadata(md1)
	must(err)
	if idp1.SSORedirect != base+PathSSO {
		t.Fatalf("metadata SSO %q, base %q", idp1.SSORedirect, base)
	}
	// The first request from CM's entity ID loads its metadata from the
	// configured URL.
	if _, err := srv.GetServiceProvider(nil, "clouderaManager"); err != nil || fetched.Load() != 1 {
		t.Fatalf("SP metadata not loaded from its URL: %v (fetches %d)", err, fetched.Load())
	}
	stop()
	sp.Close()
	if _, err := os.Stat(fc.Pid); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pid file left after stop: %v", err)
	}

	base2, stop2 := start()
	defer stop2()
	if base2 != base {
		t.Fatalf("port changed across restarts: %s -> %s", base, base2)
	}
	md2, err := os.ReadFile(fc.Metadata)
	must(err)
	idp2, err := samlxml.ParseIdPMetadata(md2)
	must(err)
	if !idp1.SigningCerts[0].PublicKey.(*rsa.PublicKey).Equal(idp2.SigningCerts[0].PublicKey) {
		t.Fatal("key changed across restarts")
	}
	// The loaded metadata survived the restart (the SP is down now).
	if _, err := srv.GetServiceProvider(nil, "clouderaManager"); err != nil || fetched.Load() != 1 {
		t.Fatalf("loaded SP metadata lost: %v (fetches %d)", err, fetched.Load())
	}
	if _, err := srv.GetServiceProvider(nil, "unknown"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unknown SP: %v", err)
	}
	if fi, err := os.Stat(fc.Key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
}
