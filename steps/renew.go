package steps

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps/agentcfg"
)

// RenewOptions steer `cmtls renew`.
type RenewOptions struct {
	// KeepOld leaves the old certificate in the agents' PEM bundle (phase
	// c is skipped).
	KeepOld bool
	// CSR, when set, is the local file `renew --csr` writes the new key's
	// certificate signing request to; the run stops there, and the next
	// one, with server.keystore.import naming the CA-signed certificate,
	// continues.
	CSR string
	// Rollback takes the cluster back to the key and certificate it had
	// before the last renewal (kept as <keystore>.cmtls-renew-previous),
	// through the same three phases, so that going back has no gap either.
	Rollback bool
	// SAMLCAFile, when set, is the SAML answers' server.api.ca_file (a
	// local path): with console TLS on it is rewritten with the new
	// certificate once the server serves it (a backup kept). SAMLAnswers
	// names the SAML answers file, for messages.
	SAMLCAFile, SAMLAnswers string
}

// NewRenewSteps returns the steps of a certificate renewal with no gap in
// the agents' heartbeats. An agent loads verify_cert_file once ("The file
// is loaded once, the first time an HTTPS connection is attempted. A
// restart of the agent is required to pick up changes to the file": the
// agent's shipped config.ini) and refuses a server certificate that does
// not verify against it, so the server cannot simply switch: first every
// agent trusts the old
// and the new certificate (a PEM bundle) and restarts, still heartbeating
// to the old one (a); then the server switches its keystore and restarts,
// and every agent heartbeats on the new certificate (b); then the old
// certificate leaves the bundle and the agents restart once more (c).
// Each phase is planned, backed up, verified, and recorded in a state file
// beside the keystore, so an interrupted renewal continues.
func NewRenewSteps(o RenewOptions) []Step {
	r := &renewRun{opts: o}
	return []Step{&RenewCert{r: r}, &RenewBundle{r: r}, &RenewMgmtTrust{r: r}, &RenewSwitch{r: r}, &RenewSAMLTrust{r: r}, &RenewDropOld{r: r}, &RenewMgmtTrustDrop{r: r}}
}

// renewRun is what the renewal's steps share: what the first step's Plan
// decided (the new certificate, the state) is read by the later ones, so
// it is one explicit value handed to each step, not the Env's.
type renewRun struct {
	opts RenewOptions

	mu sync.Mutex
	// st is the state on disk when planning began (nil: none), or the
	// state this run starts.
	st *renewState
	// fresh: this run starts the renewal (no state file, or a finished one).
	fresh bool
	// staging is the keystore with the new key to write (nil: on disk
	// already).
	staging []byte
	// oldPEM and newPEM are what the agents trust before and after.
	oldPEM, newPEM []byte
	oldLeaf        *x509.Certificate
	newChain       []*x509.Certificate
	// previous is the keystore as it was before this renewal, to keep
	// for a rollback (nil: not written in this run).
	previous []byte
	// csrOnly: `renew --csr` this run; the later phases do nothing.
	csrOnly bool
	csr     []byte
	// mgmtTrust: the Management Service truststore is kept up to date by
	// this run (its Plan found and opened it).
	mgmtTrust bool
	// verified holds the agents that heartbeated in this run after the
	// phase's restart, per phase.
	verified map[string]map[string]bool
}

func (r *renewRun) phase() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st == nil {
		return ""
	}
	return r.st.Phase
}

// after reports whether the recorded phase is past p (p was done in an
// earlier run).
func (r *renewRun) after(p string) bool {
	order := []string{renewPhaseCSR, renewPhaseBundle, renewPhaseSwitch, renewPhaseDropOld, renewPhaseDone}
	return slices.Index(order, r.phase()) > slices.Index(order, p)
}

func (r *renewRun) bundle() []byte {
	return append(append([]byte{}, r.newPEM...), r.oldPEM...)
}

func (r *renewRun) markVerified(phase, host string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.verified == nil {
		r.verified = map[string]map[string]bool{}
	}
	if r.verified[phase] == nil {
		r.verified[phase] = map[string]bool{}
	}
	r.verified[phase][host] = true
}

func (r *renewRun) isVerified(phase, host string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.verified[phase][host]
}

// setPhase records phase in the state file on the server (atomically, 0600).
func (r *renewRun) setPhase(ctx context.Context, env *Env, phase string) error {
	r.mu.Lock()
	r.st.Phase = phase
	b, err := json.MarshalIndent(r.st, "", "  ")
	r.mu.Unlock()
	if err != nil {
		return err
	}
	return putFileOpt(ctx, env.Server, renewStatePath(env.Answers.Server.Keystore.Path), append(b, '\n'), remote.PutOptions{Mode: 0o600})
}

// RenewCert is the renewal's first step and its pre-flight: the cluster is
// at TLS level 2, the new key and certificate are made (or the CA-signed
// one is read), and the new certificate names every agent's server_host
// as written, before anything changes. The new key waits in a staging
// keystore beside the keystore until the switch.
type RenewCert struct{ r *renewRun }

func (*RenewCert) Name() string { return "renew-cert" }
func (*RenewCert) Title() string {
	return "Renew: the new key and certificate, checked against every agent (pre-flight)"
}

// notLevel2 is the bad input of a renewal on a cluster that init has not
// taken to level 2.
func notLevel2(format string, args ...any) error {
	return inputErrorf("run cmtls init first: renew replaces the certificate of a cluster already at TLS level 2",
		"the cluster is not at TLS level 2: "+format, args...)
}

