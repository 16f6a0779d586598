package steps

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
)

// With console TLS on, the console serves the certificate a renewal
// replaces, and what trusts the console must follow:
//   - the Cloudera Management Service, whose roles reach the server over
//     TLS with the truststore named by its "TLS/SSL Client Truststore File
//     Location" (ssl_client_truststore_location; Cloudera "Configuring TLS
//     for the Cloudera Management Service"). It is a Java truststore,
//     loaded when the roles start: the new certificate is added during
//     phase a and the Management Service restarts before the server
//     switches; the old one is removed after phase c, and it restarts again.
//   - the SAML answers' server.api.ca_file, which cmtls saml uses to reach
//     the console: rewritten with the new certificate once the server
//     serves it (phase b).

// Management Service settings (GET /api/vN/cm/service/config).
const (
	settingMgmtTruststore     = "ssl_client_truststore_location"
	settingMgmtTruststorePass = "ssl_client_truststore_password"
)

// serviceConfigAPI is the part of the CM API client that reads the
// Management Service's settings (cmapi.Client has it).
type serviceConfigAPI interface {
	ServiceConfig(ctx context.Context) ([]cmapi.ConfigItem, error)
}

// mgmtTruststore is the Management Service truststore on the server host.
type mgmtTruststore struct {
	path string
	pass []byte
	ks   *pki.Keystore
	// rekey: the password is not known (CM shows it REDACTED, and it is
	// not the keystore's, e.g. one Step 7 generated): the store is written
	// anew under a fresh password, which is then given to CM.
	rekey bool
}

// serviceConfigSetter sets Management Service settings (cmapi.Client).
type serviceConfigSetter interface {
	SetServiceConfig(ctx context.Context, items map[string]string) error
}

// findMgmtTruststore reads the truststore CM names for the Management
// Service. nil with a note when there is none to update, or it cannot be
// read (the note then says what still trusts only the old certificate).
func findMgmtTruststore(ctx context.Context, env *Env) (*mgmtTruststore, string) {
	api, ok := env.API.(serviceConfigAPI)
	if !ok || env.Server == nil {
		return nil, ""
	}
	items, err := api.ServiceConfig(ctx)
	if err != nil {
		if cmapi.IsNotFound(err) {
			return nil, "" // no Management Service
		}
		return nil, fmt.Sprintf("the Cloudera Management Service settings cannot be read (%v): if it has a truststore (%s), add the new certificate %s to it and restart the Management Service", err, settingMgmtTruststore, env.Answers.Server.PEMPath)
	}
	loc, _ := cmapi.FindByName(items, settingMgmtTruststore)
	p := strings.TrimSpace(loc.Value)
	if p == "" {
		return nil, ""
	}
	still := func(why string) string {
		return fmt.Sprintf("the Cloudera Management Service truststore %s still trusts only the old certificate (%s): add the new one with keytool -importcert -keystore %s -alias cmtls-renew -file %s, then restart the Management Service",
			p, why, p, env.Answers.Server.PEMPath)
	}
	b, err := env.Server.ReadFile(ctx, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, still("it is not on the server host " + env.serverName())
	}
	if err != nil {
		return nil, still(err.Error())
	}
	// CM shows a sensitive setting as REDACTED: then the truststore is
	// tried with the server keystore's password, which the Step 7
	// truststore shares.
	var tries [][]byte
	if pw, _ := cmapi.FindByName(items, settingMgmtTruststorePass); pw.Value != "" && pw.Value != "REDACTED" {
		tries = append(tries, []byte(pw.Value))
	}
	if ts := env.Answers.Server.Truststore; ts != nil && len(ts.Password.Value()) > 0 {
		tries = append(tries, ts.Password.Value()) // what Step 7 wrote it with
	}
	if ks := env.Answers.Server.Keystore; ks != nil && len(ks.Password.Value()) > 0 {
		tries = append(tries, ks.Password.Value())
	}
	for _, pw := range tries {
		if ks, err := pki.ReadKeystore(b, pw); err == nil {
			return &mgmtTruststore{path: p, pass: pw, ks: ks}, ""
		}
	}
	// A truststore holds certificates only, in clear: it can be written
	// anew, every entry kept, under a password cmtls then gives CM.
	if _, ok := env.API.(serviceConfigSetter); ok {
		if ks, err := pki.ReadTruststoreNoPassword(b); err == nil {
			return &mgmtTruststore{path: p, ks: ks, rekey: true}, ""
		}
	}
	return nil, still("cmtls cannot open it with the password it knows")
}

