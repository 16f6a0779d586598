package idp

import (
	"context"
	"crypto/rsa"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/pki/samlxml"
)

func TestRunKeepsKeyPortAndRegistrations(t *testing.T) {
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
	must(os.WriteFile(filepath.Join(dir, "idp.yaml"), []byte("users:\n  - {name: alice, password_file: secrets/alice, ou: [cm-admins]}\nopen_registration: true\n"), 0o600))
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
	spMD := `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="clouderaManager"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://127.0.0.1:1/saml/SSO" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>`
	resp, err := http.Post(base+PathRegister, "application/samlmetadata+xml", strings.NewReader(spMD))
	must(err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("register: %s", resp.Status)
	}
	stop()
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
	// The registration survived the restart.
	if _, err := srv.GetServiceProvider(nil, "clouderaManager"); err != nil {
		t.Fatalf("registration lost: %v", err)
	}
	if _, err := srv.GetServiceProvider(nil, "unknown"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unknown SP: %v", err)
	}
	if fi, err := os.Stat(fc.Key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
}