func (s *RenewCert) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	r := s.r
	srv := env.Answers.Server
	ks := srv.Keystore
	now := env.Now()

	cfg, err := env.API.Config(ctx)
	if err != nil {
		return ch, fmt.Errorf("read CM settings: %w", err)
	}
	if it, _ := cmapi.FindByName(cfg, settingAgentTLS); !isTrue(it.Value) {
		return ch, notLevel2("AGENT_TLS (Use TLS Encryption for Agents) is off on the server")
	}
	st, err := readRenewState(ctx, env)
	if err != nil {
		return ch, err
	}
	oldKey, oldChain, err := readKeyEntry(ctx, env, ks.Path)
	if err != nil {
		return ch, err
	}
	if oldKey == nil {
		return ch, notLevel2("the keystore %s has no key entry %q on the server", ks.Path, ks.Alias)
	}
	r.st, r.fresh = st, st == nil || st.Phase == renewPhaseDone
	// Before the switch, the keystore of the answers must be the one the
	// server serves: the agents' bundle is built from it, and a bundle
	// without the certificate the server actually serves cuts every agent
	// off at its restart.
	if r.fresh || st.Phase == renewPhaseCSR || st.Phase == renewPhaseBundle {
		if it, _ := cmapi.FindByName(cfg, settingKeystorePath); it.Value != ks.Path {
			return ch, inputErrorf("give server.keystore.path the keystore the server uses (KEYSTORE_PATH), or run cmtls init with these answers first",
				"the server's keystore (KEYSTORE_PATH) is %s, not server.keystore.path %s; nothing was changed", orDash(it.Value), ks.Path)
		}
		switch why := env.probeHeartbeatPort(ctx, oldChain[0]); {
		case why == "":
		case strings.HasPrefix(why, "cannot reach"):
			env.report(Event{Step: s.Name(), Host: env.serverName(), Phase: PhasePlan, Status: StatusWarn,
				Detail: why + "; the agents' heartbeats will tell"})
		default:
			return ch, inputErrorf("the server has not loaded its keystore: run cmtls init (it restarts the server when the heartbeat port serves another certificate), then renew",
				"%s, not the one the keystore %s holds (%s); nothing was changed", why, ks.Path, describeCert(oldChain[0]))
		}
	}

	if r.opts.Rollback && !r.fresh {
		return ch, inputErrorf("finish it first with cmtls renew (it continues where it stopped), then roll back",
			"a renewal is under way (phase %s): there is no finished renewal to roll back", renewPhaseText[st.Phase])
	}
	switch {
	case !r.fresh && st.Phase != renewPhaseCSR:
		if err := s.resume(ctx, env, st); err != nil {
			return ch, err
		}
		ch.Notes = append(ch.Notes, fmt.Sprintf("continuing the renewal begun %s, at phase %s", fmtTime(st.Started), renewPhaseText[st.Phase]))
	case !r.fresh: // waiting for the CA-signed certificate
		if err := s.importSigned(ctx, env, st); err != nil {
			return ch, err
		}
		if r.previous, err = env.Server.ReadFile(ctx, ks.Path); err != nil {
			return ch, fmt.Errorf("read the keystore %s on the server: %w", ks.Path, err)
		}
		ch.Add(Item{Kind: KindKeystore, Target: renewStagingPath(ks.Path) + " alias " + ks.Alias, Old: "the key of the CSR, " + describeCert(mustLeafOfState(st)),
			New: describeCert(r.newChain[0]) + " 0600", Note: "the CA-signed certificate for the key of the CSR"})
	default:
		r.st = &renewState{Version: 1, Started: now.UTC(), OldPEM: string(agentPEMOf(oldChain)), OldSHA256: pki.SHA256Fingerprint(oldChain[0])}
		// the keystore as it is now is kept: a rollback goes back to it
		r.previous, err = env.Server.ReadFile(ctx, ks.Path)
		if err != nil {
			return ch, fmt.Errorf("read the keystore %s on the server: %w", ks.Path, err)
		}
		what := "a new key and certificate, waiting for the switch (phase b)"
		if r.opts.Rollback {
			if err := s.previousKey(ctx, env, oldChain, now); err != nil {
				return ch, err
			}
			what = "the key and certificate from before the last renewal, waiting for the switch (phase b)"
		} else if err := s.newKey(env, oldKey, oldChain, now); err != nil {
			return ch, err
		}
		if r.csrOnly {
			what = "a new key and a placeholder certificate, waiting for the CA-signed one"
		}
		ch.Add(Item{Kind: KindKeystore, Target: renewStagingPath(ks.Path) + " alias " + ks.Alias, New: describeCert(r.newChain[0]) + " 0600", Note: what})
	}
	r.oldPEM = []byte(r.st.OldPEM)
	if olds, err := pki.ParseCertificates(r.oldPEM); err == nil && len(olds) > 0 {
		r.oldLeaf = olds[0]
	}
	leaf := r.newChain[0]

	if r.csrOnly {
		ch.Add(Item{Host: "local", Kind: KindFile, Target: r.opts.CSR, New: "certificate signing request for " + leaf.Subject.String() + " SAN [" + pki.SANString(leaf) + "]"})
		ch.Add(Item{Kind: KindFile, Target: renewStatePath(ks.Path), New: "phase " + renewPhaseCSR})
		return ch, nil
	}
	// Pre-flight: the new certificate names every agent's server_host, is
	// valid long enough, and every agent is at level 2 already.
	if err := env.preflight("renew-cert", leaf); err != nil {
		return ch, err
	}
	var notVerifying []string
	for _, a := range env.live() {
		if ini := env.Facts().Agent(a.Name).INI; ini != nil && !ini.tlsVerified() {
			notVerifying = append(notVerifying, fmt.Sprintf("%s (use_tls=%s, verify_cert_file=%s)", a.Name, orDash(ini.UseTLS), orDash(ini.VerifyCertFile)))
		}
	}
	if len(notVerifying) > 0 {
		return ch, notLevel2("%d agent(s) do not verify the server certificate: %s", len(notVerifying), strings.Join(notVerifying, ", "))
	}
	if left := leaf.NotAfter.Sub(now); left < MinRemainingValidity {
		return ch, inputErrorf("issue a certificate valid for longer (server.keystore.generate.validity_days, or a new CA-signed one)",
			"the new certificate expires %s (in %d days); it must be valid for at least 30 more days", leaf.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
	}
	if leaf.NotBefore.After(now) {
		return ch, inputErrorf("check the clocks of this machine and of the certificate's issuer", "the new certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if r.previous != nil {
		ch.Add(Item{Kind: KindFile, Target: renewPreviousPath(ks.Path), New: "the keystore as it is now 0600", Note: "cmtls renew --rollback goes back to it"})
	}
	if r.fresh || r.staging != nil {
		ch.Add(Item{Kind: KindFile, Target: renewStatePath(ks.Path), New: "phase " + renewPhaseBundle, Note: "the renewal's state: a cut-off renew continues from it"})
		ch.Notes = append(ch.Notes, "old: "+describeCert(r.oldLeaf), "new: "+describeCert(leaf))
	}
	return ch, nil
}

func mustLeafOfState(st *renewState) *x509.Certificate {
	if c, err := pki.ParseCertificates([]byte(st.NewPEM)); err == nil && len(c) > 0 {
		return c[0]
	}
	return &x509.Certificate{}
}

// readKeyEntry opens a keystore on the server and returns its key entry
// (nil when the file or the entry is missing).
func readKeyEntry(ctx context.Context, env *Env, p string) (crypto.Signer, []*x509.Certificate, error) {
	ks := env.Answers.Server.Keystore
	data, err := env.Server.ReadFile(ctx, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read the keystore %s on the server: %w", p, err)
	}
	store, err := pki.ReadKeystore(data, ks.Password.Value())
	if err != nil {
		return nil, nil, &InputError{Err: fmt.Errorf("keystore %s: %w", p, err), Fix: keystoreOpenFix(err, ks)}
	}
	if !store.IsKeyEntry(ks.Alias) {
		return nil, nil, nil
	}
	key, chain, err := store.PrivateKeyEntry(ks.Alias, ks.Password.Value())
	if err != nil {
		return nil, nil, &InputError{Err: fmt.Errorf("keystore %s alias %s: %w", p, ks.Alias, err), Fix: keystoreOpenFix(err, ks)}
	}
	return key, chain, nil
}

// agentPEMOf is what agents trust for a chain: every certificate, leaf first.
func agentPEMOf(chain []*x509.Certificate) []byte {
	var b []byte
	for _, c := range chain {
		b = append(b, pki.EncodePEM(c.Raw)...)
	}
	return b
}

// resume takes the new certificate from the state file and the staging
// keystore (or, after the switch, the keystore itself).
func (s *RenewCert) resume(ctx context.Context, env *Env, st *renewState) error {
	r := s.r
	ks := env.Answers.Server.Keystore
	p := renewStagingPath(ks.Path)
	if st.Phase == renewPhaseDropOld {
		p = ks.Path
	}
	key, chain, err := readKeyEntry(ctx, env, p)
	if err != nil {
		return err
	}
	if key == nil {
		return &InputError{Err: fmt.Errorf("the renewal in %s (phase %s) has lost its new key: %s is missing", renewStatePath(ks.Path), st.Phase, p),
			Fix: "move " + renewStatePath(ks.Path) + " away to start the renewal over (the agents keep the PEM bundle until then)"}
	}
	if pki.SHA256Fingerprint(chain[0]) != st.NewSHA256 {
		return &InputError{Err: fmt.Errorf("%s does not hold the certificate the renewal in %s began with", p, renewStatePath(ks.Path)),
			Fix: "move " + renewStatePath(ks.Path) + " away to start the renewal over"}
	}
	r.newChain = chain
	r.newPEM = agentPEMOf(chain)
	return nil
}

// importSigned reads the CA-signed certificate for the key a `renew --csr`
// left in the staging keystore: it must be for that key (else refused).
func (s *RenewCert) importSigned(ctx context.Context, env *Env, st *renewState) error {
	ks := env.Answers.Server.Keystore
	if ks.Import == nil || ks.Import.Cert == "" {
		return inputErrorf("add server.keystore.import.cert (with .chain) naming the certificate the CA signed for the CSR, and run cmtls renew again; or move "+renewStatePath(ks.Path)+" away to start over",
			"the renewal waits for the CA-signed certificate of the CSR it wrote (%s)", fmtTime(st.Started))
	}
	key, _, err := readKeyEntry(ctx, env, renewStagingPath(ks.Path))
	if err != nil {
		return err
	}
	if key == nil {
		return &InputError{Err: fmt.Errorf("the key of the CSR is missing: %s", renewStagingPath(ks.Path)),
			Fix: "move " + renewStatePath(ks.Path) + " away and run cmtls renew --csr again"}
	}
	certs, err := readImportCerts(env)
	if err != nil {
		return err
	}
	chain, err := pki.BuildImportChain(key, certs, nil, env.Now())
	if err != nil {
		if errors.Is(err, pki.ErrKeyMismatch) {
			return &InputError{Err: fmt.Errorf("server.keystore.import.cert is not for the key of the CSR cmtls renew --csr wrote: %w", err),
				Fix: "give the certificate the CA issued for that CSR (its public key must be the CSR's); nothing was changed"}
		}
		return &InputError{Err: fmt.Errorf("server.keystore.import: %w", err), Fix: hint(err)}
	}
	return s.setNew(env, key, chain)
}

// readImportCerts reads server.keystore.import's certificate and chain.
func readImportCerts(env *Env) ([]*x509.Certificate, error) {
	im := env.Answers.Server.Keystore.Import
	var certs []*x509.Certificate
	for _, p := range []string{im.Cert, im.Chain} {
		if p == "" {
			continue
		}
		b, err := os.ReadFile(env.Answers.ExpandPath(p))
		if err != nil {
			return nil, &InputError{Err: fmt.Errorf("server.keystore.import: %w", err), Fix: "check the paths under server.keystore.import (relative to the answers file)"}
		}
		cs, err := pki.ParseCertificates(b)
		if err != nil {
			return nil, &InputError{Err: fmt.Errorf("server.keystore.import %s: %w", p, err), Fix: hint(err)}
		}
		certs = append(certs, cs...)
	}
	return certs, nil
}

// setNew makes the staging keystore for key and chain.
func (s *RenewCert) setNew(env *Env, key crypto.Signer, chain []*x509.Certificate) error {
	r := s.r
	ks := env.Answers.Server.Keystore
	b, err := pki.EncodeKeystore(ks.Type, ks.Alias, key, chain, ks.Password.Value(), env.Now(), env.Rand)
	if err != nil {
		return &InputError{Err: fmt.Errorf("keystore %s: %w", renewStagingPath(ks.Path), err), Fix: hint(err)}
	}
	r.staging, r.newChain, r.newPEM = b, chain, agentPEMOf(chain)
	r.st.NewPEM, r.st.NewSHA256 = string(r.newPEM), pki.SHA256Fingerprint(chain[0])
	return nil
}

// newKey makes the new key and certificate of a renewal that starts: a
// CA-signed one from server.keystore.import (with its key), a CSR for a
// new key (--csr), or a new self-signed certificate with the old one's
// subject and SANs unless the answers give others.
func (s *RenewCert) newKey(env *Env, oldKey crypto.Signer, oldChain []*x509.Certificate, now time.Time) error {
	r := s.r
	srv := env.Answers.Server
	ks := srv.Keystore
	old := oldChain[0]
	if ks.Import != nil && r.opts.CSR == "" {
		if ks.Import.Key == "" {
			return inputErrorf("run cmtls renew --csr FILE first (it makes the new key and its CSR), have the CA sign it, then give the certificate in server.keystore.import",
				"server.keystore.import has no key, and no cmtls renew --csr is waiting for its certificate")
		}
		b, err := os.ReadFile(env.Answers.ExpandPath(ks.Import.Key))
		if err != nil {
			return &InputError{Err: fmt.Errorf("server.keystore.import.key: %w", err), Fix: "check the paths under server.keystore.import (relative to the answers file)"}
		}
		key, err := pki.ParsePrivateKey(b)
		if err != nil {
			return &InputError{Err: fmt.Errorf("server.keystore.import.key: %w", err), Fix: hint(err)}
		}
		certs, err := readImportCerts(env)
		if err != nil {
			return err
		}
		chain, err := pki.BuildImportChain(key, certs, nil, now)
		if err != nil {
			return &InputError{Err: fmt.Errorf("server.keystore.import: %w", err), Fix: hint(err)}
		}
		if chain[0].Equal(old) {
			return inputErrorf("give server.keystore.import the new certificate the CA issued",
				"server.keystore.import.cert is the certificate the server has now: there is nothing to renew")
		}
		return s.setNew(env, key, chain)
	}
	alg, size := keyKind(oldKey)
	opts := pki.CertOptions{ValidityDays: int(old.NotAfter.Sub(old.NotBefore).Hours()/24 + 0.5)}
	if g := ks.Generate; g != nil {
		alg, size = g.KeyAlgorithm, g.KeySize
		if g.ValidityDays > 0 {
			opts.ValidityDays = g.ValidityDays
		}
	}
	key, err := pki.GenerateKey(env.Rand, alg, size)
	if err != nil {
		return &InputError{Err: fmt.Errorf("generate key: %w", err), Fix: hint(err)}
	}
	opts.Subject = nameOf(old)
	opts.Subject.CN = srv.Host
	if g := ks.Generate; g != nil && g.Subject != nil {
		sub := g.Subject
		opts.Subject = pki.Name{CN: srv.Host, OU: sub.OU, O: sub.O, L: sub.L, ST: sub.ST, C: sub.C}
	}
	// OpenSSL, the agents' TLS library, looks trusted certificates up by
	// subject: of two in one PEM with one subject it finds the second only
	// when both carry key identifiers (checked with openssl verify 3.0). An
	// old certificate without an authority key identifier (keytool makes
	// none) gets a successor with a subject of its own, so the bundle of
	// phase (a) verifies either certificate; the CN and SANs, what the
	// agent's host check reads, stay.
	if opts.Subject == nameOf(old) && len(old.AuthorityKeyId) == 0 {
		opts.Subject.SerialNumber = "cmtls renewal " + now.UTC().Format("20060102T150405Z")
	}
	names := append([]string{srv.Host}, old.DNSNames...)
	for _, ip := range old.IPAddresses {
		names = append(names, ip.String())
	}
	if g := ks.Generate; g != nil && len(g.SAN) > 0 {
		names = append([]string{srv.Host}, g.SAN...)
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			if !slices.ContainsFunc(opts.IPs, ip.Equal) {
				opts.IPs = append(opts.IPs, ip)
			}
		} else if !slices.Contains(opts.DNSNames, n) {
			opts.DNSNames = append(opts.DNSNames, n)
		}
	}
	cert, err := pki.SelfSigned(env.Rand, key, opts, now)
	if err != nil {
		return &InputError{Err: fmt.Errorf("self-signed certificate: %w", err), Fix: hint(err)}
	}
	if err := s.setNew(env, key, []*x509.Certificate{cert}); err != nil {
		return err
	}
	if r.opts.CSR != "" {
		der, err := pki.CreateCSR(env.Rand, key, cert)
		if err != nil {
			return err
		}
		r.csrOnly, r.csr = true, pki.EncodeCSRPEM(der)
		r.st.CSR = string(r.csr)
		// the placeholder is not what the agents will trust
		r.st.NewSHA256 = ""
	}
	return nil
}