// trustedCerts are the truststore's certificates by alias.
func (t *mgmtTruststore) trustedCerts() map[string]*x509.Certificate {
	out := map[string]*x509.Certificate{}
	for _, a := range t.ks.Aliases() {
		if c, err := t.ks.Certificate(a); err == nil {
			out[a] = c
		}
	}
	return out
}

// trusts reports whether the truststore verifies chain's leaf for the
// server's name, as Java's default trust manager would (an anchor in the
// truststore, the chain's intermediates).
func (t *mgmtTruststore) trusts(chain []*x509.Certificate, host string, env *Env) bool {
	var roots []*x509.Certificate
	for _, c := range t.trustedCerts() {
		if c.Equal(chain[0]) {
			return true
		}
		roots = append(roots, c)
	}
	_, err := pki.VerifyChain(chain[0], chain[1:], roots, host, env.Now())
	return err == nil
}

// oldAliases are the entries that hold exactly the old certificate and are
// not part of the new chain.
func (t *mgmtTruststore) oldAliases(old *x509.Certificate, newChain []*x509.Certificate) []string {
	if old == nil {
		return nil
	}
	for _, c := range newChain {
		if c.Equal(old) {
			return nil
		}
	}
	var out []string
	for a, c := range t.trustedCerts() {
		if c.Equal(old) {
			out = append(out, a)
		}
	}
	return out
}

// write puts the truststore back (backup first, atomic, the mode kept).
func (t *mgmtTruststore) write(ctx context.Context, env *Env) error {
	rnd := env.Rand
	if rnd == nil {
		rnd = pki.DefaultRand
	}
	if t.rekey {
		raw := make([]byte, 18)
		if _, err := io.ReadFull(rnd, raw); err != nil {
			return fmt.Errorf("generate the truststore password: %w", err)
		}
		t.pass = []byte(base64.RawURLEncoding.EncodeToString(raw))
	}
	b, err := t.ks.Encode(t.pass, env.Now(), rnd)
	if err != nil {
		return fmt.Errorf("truststore %s: %w", t.path, err)
	}
	if err := putFileOpt(ctx, env.Server, t.path, b, remote.PutOptions{Backup: true}); err != nil {
		return err
	}
	if t.rekey {
		// the password is sent to CM only, never shown
		if err := env.API.(serviceConfigSetter).SetServiceConfig(ctx, map[string]string{settingMgmtTruststorePass: string(t.pass)}); err != nil {
			return &HostError{Host: env.serverName(), Step: "renew-mgmt-trust", Err: fmt.Errorf("set the Management Service truststore password: %w", err),
				Fix: "the truststore " + t.path + " was written under a new password that CM does not have: put back its backup (" + t.path + ".cmtls-*.bak) or run cmtls renew again"}
		}
		t.rekey = false
	}
	return nil
}

func restartMgmt(ctx context.Context, env *Env, step string) error {
	env.report(Event{Step: step, Host: env.serverName(), Phase: PhaseApply, Status: StatusProgress, Detail: "restarting the Cloudera Management Service"})
	if err := env.API.RestartManagementService(ctx); err != nil {
		return fmt.Errorf("restart the Cloudera Management Service: %w", err)
	}
	return nil
}

// RenewMgmtTrust adds the new certificate to the Management Service
// truststore (the old one stays) and restarts the Management Service,
// before the server switches, so that its roles trust the server across
// the switch.
type RenewMgmtTrust struct {
	r       *renewRun
	planned bool
}

func (*RenewMgmtTrust) Name() string { return "renew-mgmt-trust" }
func (*RenewMgmtTrust) Title() string {
	return "Renew (a): the Cloudera Management Service truststore trusts the new certificate too"
}

