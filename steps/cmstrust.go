package steps

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps/answers"
)

// The Cloudera Management Service settings that give its roles (Host
// Monitor, Service Monitor, ...) a truststore: once the Admin Console
// speaks TLS they reach the CM server over it (Cloudera "Configuring TLS
// for the Cloudera Management Service"; the cloudera.cluster collection's
// cms_tls role sets the same two through PUT /cm/service/config).
const (
	settingCMSTruststore         = "ssl_client_truststore_location"
	settingCMSTruststorePassword = "ssl_client_truststore_password"
)

// ManagementAPI is the part of the CM API that reaches the Cloudera
// Management Service's settings; *cmapi.Client has it. A client without
// it cannot give the service a truststore, and Step 7 says so.
type ManagementAPI interface {
	HasManagementService(ctx context.Context) (bool, error)
	ServiceConfig(ctx context.Context) ([]cmapi.ConfigItem, error)
	SetServiceConfig(ctx context.Context, items map[string]string) error
}

// mgmtPlan is what Step 7 found out about the Management Service.
type mgmtPlan struct {
	// exists is false when the cluster has none (the API answers 404):
	// its truststore and restart are skipped, which is no failure.
	exists bool
	// trust is true when its roles need the truststore written and set
	// (the certificate is not publicly trusted and the setting does not
	// name the truststore yet).
	trust bool
	// path is where the truststore goes on the CM server.
	path string
	// pass is the password written (kept in memory only, for Verify).
	pass []byte
}

// planManagement finds out whether the cluster has a Management Service
// and whether its roles need a truststore to trust leaf.
func (e *Env) planManagement(ctx context.Context, leaf *x509.Certificate) (mgmtPlan, []Item, []string, error) {
	p := mgmtPlan{path: e.truststorePath()}
	ma, ok := e.API.(ManagementAPI)
	if !ok {
		return p, nil, []string{"the API client cannot reach the Cloudera Management Service: its truststore and restart are left as they are"}, nil
	}
	has, err := ma.HasManagementService(ctx)
	if err != nil {
		return p, nil, nil, fmt.Errorf("ask CM for the Cloudera Management Service: %w", err)
	}
	if !has {
		return p, nil, []string{"the cluster has no Cloudera Management Service (the API answers 404 for /cm/service): its truststore and restart are skipped"}, nil
	}
	p.exists = true
	if publiclyTrusted(leaf, e.Answers.Server.Host) {
		return p, nil, []string{"the server certificate is trusted by the system's CAs: the Management Service needs no truststore of its own"}, nil
	}
	cfg, err := ma.ServiceConfig(ctx)
	if err != nil {
		return p, nil, nil, fmt.Errorf("read the Cloudera Management Service settings: %w", err)
	}
	loc, _ := cmapi.FindByName(cfg, settingCMSTruststore)
	if loc.Value == p.path && e.truststoreHolds(ctx, p.path, leaf, e.truststorePassword()) {
		return p, nil, nil, nil
	}
	p.trust = true
	items := []Item{
		{Kind: KindFile, Target: p.path, New: "JKS truststore with the server certificate (0644)"},
		{Kind: KindSetting, Target: settingCMSTruststore, Old: loc.Value, New: p.path, Note: "Cloudera Management Service: TLS/SSL Client Truststore File Location"},
		{Kind: KindSetting, Target: settingCMSTruststorePassword, New: "[redacted]", Note: e.truststorePasswordSource()},
	}
	return p, items, nil, nil
}

func (e *Env) truststorePath() string {
	if t := e.Answers.Server.Truststore; t != nil && t.Path != "" {
		return t.Path
	}
	return answers.DefaultTruststorePath
}

// truststorePassword is server.truststore.password, nil when not given.
func (e *Env) truststorePassword() []byte {
	if t := e.Answers.Server.Truststore; t != nil && t.Password.Resolved() && len(t.Password.Value()) > 0 {
		return t.Password.Value()
	}
	return nil
}

func (e *Env) truststorePasswordSource() string {
	if t := e.Answers.Server.Truststore; t != nil && t.Password.Resolved() && len(t.Password.Value()) > 0 {
		return t.Password.Source()
	}
	return "generated"
}

