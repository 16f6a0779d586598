package steps

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/steps/answers"
)

// MinRemainingValidity is how long the server certificate must still be
// valid: agents refuse an expired certificate and stop heartbeating
// (Cloudera, "Configuring TLS Authentication of Server to Agents and
// Users": if the server certificate is missing or expired, the agents do
// not allow communications with the server), so a certificate that runs
// out within a month is refused before anything changes.
const MinRemainingValidity = 30 * 24 * time.Hour

// ServerCert is Step 2: the server's keypair and certificate in the
// keystore on the server host (generated as `keytool -genkeypair` would, or
// a CA-signed one imported), exported as DER and converted to PEM.
//
// Its Plan is also the pre-flight of the whole run: before anything
// changes it checks that the certificate names every agent's server_host
// exactly as written in that agent's config.ini, and that it is valid for
// at least 30 more days.
type ServerCert struct{}

func (ServerCert) Name() string { return "server-cert" }
func (ServerCert) Title() string {
	return "Step 2: server certificate in the keystore, DER and PEM"
}

func (s ServerCert) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	srv := env.Answers.Server
	ks := srv.Keystore
	now := env.Now()

	cert, item, err := s.wanted(ctx, env)
	if err != nil {
		return ch, err
	}
	// The CN/FQDN check (Step 2.3): before a new certificate is made for
	// server.host, that name must resolve to the server host.
	if err := s.checkName(ctx, env, cert.Keystore != nil && ks.Generate != nil); err != nil {
		return ch, err
	}
	if item != nil {
		ch.Add(*item)
	}
	leaf := cert.Chain[0]

	// Pre-flight: every agent's server_host must be in the certificate.
	if err := env.preflight(s.Name(), leaf); err != nil {
		return ch, err
	}
	if !now.Before(leaf.NotAfter) {
		return ch, inputErrorf("issue a new certificate (server.keystore.generate, or a new CA-signed one)",
			"the server certificate expired on %s", leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	if left := leaf.NotAfter.Sub(now); left < MinRemainingValidity {
		return ch, inputErrorf("issue a certificate valid for longer (server.keystore.generate.validity_days, or a new CA-signed one)",
			"the server certificate expires %s (in %d days); it must be valid for at least 30 more days",
			leaf.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
	}
	if leaf.NotBefore.After(now) {
		return ch, inputErrorf("check the clocks of this machine and of the certificate's issuer",
			"the server certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if leaf.Subject.CommonName != srv.Host {
		env.report(Event{Step: s.Name(), Host: env.serverName(), Phase: PhasePlan, Status: StatusWarn,
			Detail: fmt.Sprintf("the certificate's CN is %q, not server.host %q (its SAN covers it)", leaf.Subject.CommonName, srv.Host)})
	}
	env.Planned().SetServerCert(cert)
	if cert.Keystore != nil {
		env.Planned().ReloadServer(s.Name())
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{srv.DERPath, cert.DER}, {srv.PEMPath, cert.PEM}} {
		it, err := fileItem(ctx, env.Server, "", f.path, f.data, 0o644)
		if err != nil {
			return ch, err
		}
		if it != nil {
			ch.Add(*it)
		}
	}
	return ch, nil
}

// checkName runs pki.CheckServerName on server.host against the server
// host's addresses; its errors stop the run when strict (a certificate is
// about to be generated for the name), and are warnings otherwise.
func (s ServerCert) checkName(ctx context.Context, env *Env, strict bool) error {
	var r pki.Resolver = net.DefaultResolver
	if env.Resolver != nil {
		r = env.Resolver
	}
	addrs := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if res, err := env.Server.Run(ctx, "hostname -I 2>/dev/null || true", nil); err == nil {
		for _, f := range strings.Fields(string(res.Stdout)) {
			if ip := net.ParseIP(f); ip != nil {
				addrs = append(addrs, ip)
			}
		}
	}
	c := pki.CheckServerName(ctx, r, env.Answers.Server.Host, addrs)
	for _, f := range c.Findings {
		if f.Severity == pki.SeverityWarning || !strict {
			env.report(Event{Step: s.Name(), Host: env.serverName(), Phase: PhasePlan, Status: StatusWarn, Detail: "server.host: " + f.Message, Hint: f.Hint})
		}
	}
	if strict {
		if err := c.Err(); err != nil {
			return &InputError{Err: fmt.Errorf("server.host %s cannot be the certificate's CN: %w", env.Answers.Server.Host, err), Fix: hint(err)}
		}
	}
	return nil
}

// fileItem returns the change of writing data to p on h, or nil when p
// already holds data.
func fileItem(ctx context.Context, h remote.Host, host, p string, data []byte, mode os.FileMode) (*Item, error) {
	old, err := h.ReadFile(ctx, p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &Item{Host: host, Kind: KindFile, Target: p, New: fmt.Sprintf("sha256:%s %04o", shortSum(data), mode)}, nil
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", p, err)
	case bytes.Equal(old, data):
		return nil, nil
	}
	return &Item{Host: host, Kind: KindFile, Target: p, Old: "sha256:" + shortSum(old), New: fmt.Sprintf("sha256:%s %04o", shortSum(data), mode)}, nil
}

// keystoreOpenFix is the hint for a keystore that does not open. pki's own
// hints name the cert subcommands' flags (--storepass-file); here the
// password comes from the answers file, so the hint names that key and where
// its value was read from.
func keystoreOpenFix(err error, ks *answers.Keystore) string {
	switch {
	case errors.Is(err, pki.ErrWrongStorePassword):
		return fmt.Sprintf("server.keystore.password (%s) does not open the existing keystore: give its password there (keytool -list -keystore %s checks it)",
			ks.Password.Source(), ks.Path)
	case errors.Is(err, pki.ErrWrongKeyPassword):
		return fmt.Sprintf("the key of alias %s needs the keystore password, server.keystore.password (%s): keytool -keypasswd can set it", ks.Alias, ks.Password.Source())
	}
	return orDefault(hint(err), "check server.keystore.password and server.keystore.type")
}

// wanted returns the certificate Step 2 leads to, and the keystore change
// (nil when the keystore already holds a fitting entry).
func (s ServerCert) wanted(ctx context.Context, env *Env) (*ServerCertificate, *Item, error) {
	srv := env.Answers.Server
	ks := srv.Keystore
	pass := ks.Password.Value()
	now := env.Now()

	store, oldKey, oldChain, err := s.existing(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	exists := store != nil

	// An existing entry that fits is kept as it is.
	if oldKey != nil && ks.Import == nil {
		if why := unfit(oldChain[0], srv.Host, now); why == "" || ks.Generate == nil {
			if why != "" {
				return nil, nil, inputErrorf("add server.keystore.generate to replace it, or import a CA-signed certificate (server.keystore.import)",
					"the certificate in %s (alias %s) does not fit: %s", ks.Path, ks.Alias, why)
			}
			return newServerCert(oldKey, oldChain, nil), nil, nil
		}
	}

	var key crypto.Signer
	var chain []*x509.Certificate
	switch {
	case ks.Import != nil:
		key, chain, err = s.imported(env, oldKey, now)
		if err != nil {
			return nil, nil, err
		}
		if oldKey != nil && oldChain[0].Equal(chain[0]) {
			return newServerCert(oldKey, oldChain, nil), nil, nil
		}
	case ks.Generate != nil:
		key, chain, err = s.generate(env, now)
		if err != nil {
			return nil, nil, err
		}
	default:
		what := "does not exist"
		if exists {
			what = fmt.Sprintf("has no private key entry %q", ks.Alias)
		}
		return nil, nil, inputErrorf("add server.keystore.generate (a self-signed certificate, as keytool -genkeypair) or server.keystore.import (a CA-signed one)",
			"the keystore %s %s on the server", ks.Path, what)
	}
	if exists && len(store.Aliases()) > 1 || exists && oldKey == nil && len(store.Aliases()) > 0 {
		return nil, nil, inputErrorf("give server.keystore.path a new file, or remove the other entries",
			"the keystore %s holds other entries (%s) that writing the new key would drop", ks.Path, strings.Join(store.Aliases(), ", "))
	}
	ksBytes, err := pki.EncodeKeystore(ks.Type, ks.Alias, key, chain, pass, now, env.Rand)
	if err != nil {
		return nil, nil, &InputError{Err: fmt.Errorf("keystore %s: %w", ks.Path, err), Fix: hint(err)}
	}
	it := &Item{Kind: KindKeystore, Target: ks.Path + " alias " + ks.Alias, New: describeCert(chain[0]) + " 0600"}
	if oldKey != nil {
		it.Old = describeCert(oldChain[0])
		it.Note = "the old keystore is backed up first"
	}
	return newServerCert(key, chain, ksBytes), it, nil
}

// existing opens the keystore on the server (nil when there is none) and
// its private key entry of server.keystore.alias (nil when it has none).
func (s ServerCert) existing(ctx context.Context, env *Env) (*pki.Keystore, crypto.Signer, []*x509.Certificate, error) {
	ks := env.Answers.Server.Keystore
	pass := ks.Password.Value()
	data, err := env.Server.ReadFile(ctx, ks.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, nil
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read the keystore %s on the server: %w", ks.Path, err)
	}
	if err := pki.CheckStoreType(data, ks.Type); err != nil {
		return nil, nil, nil, &InputError{Err: fmt.Errorf("keystore %s: %w", ks.Path, err),
			Fix: fmt.Sprintf("set server.keystore.type: %s, the file's real type", pki.StoreTypeOf(data))}
	}
	store, err := pki.ReadKeystore(data, pass)
	if err != nil {
		return nil, nil, nil, &InputError{Err: fmt.Errorf("keystore %s: %w", ks.Path, err), Fix: keystoreOpenFix(err, ks)}
	}
	if !store.IsKeyEntry(ks.Alias) {
		return store, nil, nil, nil
	}
	key, chain, err := store.PrivateKeyEntry(ks.Alias, pass)
	if err != nil {
		return nil, nil, nil, &InputError{Err: fmt.Errorf("keystore %s alias %s: %w", ks.Path, ks.Alias, err), Fix: keystoreOpenFix(err, ks)}
	}
	return store, key, chain, nil
}

func newServerCert(key crypto.Signer, chain []*x509.Certificate, ks []byte) *ServerCertificate {
	leaf := chain[0]
	c := &ServerCertificate{Key: key, Chain: chain, Keystore: ks, DER: leaf.Raw, PEM: pki.EncodePEM(leaf.Raw)}
	var agent []byte
	for _, x := range chain {
		agent = append(agent, pki.EncodePEM(x.Raw)...)
	}
	c.AgentPEM = agent
	return c
}

// unfit says why an existing certificate cannot serve host ("" = fits).
func unfit(leaf *x509.Certificate, host string, now time.Time) string {
	if err := pki.MatchHostname(leaf, host); err != nil {
		return err.Error()
	}
	if !now.Before(leaf.NotAfter) {
		return fmt.Sprintf("it expired on %s", leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	if leaf.NotAfter.Sub(now) < MinRemainingValidity {
		return fmt.Sprintf("it expires %s, within 30 days", leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	if leaf.NotBefore.After(now) {
		return "it is not valid yet"
	}
	return ""
}

func (s ServerCert) generate(env *Env, now time.Time) (crypto.Signer, []*x509.Certificate, error) {
	srv := env.Answers.Server
	g := srv.Keystore.Generate
	key, err := pki.GenerateKey(env.Rand, g.KeyAlgorithm, g.KeySize)
	if err != nil {
		return nil, nil, &InputError{Err: fmt.Errorf("generate key: %w", err), Fix: hint(err)}
	}
	// The CN is always server.host (Cloudera's procedure: the CN must be
	// the server's FQDN), and the SAN carries it too, because agents check
	// the SAN first.
	opts := pki.CertOptions{Subject: pki.Name{CN: srv.Host}, ValidityDays: g.ValidityDays}
	if sub := g.Subject; sub != nil {
		opts.Subject = pki.Name{CN: srv.Host, OU: sub.OU, O: sub.O, L: sub.L, ST: sub.ST, C: sub.C}
	}
	for _, n := range append([]string{srv.Host}, g.SAN...) {
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
		return nil, nil, &InputError{Err: fmt.Errorf("self-signed certificate: %w", err), Fix: hint(err)}
	}
	return key, []*x509.Certificate{cert}, nil
}

// imported reads server.keystore.import: the CA-signed certificate (and its
// chain, and its key unless the keystore already holds it).
func (s ServerCert) imported(env *Env, oldKey crypto.Signer, now time.Time) (crypto.Signer, []*x509.Certificate, error) {
	im := env.Answers.Server.Keystore.Import
	read := func(p string) ([]byte, error) {
		b, err := os.ReadFile(env.Answers.ExpandPath(p))
		if err != nil {
			return nil, &InputError{Err: fmt.Errorf("server.keystore.import: %w", err), Fix: "check the paths under server.keystore.import (relative to the answers file)"}
		}
		return b, nil
	}
	b, err := read(im.Cert)
	if err != nil {
		return nil, nil, err
	}
	certs, err := pki.ParseCertificates(b)
	if err != nil {
		return nil, nil, &InputError{Err: fmt.Errorf("server.keystore.import.cert: %w", err), Fix: hint(err)}
	}
	if im.Chain != "" {
		b, err := read(im.Chain)
		if err != nil {
			return nil, nil, err
		}
		more, err := pki.ParseCertificates(b)
		if err != nil {
			return nil, nil, &InputError{Err: fmt.Errorf("server.keystore.import.chain: %w", err), Fix: hint(err)}
		}
		certs = append(certs, more...)
	}
	key := oldKey
	if im.Key != "" {
		b, err := read(im.Key)
		if err != nil {
			return nil, nil, err
		}
		key, err = pki.ParsePrivateKey(b)
		if err != nil {
			return nil, nil, &InputError{Err: fmt.Errorf("server.keystore.import.key: %w", err), Fix: hint(err)}
		}
	}
	if key == nil {
		return nil, nil, inputErrorf("set server.keystore.import.key, or make the CSR from the keystore (cmtls cert csr) so it holds the key",
			"no private key for the imported certificate")
	}
	chain, err := pki.BuildImportChain(key, certs, nil, now)
	if err != nil {
		return nil, nil, &InputError{Err: fmt.Errorf("server.keystore.import: %w", err), Fix: hint(err)}
	}
	return key, chain, nil
}

func describeCert(c *x509.Certificate) string {
	return fmt.Sprintf("CN=%s SAN=[%s] until %s sha256:%s", c.Subject.CommonName, pki.SANString(c), c.NotAfter.UTC().Format(time.DateOnly), shortSum(c.Raw))
}

// preflight checks, on every live agent's config.ini as the runner read it
// (Facts), that leaf names its server_host as written. A host whose file
// could not be read fails on its own (in step); a mismatch stops the whole
// run before anything changes.
func (e *Env) preflight(step string, leaf *x509.Certificate) error {
	f := e.Facts()
	var bad []string
	for _, a := range e.live() {
		af := f.Agent(a.Name)
		if af.Err != nil {
			fix := "check that the agent is installed and " + a.ConfigPath + " exists (agents.config_path)"
			if errors.Is(af.Err, remote.ErrSymlink) {
				fix = "set agents.config_path (or the host's config_path) to the file the link points to"
			}
			e.fail(&HostError{Host: a.Name, Step: step, Err: af.Err, Fix: fix})
			continue
		}
		if err := pki.MatchHostname(leaf, af.INI.ServerHost); err != nil {
			bad = append(bad, fmt.Sprintf("%s (server_host=%s in %s): %v", a.Name, af.INI.ServerHost, a.ConfigPath, err))
		}
	}
	if len(bad) > 0 {
		return &InputError{
			Err: fmt.Errorf("pre-flight: the server certificate does not match server_host on %d agent(s); nothing was changed:\n    %s",
				len(bad), strings.Join(bad, "\n    ")),
			Fix: "agents check the certificate against server_host exactly as written: add those names to server.keystore.generate.san (or re-issue the certificate), or set server_host on those agents to server.host",
		}
	}
	return nil
}

// readINI reads and parses an agent's config.ini now.
func readINI(ctx context.Context, a *Agent) (*AgentINI, error) {
	if a.Host == nil {
		return nil, fmt.Errorf("%s: not connected", a.Name)
	}
	b, err := a.Host.ReadFile(ctx, a.ConfigPath)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", a.ConfigPath, err)
	}
	ini, err := parseAgentINI(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.ConfigPath, err)
	}
	return ini, nil
}

func (s ServerCert) Apply(ctx context.Context, env *Env) error {
	srv := env.Answers.Server
	c := env.Planned().ServerCert()
	if c == nil {
		return errors.New("no planned certificate")
	}
	if c.Keystore != nil {
		// CM's server runs as cloudera-scm and must read its 0600
		// keystore; where that user exists, the keystore is given to it.
		opt := remote.PutOptions{Mode: 0o600, Backup: true}
		if res, err := env.Server.Run(ctx, "id -u cloudera-scm >/dev/null 2>&1", nil); err == nil && res.Code == 0 {
			opt.Owner, opt.Group = "cloudera-scm", "cloudera-scm"
		}
		if err := putFileOpt(ctx, env.Server, srv.Keystore.Path, c.Keystore, opt); err != nil {
			return err
		}
		env.Done().ServerChanged()
	}
	if err := putFile(ctx, env.Server, srv.DERPath, c.DER, 0o644); err != nil {
		return err
	}
	return putFile(ctx, env.Server, srv.PEMPath, c.PEM, 0o644)
}

// putFile makes p's directory and writes data atomically, backing up the
// file it replaces.
func putFile(ctx context.Context, h remote.Host, p string, data []byte, mode os.FileMode) error {
	return putFileOpt(ctx, h, p, data, remote.PutOptions{Mode: mode, Backup: true})
}

func putFileOpt(ctx context.Context, h remote.Host, p string, data []byte, opt remote.PutOptions) error {
	res, err := h.Run(ctx, "mkdir -p -- "+remote.Quote(path.Dir(p)), nil)
	if err != nil {
		return fmt.Errorf("mkdir %s: %w", path.Dir(p), err)
	}
	if res.Code != 0 {
		return fmt.Errorf("mkdir %s: %s", path.Dir(p), strings.TrimSpace(string(res.Stderr)))
	}
	if _, err := h.PutFile(ctx, p, data, opt); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

func (s ServerCert) Verify(ctx context.Context, env *Env) error {
	srv := env.Answers.Server
	c := env.Planned().ServerCert()
	if c == nil {
		return errors.New("no planned certificate")
	}
	data, err := env.Server.ReadFile(ctx, srv.Keystore.Path)
	if err != nil {
		return fmt.Errorf("read back the keystore: %w", err)
	}
	store, err := pki.ReadKeystore(data, srv.Keystore.Password.Value())
	if err != nil {
		return fmt.Errorf("open the keystore written: %w", err)
	}
	der, err := store.ExportDER(srv.Keystore.Alias)
	if err != nil {
		return fmt.Errorf("export alias %s: %w", srv.Keystore.Alias, err)
	}
	if !bytes.Equal(der, c.DER) {
		return fmt.Errorf("the keystore's certificate is not the planned one")
	}
	for _, f := range []struct {
		p    string
		want []byte
	}{{srv.DERPath, c.DER}, {srv.PEMPath, c.PEM}} {
		got, err := env.Server.ReadFile(ctx, f.p)
		if err != nil {
			return fmt.Errorf("read back %s: %w", f.p, err)
		}
		if !bytes.Equal(got, f.want) {
			return fmt.Errorf("%s does not hold the server certificate", f.p)
		}
	}
	return nil
}

// serverPEM returns what the agents should trust: the certificate Step 2
// plans in this run, else the server's PEM file (pem_path) as the runner
// read it.
func (e *Env) serverPEM() ([]byte, *x509.Certificate, error) {
	if c := e.Planned().ServerCert(); c != nil {
		return c.AgentPEM, c.Chain[0], nil
	}
	f := e.Facts()
	switch {
	case f.ServerLeaf != nil:
		return f.ServerPEM, f.ServerLeaf, nil
	case f.ServerPEM == nil && f.ServerPEMErr != nil:
		return nil, nil, &InputError{Err: f.ServerPEMErr, Fix: "run the server-cert step first (do not skip it)"}
	case f.ServerPEMErr != nil:
		return nil, nil, &InputError{Err: f.ServerPEMErr, Fix: "run the server-cert step to write it again"}
	}
	return nil, nil, &InputError{Err: errors.New("no server PEM was read (server.pem_path)"), Fix: "run the server-cert step first (do not skip it)"}
}