func (s *RenewMgmtTrust) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	r := s.r
	s.planned = false
	if r.csrOnly || r.newChain == nil || r.after(renewPhaseSwitch) || !env.consoleTLSOn(ctx) {
		return ch, nil
	}
	ts, note := findMgmtTruststore(ctx, env)
	if note != "" {
		ch.Notes = append(ch.Notes, note)
	}
	if ts == nil {
		return ch, nil
	}
	r.mu.Lock()
	r.mgmtTrust = true
	r.mu.Unlock()
	if ts.trusts(r.newChain, env.Answers.Server.Host, env) {
		ch.Notes = append(ch.Notes, "the Cloudera Management Service truststore "+ts.path+" already trusts the new certificate")
		return ch, nil
	}
	s.planned = true
	ch.Add(Item{Kind: KindKeystore, Target: ts.path + " alias " + trustAlias(r.newChain[0]), Old: "(none)", New: describeCert(r.newChain[0]),
		Note: "backed up first; the old certificate stays until phase c"})
	ch.Add(Item{Kind: KindService, Target: "Cloudera Management Service restart", Note: "loads the truststore before the server switches"})
	return ch, nil
}

// trustAlias names the truststore entry of a certificate.
func trustAlias(c *x509.Certificate) string {
	return "cmtls-" + strings.ToLower(strings.ReplaceAll(pki.SHA256Fingerprint(c), ":", ""))[:16]
}

func (s *RenewMgmtTrust) Apply(ctx context.Context, env *Env) error {
	if !s.planned {
		return nil
	}
	r := s.r
	ts, note := findMgmtTruststore(ctx, env)
	if ts == nil {
		return errors.New(orDefault(note, "the Cloudera Management Service truststore is gone since the plan"))
	}
	if !ts.trusts(r.newChain, env.Answers.Server.Host, env) {
		ts.ks.SetTrustedCert(trustAlias(r.newChain[0]), r.newChain[0])
		if err := ts.write(ctx, env); err != nil {
			return err
		}
	}
	return restartMgmt(ctx, env, s.Name())
}

func (s *RenewMgmtTrust) Verify(ctx context.Context, env *Env) error {
	if !s.planned {
		return nil
	}
	ts, note := findMgmtTruststore(ctx, env)
	if ts == nil || !ts.trusts(s.r.newChain, env.Answers.Server.Host, env) {
		return fmt.Errorf("the Cloudera Management Service truststore does not trust the new certificate after the change %s", note)
	}
	return nil
}

// RenewMgmtTrustDrop removes the old certificate from the Management
// Service truststore after phase c (not with --keep-old) and restarts the
// Management Service, awaited.
type RenewMgmtTrustDrop struct {
	r       *renewRun
	planned bool
}

func (*RenewMgmtTrustDrop) Name() string { return "renew-mgmt-trust-drop" }
func (*RenewMgmtTrustDrop) Title() string {
	return "Renew (c): the old certificate leaves the Cloudera Management Service truststore"
}

func (s *RenewMgmtTrustDrop) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	r := s.r
	s.planned = false
	if r.opts.KeepOld || r.csrOnly || r.newChain == nil || !env.consoleTLSOn(ctx) {
		return ch, nil
	}
	ts, _ := findMgmtTruststore(ctx, env)
	if ts == nil {
		return ch, nil
	}
	old := ts.oldAliases(r.oldLeaf, r.newChain)
	if len(old) == 0 {
		return ch, nil
	}
	s.planned = true
	for _, a := range old {
		ch.Add(Item{Kind: KindKeystore, Target: ts.path + " alias " + a, Old: describeCert(r.oldLeaf), New: "(removed)", Note: "backed up first"})
	}
	ch.Add(Item{Kind: KindService, Target: "Cloudera Management Service restart", Note: "trusts the new certificate alone"})
	return ch, nil
}

