package saml

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps/answers"
)

// ConnectOptions steer Connect.
type ConnectOptions struct {
	// Dial connects the server host (server.pem_path is read there, and
	// server.restart_command runs there); nil: no server host.
	Dial func(ctx context.Context) (remote.Host, error)
	// DryRun needs no server host for the restart.
	DryRun bool
	// Notice receives the one line that says the console moved to TLS.
	Notice func(string)
	// NewAPI builds the CM API client (nil: cmapi.New); the command passes
	// its own, so that tests and the rest of the tool share one.
	NewAPI func(baseURL, user string, password []byte, opts ...cmapi.Option) (*cmapi.Client, error)
}

// Conn is what a SAML run reaches CM with.
type Conn struct {
	API  API
	HTTP *http.Client
	// Server is the server host, nil when it was not needed.
	Server remote.Host
}

// Close closes the server host's connection.
func (c *Conn) Close() error {
	if c == nil || c.Server == nil {
		return nil
	}
	return c.Server.Close()
}

// Connect connects the CM API, the server host (for the restart) and an
// HTTP client for the console and the IdP. When server.api.url is http but
// the console redirects to https (console TLS on, e.g. after `cmtls init`
// Step 7), it follows there (f is moved in memory), trusting
// server.api.ca_file or else the server's own PEM (server.pem_path on the
// server host); it never skips verification.
func Connect(ctx context.Context, f *answers.File, o ConnectOptions) (conn *Conn, err error) {
	srv := f.Server
	conn = &Conn{}
	defer func() {
		if err != nil {
			_ = conn.Close()
			conn = nil
		}
	}()
	dial := func() (remote.Host, error) {
		if conn.Server == nil {
			if o.Dial == nil {
				return nil, nil
			}
			h, err := o.Dial(ctx)
			if err != nil {
				return nil, err
			}
			conn.Server = h
		}
		return conn.Server, nil
	}
	var trust *Trust
	if to := ConsoleTLSTarget(ctx, srv.API.URL); to != nil {
		var reader FileReader
		if srv.API.CAFile == "" {
			h, err := dial()
			if err != nil {
				return nil, err
			}
			if h != nil {
				reader = h
			}
		}
		t, err := ChooseTrust(ctx, f, reader)
		if err != nil {
			return nil, err
		}
		if err := CheckTrust(ctx, to, t); err != nil {
			return nil, err
		}
		moved := FollowConsoleTLS(f, to)
		if o.Notice != nil {
			o.Notice(fmt.Sprintf("console TLS is on: %s; trusting %s", strings.Join(moved, ", "), t.Source))
		}
		trust = &t
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	switch {
	case trust != nil:
		hc.Transport = trustingTransport(trust.Pool())
	case srv.API.CAFile != "":
		p := f.ExpandPath(srv.API.CAFile)
		pemData, err := os.ReadFile(p)
		if err != nil {
			return nil, inputErr(StepValidate, fmt.Errorf("server.api.ca_file: %w", err), "check server.api.ca_file")
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, inputErr(StepValidate, fmt.Errorf("server.api.ca_file %s holds no PEM certificate", p), "give a PEM CA certificate")
		}
		hc.Transport = trustingTransport(pool)
	}
	conn.HTTP = hc
	apiOpts := []cmapi.Option{cmapi.WithHTTPClient(hc)}
	if srv.API.Version != "" {
		apiOpts = append(apiOpts, cmapi.WithAPIVersion(srv.API.Version))
	}
	newAPI := o.NewAPI
	if newAPI == nil {
		newAPI = cmapi.New
	}
	c, err := newAPI(srv.API.URL, srv.API.User, srv.API.Password.Value(), apiOpts...)
	if err != nil {
		return nil, inputErr(StepValidate, err, "fix server.api.url")
	}
	conn.API = c
	// over SSH only when it will be used: a dry run restarts nothing
	if srv.RestartCommand != "" && (srv.SSH == nil || !o.DryRun) {
		if _, err := dial(); err != nil {
			return nil, err
		}
	}
	if conn.Server == nil && !o.DryRun && srv.RestartCommand == "" {
		return nil, inputErr(StepValidate, errors.New("CM reads SAML settings at start: a restart command is needed"),
			"set server.restart_command (e.g. systemctl restart cloudera-scm-server)")
	}
	return conn, nil
}

// trustingTransport verifies https servers against pool only.
func trustingTransport(pool *x509.CertPool) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr
}