// previousKey takes the key and certificate from before the last renewal
// as the "new" ones of this run: a rollback is a renewal back to them.
func (s *RenewCert) previousKey(ctx context.Context, env *Env, current []*x509.Certificate, now time.Time) error {
	ks := env.Answers.Server.Keystore
	p := renewPreviousPath(ks.Path)
	key, chain, err := readKeyEntry(ctx, env, p)
	if err != nil {
		return err
	}
	if key == nil {
		return inputErrorf("there is nothing to roll back to: cmtls renew keeps the keystore it replaces as "+p,
			"no keystore from before a renewal on the server (%s)", p)
	}
	if chain[0].Equal(current[0]) {
		return inputErrorf("there is nothing to roll back to", "%s holds the certificate the server has now", p)
	}
	if !now.Before(chain[0].NotAfter) {
		return inputErrorf("renew instead: the previous certificate cannot serve again",
			"the certificate from before the renewal expired %s", chain[0].NotAfter.UTC().Format(time.DateOnly))
	}
	return s.setNew(env, key, chain)
}

// keyKind says how to make a key like k: its algorithm and size.
func keyKind(k crypto.Signer) (string, int) {
	switch p := k.Public().(type) {
	case *rsa.PublicKey:
		return "RSA", p.N.BitLen()
	case *ecdsa.PublicKey:
		return "EC", p.Curve.Params().BitSize
	}
	return "", 0
}