func (s *RenewMgmtTrustDrop) Apply(ctx context.Context, env *Env) error {
	r := s.r
	if !s.planned || len(env.Failed()) > 0 || (r.phase() != renewPhaseDone && r.phase() != renewPhaseDropOld) {
		return nil
	}
	ts, note := findMgmtTruststore(ctx, env)
	if ts == nil {
		return errors.New(orDefault(note, "the Cloudera Management Service truststore is gone since the plan"))
	}
	if !ts.trusts(r.newChain, env.Answers.Server.Host, env) {
		return &HostError{Host: env.serverName(), Step: s.Name(), Err: fmt.Errorf("the truststore %s does not trust the new certificate: the old one is kept", ts.path),
			Fix: "run cmtls renew again: phase a adds the new certificate first"}
	}
	old := ts.oldAliases(r.oldLeaf, r.newChain)
	if len(old) == 0 {
		return nil
	}
	for _, a := range old {
		ts.ks.DeleteEntry(a)
	}
	if err := ts.write(ctx, env); err != nil {
		return err
	}
	return restartMgmt(ctx, env, s.Name())
}

func (s *RenewMgmtTrustDrop) Verify(ctx context.Context, env *Env) error {
	r := s.r
	if !s.planned || r.phase() != renewPhaseDone {
		return nil
	}
	ts, note := findMgmtTruststore(ctx, env)
	if ts == nil {
		return errors.New(note)
	}
	if !ts.trusts(r.newChain, env.Answers.Server.Host, env) || len(ts.oldAliases(r.oldLeaf, r.newChain)) > 0 {
		return fmt.Errorf("the truststore %s is not the new certificate without the old one", ts.path)
	}
	return nil
}

// RenewSAMLTrust rewrites the SAML answers' server.api.ca_file with the
// new certificate once the server serves it (a backup is kept), so that
// cmtls saml keeps reaching the console.
type RenewSAMLTrust struct {
	r       *renewRun
	planned bool
}

func (*RenewSAMLTrust) Name() string { return "renew-saml-ca" }
func (*RenewSAMLTrust) Title() string {
	return "Renew (b): the SAML answers' server.api.ca_file trusts the new certificate"
}

func (s *RenewSAMLTrust) local() remote.Host { return remote.NewLocal("localhost") }

func (s *RenewSAMLTrust) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	r := s.r
	s.planned = false
	p := r.opts.SAMLCAFile
	if p == "" || r.csrOnly || r.newChain == nil || !env.consoleTLSOn(ctx) {
		return ch, nil
	}
	cur, err := s.local().ReadFile(ctx, p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ch, &InputError{Err: fmt.Errorf("server.api.ca_file of %s: %w", orDefault(r.opts.SAMLAnswers, "the SAML answers"), err),
			Fix: "check the SAML answers' server.api.ca_file (or leave --saml-answers out)"}
	}
	want := agentPEMOf(r.newChain)
	if bytes.Equal(cur, want) {
		ch.Notes = append(ch.Notes, "the SAML answers' server.api.ca_file "+p+" already holds the new certificate")
		return ch, nil
	}
	s.planned = true
	ch.Add(Item{Kind: KindFile, Target: p, Old: "sha256:" + shortSum(cur), New: "sha256:" + shortSum(want) + " (the new certificate)",
		Note: "server.api.ca_file of " + orDefault(r.opts.SAMLAnswers, "the SAML answers") + ", on this machine; backed up first"})
	return ch, nil
}

func (s *RenewSAMLTrust) Apply(ctx context.Context, env *Env) error {
	r := s.r
	if !s.planned || len(env.Failed()) > 0 || !r.after(renewPhaseSwitch) {
		return nil
	}
	if _, err := s.local().PutFile(ctx, r.opts.SAMLCAFile, agentPEMOf(r.newChain), remote.PutOptions{Backup: true}); err != nil {
		return fmt.Errorf("write %s: %w", r.opts.SAMLCAFile, err)
	}
	return nil
}

func (s *RenewSAMLTrust) Verify(ctx context.Context, env *Env) error {
	r := s.r
	if !s.planned || !r.after(renewPhaseSwitch) {
		return nil
	}
	b, err := s.local().ReadFile(ctx, r.opts.SAMLCAFile)
	if err != nil {
		return err
	}
	certs, err := pki.ParseCertificates(b)
	if err != nil || len(certs) == 0 || !certs[0].Equal(r.newChain[0]) {
		return fmt.Errorf("%s does not hold the new certificate after the change", r.opts.SAMLCAFile)
	}
	return nil
}
