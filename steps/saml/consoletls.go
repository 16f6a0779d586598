package saml

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/steps/answers"
)

// SAML is usually configured after TLS level 2, when Step 7 of `cmtls init`
// has turned console TLS on: the plain console URL of an answers file then
// redirects to https, served with the server certificate init generated.
// These functions decide which certificate the https console is verified
// against; they never skip verification.

// FileReader reads a file on the server host (remote.Host is one).
type FileReader interface {
	ReadFile(ctx context.Context, path string) ([]byte, error)
}

// Trust is the certificate an https console is verified against.
type Trust struct {
	PEM []byte
	// Source says which certificate it is, for the one line printed.
	Source string
}

// Pool is the trust as a certificate pool.
func (t Trust) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(t.PEM)
	return p
}

// trustFix is the hint of every failure to find a certificate to trust.
const trustFix = "set server.api.ca_file to the PEM that signed the console's certificate (its CA, or the server PEM itself), " +
	"or server.pem_path to the server PEM `cmtls init` wrote on the server host (default " + answers.DefaultPEMPath + ")"

// ConsoleTLSTarget says where the console went when server.api.url is
// http and the plain console now redirects to https: the https base URL,
// with server.api.url's host name (the server certificate names the host
// the answers use) and the redirect's port. It is nil, without error, when
// the URL is https already or the console does not redirect to https
// (unreachable consoles are reported by the steps that need them).
func ConsoleTLSTarget(ctx context.Context, apiURL string) *url.URL {
	u, err := url.Parse(apiURL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil
	}
	hc := &http.Client{Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := &url.URL{Scheme: "http", Host: u.Host}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+"/", nil)
	if err != nil {
		return nil
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode < 300 || resp.StatusCode > 399 || loc == "" {
		return nil
	}
	to, err := base.Parse(loc)
	if err != nil || to.Scheme != "https" {
		return nil
	}
	port := to.Port()
	if port == "" {
		port = "443"
	}
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(u.Hostname(), port)}
}

// ChooseTrust decides which certificate the https console is verified
// against: server.api.ca_file when set (read on this machine); else the
// server PEM at server.pem_path, read on the server host through server
// (nil: there is no way to reach it); else an error (exit code 2) whose
// hint names both settings.
func ChooseTrust(ctx context.Context, f *answers.File, server FileReader) (Trust, error) {
	srv := f.Server
	if srv.API != nil && srv.API.CAFile != "" {
		p := f.ExpandPath(srv.API.CAFile)
		b, err := os.ReadFile(p)
		if err != nil {
			return Trust{}, &Error{Step: StepValidate, Err: fmt.Errorf("server.api.ca_file: %w", err), Fix: trustFix, input: true}
		}
		if err := hasCert(b); err != nil {
			return Trust{}, &Error{Step: StepValidate, Err: fmt.Errorf("server.api.ca_file %s: %w", p, err), Fix: trustFix, input: true}
		}
		return Trust{PEM: b, Source: "server.api.ca_file " + p}, nil
	}
	p := srv.PEMPath
	if p == "" {
		p = answers.DefaultPEMPath
	}
	if server == nil {
		return Trust{}, &Error{Step: StepValidate, Err: fmt.Errorf("the console redirects to https and server.api.ca_file is not set; server.pem_path %s cannot be read without the server host", p), Fix: trustFix, input: true}
	}
	b, err := server.ReadFile(ctx, p)
	if err != nil {
		return Trust{}, &Error{Step: StepValidate, Err: fmt.Errorf("the console redirects to https and server.api.ca_file is not set; read server.pem_path: %w", err), Fix: trustFix, input: true}
	}
	if err := hasCert(b); err != nil {
		return Trust{}, &Error{Step: StepValidate, Err: fmt.Errorf("server.pem_path %s: %w", p, err), Fix: trustFix, input: true}
	}
	return Trust{PEM: b, Source: "server.pem_path " + p + " (the server's own certificate)"}, nil
}

func hasCert(b []byte) error {
	certs, err := pki.ParseCertificates(b)
	if err != nil {
		return err
	}
	if len(certs) == 0 {
		return errors.New("holds no PEM certificate")
	}
	return nil
}

// CheckTrust makes one TLS handshake with the https console at base,
// verifying its certificate against t, so that a wrong certificate fails
// here with the fix rather than as an x509 error of the first API call.
func CheckTrust(ctx context.Context, base *url.URL, t Trust) error {
	d := tls.Dialer{Config: &tls.Config{RootCAs: t.Pool(), ServerName: base.Hostname(), MinVersion: tls.VersionTLS12}}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", base.Host)
	if err != nil {
		var ve *tls.CertificateVerificationError
		if errors.As(err, &ve) {
			return &Error{Step: StepValidate, Err: fmt.Errorf("the console %s is not verified by %s: %w", base, t.Source, err), Fix: trustFix, input: true}
		}
		return &Error{Step: StepValidate, Err: fmt.Errorf("the console %s: %w", base, err), Fix: "check that the CM server is running and server.api.url"}
	}
	return c.Close()
}

// FollowConsoleTLS moves the answers (in memory) to the https console at
// to: server.api.url, and saml.entity_base_url when it names the plain
// console that now redirects (an http entity base would publish assertion
// consumer URLs whose POSTs the redirect turns into GETs, losing the
// response). It returns what moved, one line each.
func FollowConsoleTLS(f *answers.File, to *url.URL) []string {
	old := f.Server.API.URL
	ou, err := url.Parse(old)
	if err != nil {
		return nil
	}
	nu := *ou
	nu.Scheme, nu.Host = "https", to.Host
	f.Server.API.URL = nu.String()
	moved := []string{fmt.Sprintf("server.api.url %s -> %s", old, f.Server.API.URL)}
	if s := f.SAML; s != nil && s.EntityBaseURL != "" {
		if eu, err := url.Parse(strings.TrimRight(s.EntityBaseURL, "/")); err == nil && eu.Scheme == "http" && eu.Host == ou.Host {
			eu.Scheme, eu.Host = "https", to.Host
			moved = append(moved, fmt.Sprintf("saml.entity_base_url %s -> %s", s.EntityBaseURL, eu.String()))
			s.EntityBaseURL = eu.String()
		}
	}
	return moved
}