// nameOf is a certificate subject as pki.Name (first value of each).
func nameOf(c *x509.Certificate) pki.Name {
	first := func(v []string) string {
		if len(v) == 0 {
			return ""
		}
		return v[0]
	}
	s := c.Subject
	return pki.Name{CN: s.CommonName, OU: first(s.OrganizationalUnit), O: first(s.Organization), L: first(s.Locality), ST: first(s.Province), C: first(s.Country)}
}

func (s *RenewCert) Apply(ctx context.Context, env *Env) error {
	r := s.r
	ks := env.Answers.Server.Keystore
	if r.staging != nil {
		// CM's server runs as cloudera-scm and reads the keystore the
		// staging file becomes; where that user exists it owns both.
		opt := remote.PutOptions{Mode: 0o600}
		if res, err := env.Server.Run(ctx, "id -u cloudera-scm >/dev/null 2>&1", nil); err == nil && res.Code == 0 {
			opt.Owner, opt.Group = "cloudera-scm", "cloudera-scm"
		}
		if err := putFileOpt(ctx, env.Server, renewStagingPath(ks.Path), r.staging, opt); err != nil {
			return err
		}
	}
	if r.previous != nil && !r.csrOnly {
		opt := remote.PutOptions{Mode: 0o600}
		if res, err := env.Server.Run(ctx, "id -u cloudera-scm >/dev/null 2>&1", nil); err == nil && res.Code == 0 {
			opt.Owner, opt.Group = "cloudera-scm", "cloudera-scm"
		}
		if err := putFileOpt(ctx, env.Server, renewPreviousPath(ks.Path), r.previous, opt); err != nil {
			return err
		}
	}
	if r.csrOnly {
		if err := writeLocalFile(r.opts.CSR, r.csr, 0o644); err != nil {
			return fmt.Errorf("write the CSR: %w", err)
		}
		return r.setPhase(ctx, env, renewPhaseCSR)
	}
	if r.fresh || r.staging != nil {
		return r.setPhase(ctx, env, renewPhaseBundle)
	}
	return nil
}

