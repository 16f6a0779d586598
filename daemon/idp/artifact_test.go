package idp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cmtls/cmtls/daemon/samlsp"
	"github.com/cmtls/cmtls/remote/browser"
)

// startTLS is start with the IdP on https (httptest's TLS certificate, for
// 127.0.0.1), so it publishes an ArtifactResolutionService, and an SP that
// asks for the HTTP-Artifact response binding and trusts pool.
func startTLS(t *testing.T, trust func(idpCert *x509.Certificate) *x509.CertPool) (*env, *http.Transport) {
	t.Helper()
	e := &env{spLog: &syncBuf{}, idpLog: &syncBuf{}}
	il, sl := listen(t), listen(t)
	e.idpURL, e.spURL = "https://"+il.Addr().String(), "http://"+sl.Addr().String()
	var err error
	e.idp, err = New(Config{
		BaseURL: e.idpURL,
		Users:   []User{{Name: "alice", Password: "alicepass", OU: []string{"cm-admins"}}},
		Logger:  slog.New(slog.NewTextHandler(e.idpLog, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := &httptest.Server{Listener: il, Config: &http.Server{Handler: e.idp.Handler()}}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	t.Cleanup(tr.CloseIdleConnections)

	md, key, cert := spIdentity(t, e.idp)
	if e.sp, err = samlsp.New(samlsp.Config{
		IdPMetadata: md, Key: key, Certificate: cert, BaseURL: e.spURL,
		AdminValues: []string{"cm-admins"}, UserValues: []string{"cm-users"},
		ResponseBinding: samlsp.BindingArtifact, ArtifactRootCAs: trust(ts.Certificate()),
		Logger: slog.New(slog.NewTextHandler(e.spLog, nil)),
	}); err != nil {
		t.Fatal(err)
	}
	serveHTTP(t, sl, e.sp)
	if _, err := e.idp.RegisterSP(e.sp.Metadata()); err != nil {
		t.Fatal(err)
	}
	return e, tr
}

// HTTP-Artifact end to end: the browser brings back only SAMLart; the SP
// resolves it with a signed ArtifactResolve over TLS checked against the
// configured CA, and the Response is validated as a posted one. An
// artifact is good once.
func TestArtifactBindingLogin(t *testing.T) {
	t.Parallel()
	e, tr := startTLS(t, func(c *x509.Certificate) *x509.CertPool {
		p := x509.NewCertPool()
		p.AddCert(c)
		return p
	})
	if !strings.Contains(string(e.sp.Metadata()), `Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="`+e.sp.ACSURL()+`" index="0" isDefault="true"`) {
		t.Fatalf("SP metadata does not default to the artifact ACS:\n%s", e.sp.Metadata())
	}
	b := browser.NewBrowser(tr)
	var artURL string
	b.Client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		b.Trace = append(b.Trace, req.Method+" "+req.URL.String())
		if req.URL.Query().Has("SAMLart") {
			artURL = req.URL.String()
		}
		return nil
	}
	p := e.spLogin(t, b, "alice", "alicepass")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `data-role="admin"`) {
		e.fail(t, b, p, "artifact login")
	}
	if artURL == "" || strings.Contains(strings.Join(b.Trace, " "), "SAMLResponse") {
		e.fail(t, b, p, "the browser carried more than an artifact")
	}
	for _, want := range []string{"artifact issued", "artifact resolved"} {
		if !strings.Contains(e.idpLog.String(), want) {
			t.Errorf("idp log lacks %q: %s", want, e.idpLog)
		}
	}
	// The same artifact again: the IdP has nothing for it; refused.
	p, err := browser.NewBrowser(tr).Get(context.Background(), artURL)
	if err != nil || p.Status != http.StatusForbidden || !strings.Contains(e.spLog.String(), "must hold exactly one Response") {
		t.Fatalf("artifact replay: %v %d\nsp log: %s", err, p.Status, e.spLog)
	}
}

// The back channel's TLS is verified: an SP that does not trust the IdP's
// certificate (system roots here) refuses the login.
func TestArtifactBindingTLSVerified(t *testing.T) {
	t.Parallel()
	e, tr := startTLS(t, func(*x509.Certificate) *x509.CertPool { return nil })
	b := browser.NewBrowser(tr)
	p := e.spLogin(t, b, "alice", "alicepass")
	if p.Status != http.StatusForbidden || !strings.Contains(e.spLog.String(), "certificate") || strings.Contains(e.idpLog.String(), "artifact resolved") {
		e.fail(t, b, p, "want a refusal for the unverified back channel")
	}
}

// The ArtifactResolutionService answers only ArtifactResolves signed by the
// registered SP.
func TestArtifactResolveMustBeSigned(t *testing.T) {
	t.Parallel()
	e, tr := startTLS(t, func(c *x509.Certificate) *x509.CertPool {
		p := x509.NewCertPool()
		p.AddCert(c)
		return p
	})
	body := `<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"><soap-env:Body>` +
		`<samlp:ArtifactResolve xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_x" Version="2.0" IssueInstant="2026-01-01T00:00:00Z">` +
		`<saml:Issuer>` + e.sp.EntityID() + `</saml:Issuer><samlp:Artifact>AAQAAA==</samlp:Artifact></samlp:ArtifactResolve></soap-env:Body></soap-env:Envelope>`
	c := &http.Client{Transport: tr}
	resp, err := c.Post(e.idpURL+PathArtifact, "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(e.idpLog.String(), "ArtifactResolve signature refused") {
		t.Fatalf("unsigned ArtifactResolve: %s\n%s", resp.Status, e.idpLog)
	}
}