// publiclyTrusted reports whether leaf verifies for host against the
// system's CAs, as a Java default truststore would.
func publiclyTrusted(leaf *x509.Certificate, host string) bool {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		return false
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host})
	return err == nil
}

// truststoreHolds reports whether the file at p on the server is a JKS
// holding leaf. Without the password (a generated one is not kept between
// runs) the file's integrity cannot be checked, but a JKS keeps trusted
// certificates in clear, so their DER bytes are found in the file; with
// the password the file is opened and its entries compared.
func (e *Env) truststoreHolds(ctx context.Context, p string, leaf *x509.Certificate, pass []byte) bool {
	data, err := e.Server.ReadFile(ctx, p)
	if err != nil || pki.StoreTypeOf(data) != pki.TypeJKS {
		return false
	}
	if len(pass) == 0 {
		return bytes.Contains(data, leaf.Raw)
	}
	ks, err := pki.ReadKeystore(data, pass)
	if err != nil {
		return false
	}
	for _, a := range ks.Aliases() {
		if c, err := ks.Certificate(a); err == nil && c.Equal(leaf) {
			return true
		}
	}
	return false
}

// writeTruststore writes the Management Service's truststore on the CM
// server (backup first, atomic, 0644: its roles run as another account and
// it holds no secret) and points the service's settings at it. The
// password is the answers file's server.truststore.password, else a fresh
// random one; it is sent to CM only and never shown.
func (e *Env) writeTruststore(ctx context.Context, p *mgmtPlan, serverPEM []byte) error {
	certs := pemCerts(serverPEM)
	if len(certs) == 0 {
		return errors.New("the server PEM holds no certificate for the truststore")
	}
	pass := e.truststorePassword()
	if len(pass) == 0 {
		raw := make([]byte, 18)
		if _, err := io.ReadFull(e.Rand, raw); err != nil {
			return fmt.Errorf("generate the truststore password: %w", err)
		}
		pass = []byte(base64.RawURLEncoding.EncodeToString(raw))
	}
	data, err := pki.EncodeTruststore("cm-server", certs, pass, e.Now(), e.Rand)
	if err != nil {
		return fmt.Errorf("truststore: %w", err)
	}
	if err := putFileOpt(ctx, e.Server, p.path, data, remote.PutOptions{Mode: 0o644, Backup: true}); err != nil {
		return err
	}
	p.pass = pass
	ma := e.API.(ManagementAPI)
	if err := ma.SetServiceConfig(ctx, map[string]string{settingCMSTruststore: p.path, settingCMSTruststorePassword: string(pass)}); err != nil {
		return fmt.Errorf("set the Cloudera Management Service truststore: %w", err)
	}
	return nil
}

// pemCerts returns the certificates of a PEM bundle, in order.
func pemCerts(b []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

// restartManagement restarts the Cloudera Management Service and waits for
// CM's command to end (verify.command_timeout): its roles then load the
// truststore and reach the console over TLS. A failed command shows CM's
// resultMessage.
func (e *Env) restartManagement(ctx context.Context, step string) error {
	if err := e.API.RestartManagementService(ctx); err != nil {
		var ce *cmapi.CommandError
		if errors.As(err, &ce) {
			return &HostError{Host: e.Server.Name(), Step: step, Err: fmt.Errorf("the Cloudera Management Service restart failed: %w", err),
				Fix: "read the command in CM (Running Commands, Recent Commands) and the roles' logs; re-run once fixed"}
		}
		var te *cmapi.CommandTimeoutError
		if errors.As(err, &te) {
			return &HostError{Host: e.Server.Name(), Step: step, Err: fmt.Errorf("the Cloudera Management Service restart did not end: %w", err),
				Fix: "follow the command in CM (Running Commands); a longer wait is verify.command_timeout in the answers file; re-run once it ended"}
		}
		return fmt.Errorf("restart the Cloudera Management Service: %w", err)
	}
	e.report(Event{Step: step, Host: e.serverName(), Phase: PhaseApply, Status: StatusProgress, Detail: "Cloudera Management Service restarted (its command ended with success)"})
	return nil
}