// writeLocalFile writes data to p on this machine atomically.
func writeLocalFile(p string, data []byte, mode os.FileMode) error {
	_, err := remote.NewLocal("localhost").PutFile(context.Background(), p, data, remote.PutOptions{Mode: mode, Backup: true})
	return err
}

func (s *RenewCert) Verify(ctx context.Context, env *Env) error {
	r := s.r
	ks := env.Answers.Server.Keystore
	if r.phase() == renewPhaseDropOld || r.phase() == renewPhaseDone {
		return nil // the staging keystore is the keystore now
	}
	_, chain, err := readKeyEntry(ctx, env, renewStagingPath(ks.Path))
	if err != nil {
		return err
	}
	if len(chain) == 0 || !chain[0].Equal(r.newChain[0]) {
		return fmt.Errorf("%s does not hold the new certificate", renewStagingPath(ks.Path))
	}
	st, err := readRenewState(ctx, env)
	if err != nil || st == nil {
		return fmt.Errorf("read back the renewal state: %v", err)
	}
	if r.csrOnly {
		env.report(Event{Step: s.Name(), Host: env.serverName(), Phase: PhaseVerify, Status: StatusProgress,
			Detail: "CSR written to " + r.opts.CSR + ": have the CA sign it, put the certificate (and chain) in server.keystore.import and run cmtls renew again"})
	}
	return nil
}

// agentPhase is phases a and c: every agent's PEM becomes pem, and the
// agents whose PEM changed restart, the canary first, each verified by a
// heartbeat over TLS verified against it.
func (r *renewRun) agentPhase(ctx context.Context, env *Env, step string, pem []byte) {
	// which agents need the change: read first, so that the canary is one
	// of them and the others stay untouched until it is verified
	agents := env.live()
	need := make([]bool, len(agents))
	forEach(ctx, agents, env.parallelism(), func(ctx context.Context, a *Agent) {
		p, err := agentcfg.Plan(ctx, a.Host, env.agentSpec(a, pem))
		if err != nil {
			env.fail(&HostError{Host: a.Name, Step: step, Err: err, Fix: hint(err)})
			return
		}
		p.Release()
		need[slices.Index(agents, a)] = p.Restart
	})
	var todo []*Agent
	for i, a := range agents {
		if need[i] && !env.isFailed(a.Name) {
			todo = append(todo, a)
		}
	}
	c := min(env.canary(), len(todo))
	if c > 0 {
		r.agentWave(ctx, env, step, pem, todo[:c])
		if len(liveOf(env, todo[:c])) == 0 && len(todo) > c {
			for _, a := range todo[c:] {
				env.fail(&HostError{Host: a.Name, Step: step, Err: errors.New("left unchanged: the canary failed"), Fix: "fix the canary host and re-run cmtls renew"})
			}
			return
		}
	}
	if len(todo) > c {
		r.agentWave(ctx, env, step, pem, todo[c:])
	}
}

// agentWave writes pem on each of as (backup first), restarts them and
// waits for each one's heartbeat over TLS verified against it.
func (r *renewRun) agentWave(ctx context.Context, env *Env, step string, pem []byte, as []*Agent) {
	forEach(ctx, as, env.parallelism(), func(ctx context.Context, a *Agent) {
		p, err := agentcfg.Plan(ctx, a.Host, env.agentSpec(a, pem))
		if err == nil && p.Changed() {
			var applied *agentcfg.Applied
			if applied, err = agentcfg.Apply(ctx, a.Host, p, env.Now()); err == nil {
				// the restart owed until restartAgents does it (a
				// cut-off run restarts this agent next time)
				_, _ = a.Host.Run(ctx, ": > "+remote.Quote(agentcfg.PendingPath(a.ConfigPath)), nil)
				detail := "PEM " + a.PEMDest + " written"
				if applied.BackupPath != "" {
					detail += "; backup " + applied.BackupPath
				}
				env.report(Event{Step: step, Host: a.Name, Phase: PhaseApply, Status: StatusChanged, Detail: detail})
			}
		} else if err == nil {
			p.Release()
		}
		if err != nil {
			env.fail(&HostError{Host: a.Name, Step: step, Err: err, Fix: hint(err)})
		}
	})
	live := liveOf(env, as)
	prog := &progress{}
	env.each(ctx, step, live, func(ctx context.Context, a *Agent) error {
		return env.restartAgent(ctx, step, a, prog, len(live))
	})
	live = liveOf(env, live)
	since := map[string]time.Time{}
	for _, a := range live {
		since[a.Name], _ = env.Done().RestartTime(a.Name)
	}
	live = liveOf(env, live)
	env.waitHeartbeats(ctx, step, live, since, true)
	for _, a := range liveOf(env, live) {
		r.markVerified(step, a.Name)
	}
}

// agentPlanItems is the plan of phases a and c: the PEM of every agent
// that changes, and its restart.
func (r *renewRun) agentPlanItems(ctx context.Context, env *Env, step string, pem []byte, what string) []Item {
	agents := env.live()
	items := make([][]Item, len(agents))
	forEach(ctx, agents, env.parallelism(), func(ctx context.Context, a *Agent) {
		i := slices.Index(agents, a)
		p, err := agentcfg.Plan(ctx, a.Host, env.agentSpec(a, pem))
		if err != nil {
			env.fail(&HostError{Host: a.Name, Step: step, Err: err, Fix: hint(err)})
			return
		}
		p.Release()
		if p.PEMChanged {
			old := ""
			if p.PEMOldSHA256 != "" {
				old = "sha256:" + p.PEMOldSHA256[:16]
			}
			items[i] = append(items[i], Item{Host: a.Name, Kind: KindFile, Target: a.PEMDest, Old: old, New: "sha256:" + p.PEMNewSHA256[:16] + " 0644", Note: what})
		}
		for _, k := range p.Keys {
			if k.OldSet && k.Old == k.New {
				continue
			}
			items[i] = append(items[i], Item{Host: a.Name, Kind: KindINI, Target: fmt.Sprintf("%s [%s] %s", a.ConfigPath, agentcfg.Section, k.Key), Old: k.Old, New: k.New})
		}
		if p.Restart {
			items[i] = append(items[i], Item{Host: a.Name, Kind: KindService, Target: a.RestartCommand, Note: "then a heartbeat over verified TLS"})
		}
	})
	var out []Item
	n := 0
	for _, its := range items {
		for _, it := range its {
			if it.Kind == KindService {
				if n < env.canary() {
					it.Note = "canary; " + it.Note
				}
				n++
			}
			out = append(out, it)
		}
	}
	return out
}

// verifyAgents proves phase a or c on every live agent: its PEM is pem and
// it heartbeats over TLS verified against it (agents verified after their
// restart in this run are not waited for again).
func (r *renewRun) verifyAgents(ctx context.Context, env *Env, step string, pem []byte) error {
	var wait []*Agent
	forEach(ctx, env.live(), env.parallelism(), func(ctx context.Context, a *Agent) {
		if pem == nil {
			return
		}
		got, err := a.Host.ReadFile(ctx, a.PEMDest)
		if err != nil || !bytes.Equal(got, pem) {
			env.fail(&HostError{Host: a.Name, Step: step, Err: fmt.Errorf("%s does not hold the planned PEM", a.PEMDest), Fix: "re-run cmtls renew"})
		}
	})
	for _, a := range env.live() {
		if !r.isVerified(step, a.Name) {
			wait = append(wait, a)
		}
	}
	if len(wait) > 0 {
		since := map[string]time.Time{}
		now := env.Now()
		for _, a := range wait {
			since[a.Name] = now
		}
		env.waitHeartbeats(ctx, step, wait, since, true)
	}
	if len(env.live()) == 0 {
		msg := "no agent host finished " + step
		if step == "renew-bundle" {
			msg += ": the server has not switched, and every agent still trusts its certificate"
		}
		return &allFailedError{msg: msg}
	}
	return ctx.Err()
}

// RenewBundle is phase a: every agent's PEM becomes the bundle of the new
// and the old certificate, and the agents restart (canary first) and
// heartbeat, still to the old certificate.
type RenewBundle struct{ r *renewRun }

func (*RenewBundle) Name() string { return "renew-bundle" }
func (*RenewBundle) Title() string {
	return "Renew (a): agents trust the old and the new certificate (PEM bundle), restarted canary first"
}

func (s *RenewBundle) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	r := s.r
	if r.csrOnly || r.newChain == nil {
		return ch, nil
	}
	if r.after(renewPhaseSwitch) {
		ch.Notes = append(ch.Notes, "done in an earlier run")
		return ch, nil
	}
	// Planned per host even when an earlier run finished phase a: a host
	// added to the answers since then gets the bundle before the switch.
	ch.Items = r.agentPlanItems(ctx, env, s.Name(), r.bundle(), "old and new certificates")
	if r.phase() == renewPhaseSwitch && len(ch.Items) == 0 {
		ch.Notes = append(ch.Notes, "done in an earlier run")
	}
	return ch, nil
}

func (s *RenewBundle) Apply(ctx context.Context, env *Env) error {
	r := s.r
	r.agentPhase(ctx, env, s.Name(), r.bundle())
	if len(env.Failed()) == 0 && ctx.Err() == nil {
		return r.setPhase(ctx, env, renewPhaseSwitch)
	}
	return ctx.Err()
}

func (s *RenewBundle) Verify(ctx context.Context, env *Env) error {
	r := s.r
	if r.csrOnly || r.newChain == nil || r.after(renewPhaseSwitch) {
		return nil
	}
	if err := r.verifyAgents(ctx, env, s.Name(), r.bundle()); err != nil {
		return err
	}
	if len(env.Failed()) == 0 && r.phase() == renewPhaseBundle {
		return r.setPhase(ctx, env, renewPhaseSwitch)
	}
	return nil
}

// RenewSwitch is phase b: the server's keystore (backed up) takes the new
// key and certificate, the DER and PEM files follow, the server restarts,
// and every agent heartbeats on the new certificate; each agent's
// server_host:server_port is then proved to verify with the new
// certificate alone, as the agent will in phase c.
type RenewSwitch struct{ r *renewRun }

func (*RenewSwitch) Name() string { return "renew-switch" }
func (*RenewSwitch) Title() string {
	return "Renew (b): the server switches to the new certificate and restarts; every agent heartbeats on it"
}

func (s *RenewSwitch) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	r := s.r
	if r.csrOnly || r.newChain == nil {
		return ch, nil
	}
	if r.after(renewPhaseSwitch) {
		ch.Notes = append(ch.Notes, "done in an earlier run")
		return ch, nil
	}
	srv := env.Answers.Server
	leaf := r.newChain[0]
	old := "(none)"
	if r.oldLeaf != nil {
		old = describeCert(r.oldLeaf)
	}
	ch.Add(Item{Kind: KindKeystore, Target: srv.Keystore.Path + " alias " + srv.Keystore.Alias, Old: old, New: describeCert(leaf), Note: "from " + renewStagingPath(srv.Keystore.Path) + "; the old keystore is backed up first"})
	for _, f := range []struct {
		p    string
		data []byte
	}{{srv.DERPath, leaf.Raw}, {srv.PEMPath, pki.EncodePEM(leaf.Raw)}} {
		it, err := fileItem(ctx, env.Server, "", f.p, f.data, 0o644)
		if err != nil {
			return ch, err
		}
		if it != nil {
			ch.Add(*it)
		}
	}
	ch.Add(Item{Kind: KindService, Target: srv.RestartCommand, Note: "loads the new keystore"})
	for _, a := range env.live() {
		ch.Add(Item{Host: a.Name, Kind: KindCheck, Target: "heartbeat on the new certificate", New: "over verified TLS; verifies with the new certificate alone"})
	}
	if env.consoleTLSOn(ctx) {
		ch.Notes = append(ch.Notes, consoleNote(env, r))
	}
	return ch, nil
}

// consoleTLSOn reports whether the plain console redirects to TLS (WEB_TLS
// is on): the console then serves the keystore's certificate too.
func (e *Env) consoleTLSOn(ctx context.Context) bool {
	_, err := e.redirectTarget(ctx)
	return err == nil
}

func consoleNote(env *Env, r *renewRun) string {
	r.mu.Lock()
	mgmt := r.mgmtTrust
	r.mu.Unlock()
	var still []string
	if r.opts.SAMLCAFile == "" {
		still = append(still, "a server.api.ca_file of the SAML answers naming another file (give renew --saml-answers FILE to have it rewritten)")
	}
	if !mgmt {
		still = append(still, "the Cloudera Management Service's truststore, if it has one that CM does not name")
	}
	still = append(still, "browsers and API clients that pinned the old one")
	return fmt.Sprintf("console TLS is on: the console (and the API) will serve the new certificate too; %[1]s is rewritten in place (a server.api.ca_file that names it follows by itself); what still trusts only the old certificate must be given the new PEM %[1]s: %[2]s",
		env.Answers.Server.PEMPath, strings.Join(still, "; "))
}

func (s *RenewSwitch) Apply(ctx context.Context, env *Env) error {
	r := s.r
	srv := env.Answers.Server
	if failed := env.Failed(); len(failed) > 0 {
		names := make([]string, len(failed))
		for i, f := range failed {
			names[i] = f.Host
		}
		return &HostError{Host: env.serverName(), Step: s.Name(),
			Err: fmt.Errorf("not switching the server: %d agent(s) may not trust the new certificate yet (%s)", len(failed), strings.Join(names, ", ")),
			Fix: "fix those hosts and run cmtls renew again: it continues with phase a on them, then switches"}
	}
	leaf := r.newChain[0]
	staging, err := env.Server.ReadFile(ctx, renewStagingPath(srv.Keystore.Path))
	if err != nil {
		return fmt.Errorf("read the staging keystore: %w", err)
	}
	// The API client over TLS (console TLS on) trusts the old certificate:
	// after the restart the console serves the new one, so the client
	// trusts both from now on.
	if to, err := env.redirectTarget(ctx); err == nil && env.NewAPI != nil {
		to.Host = net.JoinHostPort(srv.Host, to.Port())
		api, err := env.NewAPI(to.String(), r.bundle())
		if err != nil {
			return fmt.Errorf("API over TLS: %w", err)
		}
		env.API = api
	}
	if err := r.setPhase(ctx, env, renewPhaseSwitch); err != nil {
		return err
	}
	opt := remote.PutOptions{Mode: 0o600, Backup: true}
	if res, err := env.Server.Run(ctx, "id -u cloudera-scm >/dev/null 2>&1", nil); err == nil && res.Code == 0 {
		opt.Owner, opt.Group = "cloudera-scm", "cloudera-scm"
	}
	if err := putFileOpt(ctx, env.Server, srv.Keystore.Path, staging, opt); err != nil {
		return err
	}
	if err := putFile(ctx, env.Server, srv.DERPath, leaf.Raw, 0o644); err != nil {
		return err
	}
	if err := putFile(ctx, env.Server, srv.PEMPath, pki.EncodePEM(leaf.Raw), 0o644); err != nil {
		return err
	}
	start := env.Now()
	if err := env.restartServer(ctx, s.Name()); err != nil {
		return err
	}
	if why := env.probeHeartbeatPort(ctx, leaf); why != "" {
		return fmt.Errorf("after the restart, %s", why)
	}
	agents := env.live()
	since := map[string]time.Time{}
	for _, a := range agents {
		since[a.Name] = start
	}
	env.waitHeartbeats(ctx, s.Name(), agents, since, true)
	for _, a := range liveOf(env, agents) {
		r.markVerified(s.Name(), a.Name)
	}
	if env.consoleTLSOn(ctx) {
		env.report(Event{Step: s.Name(), Host: env.serverName(), Phase: PhaseApply, Status: StatusWarn, Detail: consoleNote(env, r)})
	}
	return ctx.Err()
}

// newAlone proves that a's server_host:server_port, as the agent names it
// in config.ini, serves a certificate that verifies against the new PEM
// alone (no old certificate), for server_host as written: what the agent
// will check once the old certificate has left its PEM. The proof runs on
// the agent host (openssl s_client, so its own name resolution and route
// count); where the host has no openssl, from this machine. It returns
// where it was proved.
func (r *renewRun) newAlone(ctx context.Context, env *Env, a *Agent) (string, error) {
	ini := env.Facts().Agent(a.Name).INI
	if ini == nil {
		var err error
		if ini, err = readINI(ctx, a); err != nil {
			return "", err
		}
	}
	host := ini.ServerHost
	addr := net.JoinHostPort(host, ini.ServerPort)
	name := "-servername " + remote.Quote(host) + " -verify_hostname " + remote.Quote(host)
	if net.ParseIP(host) != nil {
		name = "-verify_ip " + remote.Quote(host)
	}
	cmd := `command -v openssl >/dev/null 2>&1 || exit 127
f=$(mktemp) || exit 126
trap 'rm -f "$f"' EXIT
cat > "$f"
openssl s_client -connect ` + remote.Quote(addr) + " " + name + ` -CAfile "$f" -verify_return_error -brief </dev/null 2>&1`
	res, err := a.Host.Run(ctx, cmd, bytes.NewReader(r.newPEM))
	if err != nil {
		return "", err
	}
	switch res.Code {
	case 0:
		return "openssl s_client on the host", nil
	case 127:
		// no openssl on the host: the same check from here
	default:
		return "", fmt.Errorf("%s does not verify with the new certificate alone (openssl s_client on the host): %s", addr, lastLines(res.Stdout, 2))
	}
	got, err := servedChain(ctx, addr)
	if err != nil {
		return "", fmt.Errorf("%s: %w", addr, err)
	}
	roots, err := pki.ParseCertificates(r.newPEM)
	if err != nil {
		return "", err
	}
	if _, err := pki.VerifyChain(got[0], got[1:], roots, host, env.Now()); err != nil {
		return "", fmt.Errorf("%s does not verify with the new certificate alone: %w", addr, err)
	}
	return "from this machine (no openssl on the host)", nil
}

// lastLines is the last n non-empty lines of out, joined.
func lastLines(out []byte, n int) string {
	var ls []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ls = append(ls, l)
		}
	}
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, " / ")
}

func (s *RenewSwitch) Verify(ctx context.Context, env *Env) error {
	r := s.r
	if r.csrOnly || r.newChain == nil || r.after(renewPhaseSwitch) {
		return nil
	}
	srv := env.Answers.Server
	_, chain, err := readKeyEntry(ctx, env, srv.Keystore.Path)
	if err != nil {
		return err
	}
	if len(chain) == 0 || !chain[0].Equal(r.newChain[0]) {
		return fmt.Errorf("the keystore %s does not hold the new certificate", srv.Keystore.Path)
	}
	if why := env.probeHeartbeatPort(ctx, r.newChain[0]); why != "" {
		return errors.New(why)
	}
	if err := r.verifyAgents(ctx, env, s.Name(), nil); err != nil {
		return err
	}
	forEach(ctx, env.live(), env.parallelism(), func(ctx context.Context, a *Agent) {
		where, err := r.newAlone(ctx, env, a)
		if err != nil {
			env.fail(&HostError{Host: a.Name, Step: s.Name(), Err: err, Fix: "the server does not serve the new certificate to this agent's server_host: check server_host and the server's restart"})
			return
		}
		env.report(Event{Step: s.Name(), Host: a.Name, Phase: PhaseVerify, Status: StatusOK, Detail: "server_host verifies with the new certificate alone (" + where + ")"})
	})
	if len(env.Failed()) > 0 || ctx.Err() != nil {
		return ctx.Err()
	}
	next := renewPhaseDropOld
	if r.opts.KeepOld {
		next = renewPhaseDone
	}
	return r.setPhase(ctx, env, next)
}

// RenewDropOld is phase c: the old certificate leaves every agent's PEM
// (unless --keep-old), the agents restart (canary first) and heartbeat,
// verified; the staging keystore is removed and the renewal recorded done.
type RenewDropOld struct{ r *renewRun }

func (*RenewDropOld) Name() string { return "renew-drop-old" }
func (*RenewDropOld) Title() string {
	return "Renew (c): the old certificate leaves the agents' PEM; agents restart, verified"
}

func (s *RenewDropOld) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	r := s.r
	if r.csrOnly || r.newChain == nil {
		return ch, nil
	}
	if r.opts.KeepOld {
		ch.Notes = append(ch.Notes, "--keep-old: the agents keep the old certificate in their PEM")
		return ch, nil
	}
	ch.Items = r.agentPlanItems(ctx, env, s.Name(), r.newPEM, "the new certificate alone")
	return ch, nil
}

func (s *RenewDropOld) Apply(ctx context.Context, env *Env) error {
	r := s.r
	if r.phase() != renewPhaseDropOld {
		// phase b did not finish: the old certificate stays
		return &SkipError{Reason: "phase b is not verified on every agent: the old certificate stays in the bundle"}
	}
	r.agentPhase(ctx, env, s.Name(), r.newPEM)
	return ctx.Err()
}

func (s *RenewDropOld) Verify(ctx context.Context, env *Env) error {
	r := s.r
	if r.csrOnly || r.newChain == nil {
		return nil
	}
	if !r.opts.KeepOld {
		if r.phase() != renewPhaseDropOld && r.phase() != renewPhaseDone {
			return nil
		}
		if err := r.verifyAgents(ctx, env, s.Name(), r.newPEM); err != nil {
			return err
		}
	}
	if len(env.Failed()) > 0 || ctx.Err() != nil || (r.phase() != renewPhaseDropOld && r.phase() != renewPhaseDone) {
		return ctx.Err()
	}
	ks := env.Answers.Server.Keystore
	if res, err := env.Server.Run(ctx, "rm -f -- "+remote.Quote(renewStagingPath(ks.Path)), nil); err != nil || res.Code != 0 {
		env.report(Event{Step: s.Name(), Host: env.serverName(), Phase: PhaseVerify, Status: StatusWarn, Detail: "cannot remove " + renewStagingPath(ks.Path) + ": remove it by hand (it holds the key, now in the keystore)"})
	}
	return r.setPhase(ctx, env, renewPhaseDone)
}

// servedChain returns the certificates a TLS server at addr presents, leaf
// first. It does not verify them: the caller does, against the roots it
// means (servedCert gives the leaf alone).
func servedChain(ctx context.Context, addr string) ([]*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	host, _, _ := net.SplitHostPort(addr)
	c := tls.Client(raw, &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // verified by the caller against the new certificate alone
	if err := c.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	certs := c.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("no certificate")
	}
	return certs, nil
}

// forEach runs fn for every item on the one fan-out (FanOut): bounded,
// nothing started after a cancel, a panic one item's failure; fn records
// its own failures (env.fail).
func forEach[T any](ctx context.Context, items []T, n int, fn func(context.Context, T)) {
	FanOut(ctx, items, n, func(ctx context.Context, it T) error { fn(ctx, it); return nil })
}
