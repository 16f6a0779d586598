package cmd

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cmtls/cmtls/pki"
)

// certOptions holds the flags shared by the cert subcommands. Flag names
// follow keytool's (-keystore, -storetype, -alias, -validity, -keyalg,
// -keysize, -dname) so keytool users feel at home.
type certOptions struct {
	f         *Factory
	keystore  string
	storetype string
	alias     string
	pass      passSource
	out       string
	force     bool
	json      bool

	// generate
	cn, dname  string
	sans       []string
	validity   int
	keyalg     string
	keysize    int
	checkName  bool
	resolver   pki.Resolver
	localAddrs func() ([]net.IP, error)

	// convert
	in, inform, outform string
	// import
	certFile, chainFile, keyFile string
	// verify
	cafile, host string
	// export
	rfc bool
}

func newCertCmd(f *Factory) *cobra.Command {
	o := &certOptions{f: f, resolver: net.DefaultResolver, localAddrs: interfaceAddrs}
	c := &cobra.Command{
		Use:   "cert",
		Short: "Certificates and keystores (Steps 1-2 of the TLS procedure)",
		Long: `The keytool and openssl steps of the TLS procedure as subcommands:

  generate   keypair + self-signed certificate into a keystore (keytool -genkeypair)
  export     the certificate as DER (keytool -exportcert)
  convert    DER <-> PEM (openssl x509 -inform der)
  inspect    subject, SANs, issuer, validity, fingerprints of a keystore, DER or PEM
  csr        a certificate request from the keystore's key (keytool -certreq)
  import     a CA-signed certificate and its chain into the keystore (keytool -importcert)
  verify     a certificate against a CA bundle and a host name, as the CM agent does
  check-name the Step 2.3 check: the CN resolves to this machine

The keystore password comes from --storepass-file, --storepass-env or a prompt.`,
		Args: cobraArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(newCertGenerateCmd(o), newCertExportCmd(o), newCertConvertCmd(o), newCertInspectCmd(o),
		newCertCSRCmd(o), newCertImportCmd(o), newCertVerifyCmd(o), newCertCheckNameCmd(o))
	return c
}

func keystoreFlags(c *cobra.Command, o *certOptions, withType bool) {
	fl := c.Flags()
	fl.StringVar(&o.keystore, "keystore", "", "keystore file (JKS or PKCS#12, told apart by content)")
	fl.StringVar(&o.alias, "alias", pki.DefaultAlias, "entry alias")
	passFlags(c, o)
	if withType {
		fl.StringVar(&o.storetype, "storetype", pki.TypeJKS, "keystore type to write: jks or pkcs12")
	}
}

func passFlags(c *cobra.Command, o *certOptions) {
	c.Flags().StringVar(&o.pass.file, "storepass-file", "", "read the keystore password from the first line of FILE")
	c.Flags().StringVar(&o.pass.env, "storepass-env", "", "read the keystore password from environment variable NAME")
}

func outFlags(c *cobra.Command, o *certOptions, what string) {
	c.Flags().StringVar(&o.out, "out", "", what)
	c.Flags().BoolVar(&o.force, "force", false, "replace an existing output file (a backup copy is kept)")
}

// ---- generate -------------------------------------------------------------

func newCertGenerateCmd(o *certOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "generate",
		Short: "Keypair + self-signed certificate into a keystore (Step 2.1, keytool -genkeypair)",
		Example: `  cmtls cert generate --keystore cm.keystore --cn cm1.example.com --validity 180 \
      --dname "OU=IT, O=Example, L=City, ST=State, C=US" --storepass-env CMTLS_KEYSTORE_PASSWORD`,
		Args: cobraArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error { return runCertGenerate(c.Context(), o) },
	}
	keystoreFlags(c, o, true)
	fl := c.Flags()
	fl.StringVar(&o.cn, "cn", "", "CN: the server host's FQDN (or static IP), exactly as agents name it in server_host")
	fl.StringSliceVar(&o.sans, "san", nil, "extra subjectAltName DNS names or IPs (the CN is always included)")
	fl.IntVar(&o.validity, "validity", 180, "validity in days")
	fl.StringVar(&o.keyalg, "keyalg", "RSA", "key algorithm: RSA or EC")
	fl.IntVar(&o.keysize, "keysize", 0, "key size: RSA 2048|3072|4096 (default 2048), EC 256|384 (default 256)")
	fl.StringVar(&o.dname, "dname", "", `rest of the subject, e.g. "OU=IT, O=Example, L=City, ST=State, C=US"`)
	fl.BoolVar(&o.checkName, "check-name", false, "refuse a CN that does not resolve to an address of this machine (Step 2.3)")
	fl.BoolVar(&o.force, "force", false, "replace an existing keystore (a backup copy is kept)")
	return c
}

func runCertGenerate(ctx context.Context, o *certOptions) error {
	f := o.f
	if o.keystore == "" {
		return usageErrorf("pass --keystore FILE", "--keystore is required")
	}
	if o.cn == "" {
		return usageErrorf("pass --cn with the server host's FQDN (hostname -f)", "--cn is required")
	}
	if err := refuseExisting(o.keystore, o.force); err != nil {
		return err
	}
	name, err := pki.ParseDName(o.dname)
	if err != nil {
		return err
	}
	if name.CN != "" && !strings.EqualFold(name.CN, o.cn) {
		return usageErrorf("drop CN= from --dname; --cn sets it", "--dname CN=%s conflicts with --cn %s", name.CN, o.cn)
	}
	name.CN = o.cn
	opts := pki.CertOptions{Subject: name, ValidityDays: o.validity}
	for _, s := range o.sans {
		if ip := net.ParseIP(s); ip != nil {
			opts.IPs = append(opts.IPs, ip)
		} else if s != "" {
			opts.DNSNames = append(opts.DNSNames, s)
		}
	}
	if o.validity <= 0 {
		return usageErrorf("use --validity between 1 and 36500 days", "invalid value %d for --validity", o.validity)
	}
	if o.checkName {
		if err := o.nameCheck(ctx, o.cn); err != nil {
			return err
		}
	}
	storeType, err := pki.ParseStoreType(o.storetype)
	if err != nil {
		return err // before asking for a password
	}
	pw, err := o.pass.storePass(f, true)
	if err != nil {
		return err
	}
	if err := pki.ValidatePassword(pw); err != nil {
		return err
	}
	key, err := pki.GenerateKey(pki.DefaultRand, o.keyalg, o.keysize)
	if err != nil {
		return err
	}
	now := f.Now()
	cert, err := pki.SelfSigned(pki.DefaultRand, key, opts, now)
	if err != nil {
		return err
	}
	data, err := pki.EncodeKeystore(storeType, o.alias, key, []*x509.Certificate{cert}, pw, now, pki.DefaultRand)
	if err != nil {
		return err
	}
	backup, err := writeOutput(o.keystore, data, 0o600, o.force, now)
	if err != nil {
		return err
	}
	if backup != "" {
		fmt.Fprintf(f.ErrOut, "kept the old keystore as %s\n", backup)
	}
	info := pki.Describe(cert, now)
	fmt.Fprintf(f.Out, "wrote %s (%s, alias %s): %s, SAN %s, valid until %s\nSHA-256 %s\n",
		o.keystore, storeType, strings.ToLower(o.alias), info.Subject, info.SANString,
		info.NotAfter.Format("2006-01-02"), info.SHA256)
	return nil
}

// nameCheck runs the Step 2.3 check and prints its warnings.
func (o *certOptions) nameCheck(ctx context.Context, name string) error {
	addrs, err := o.localAddrs()
	if err != nil {
		return fmt.Errorf("list this machine's addresses: %w", err)
	}
	nc := pki.CheckServerName(ctx, o.resolver, name, addrs)
	for _, fd := range nc.Findings {
		if fd.Severity == pki.SeverityWarning {
			fmt.Fprintf(o.f.ErrOut, "warning: %s (%s)\n", fd.Message, fd.Hint)
		}
	}
	return nc.Err()
}

func interfaceAddrs() ([]net.IP, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []net.IP
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			out = append(out, n.IP)
		}
	}
	return out, nil
}

// ---- check-name -----------------------------------------------------------

func newCertCheckNameCmd(o *certOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "check-name NAME",
		Short: "Step 2.3: the CN must resolve to an address of this machine; warns on IPs and short names",
		Args:  cobraArgs(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			addrs, err := o.localAddrs()
			if err != nil {
				return fmt.Errorf("list this machine's addresses: %w", err)
			}
			nc := pki.CheckServerName(c.Context(), o.resolver, args[0], addrs)
			if o.json {
				if err := writeJSON(o.f.Out, nc); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(o.f.Out, "%s resolves to %s\n", nc.Name, strings.Join(nc.Addrs, ", "))
				for _, fd := range nc.Findings {
					fmt.Fprintf(o.f.Out, "%s: %s\n  hint: %s\n", fd.Severity, fd.Message, fd.Hint)
				}
			}
			return nc.Err()
		},
	}
	c.Flags().BoolVar(&o.json, "json", false, "print the findings as JSON")
	return c
}

// ---- export ---------------------------------------------------------------

func newCertExportCmd(o *certOptions) *cobra.Command {
	c := &cobra.Command{
		Use:     "export",
		Short:   "Export the certificate as DER (Step 2.4, keytool -exportcert)",
		Example: `  cmtls cert export --keystore cm.keystore --alias jetty --out server.der --storepass-file pw.txt`,
		Args:    cobraArgs(cobra.NoArgs),
		RunE:    func(c *cobra.Command, _ []string) error { return runCertExport(o) },
	}
	keystoreFlags(c, o, false)
	outFlags(c, o, "file to write the certificate to (DER; PEM with --rfc)")
	c.Flags().BoolVar(&o.rfc, "rfc", false, "write PEM instead of DER (keytool -rfc)")
	return c
}

// openKeystore reads --keystore with the password from its source.
func (o *certOptions) openKeystore() (*pki.Keystore, []byte, error) {
	data, err := readInput(o.keystore, "--keystore")
	if err != nil {
		return nil, nil, err
	}
	pw, err := o.pass.storePass(o.f, false)
	if err != nil {
		return nil, nil, err
	}
	k, err := pki.ReadKeystore(data, pw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", o.keystore, err)
	}
	return k, pw, nil
}

func runCertExport(o *certOptions) error {
	if err := refuseExisting(o.out, o.force); err != nil {
		return err
	}
	k, _, err := o.openKeystore()
	if err != nil {
		return err
	}
	der, err := k.ExportDER(o.alias)
	if err != nil {
		return err
	}
	data := der
	if o.rfc {
		data = pki.EncodePEM(der)
	}
	if _, err := writeOutput(o.out, data, 0o644, o.force, o.f.Now()); err != nil {
		return err
	}
	c, _ := x509.ParseCertificate(der)
	fmt.Fprintf(o.f.Out, "wrote %s: %s\nSHA-256 %s\n", o.out, c.Subject, pki.SHA256Fingerprint(c))
	// exported all the same (it may be wanted for the record), but no
	// one should install it unawares
	if now := o.f.Now(); now.After(c.NotAfter) {
		fmt.Fprintf(o.f.ErrOut, "warning: this certificate expired on %s; TLS clients will refuse it (renew it: cmtls cert generate --force, or a new CA-signed one)\n", c.NotAfter.UTC().Format(time.DateOnly))
	}
	return nil
}

// ---- convert --------------------------------------------------------------

func newCertConvertCmd(o *certOptions) *cobra.Command {
	c := &cobra.Command{
		Use:     "convert",
		Short:   "Convert a certificate DER <-> PEM (Step 2.5, openssl x509 -inform der)",
		Example: `  cmtls cert convert --in server.der --out server.pem`,
		Args:    cobraArgs(cobra.NoArgs),
		RunE:    func(c *cobra.Command, _ []string) error { return runCertConvert(o) },
	}
	c.Flags().StringVar(&o.in, "in", "", "input certificate file")
	c.Flags().StringVar(&o.inform, "inform", "", "input format: der or pem (sniffed when not given)")
	c.Flags().StringVar(&o.outform, "outform", "", "output format: pem or der (default: the other one)")
	outFlags(c, o, "output file")
	return c
}

func runCertConvert(o *certOptions) error {
	for _, v := range []struct{ flag, val string }{{"--inform", o.inform}, {"--outform", o.outform}} {
		if v.val != "" && v.val != "der" && v.val != "pem" {
			return usageErrorf("use der or pem", "invalid value %q for %s; options are der, pem", v.val, v.flag)
		}
	}
	if err := refuseExisting(o.out, o.force); err != nil {
		return err
	}
	data, err := readInput(o.in, "--in")
	if err != nil {
		return err
	}
	inform := o.inform
	if inform == "" {
		inform = "pem"
		if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == 0x30 {
			inform = "der"
		}
	}
	outform := o.outform
	if outform == "" {
		outform = map[string]string{"der": "pem", "pem": "der"}[inform]
	}
	var cert *x509.Certificate
	if inform == "der" {
		cert, err = x509.ParseCertificate(data)
		if err != nil {
			return &pki.InputError{Err: fmt.Errorf("%s: %w: DER: %v", o.in, pki.ErrBadPEM, err),
				Fix: "give a DER certificate (keytool -exportcert writes one), or --inform pem"}
		}
	} else {
		if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == 0x30 {
			return &pki.InputError{Err: fmt.Errorf("%s: %w: DER data where --inform pem was given", o.in, pki.ErrBadPEM),
				Fix: "drop --inform or pass --inform der"}
		}
		cert, err = pki.ParseCertificate(data)
		if err != nil {
			return fmt.Errorf("%s: %w", o.in, err)
		}
	}
	out := cert.Raw
	if outform == "pem" {
		out = pki.EncodePEM(cert.Raw)
	}
	if _, err := writeOutput(o.out, out, 0o644, o.force, o.f.Now()); err != nil {
		return err
	}
	fmt.Fprintf(o.f.Out, "wrote %s (%s): %s\n", o.out, strings.ToUpper(outform), cert.Subject)
	return nil
}

// ---- inspect --------------------------------------------------------------

func newCertInspectCmd(o *certOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Show subject, SANs, issuer, validity and fingerprints of a keystore, DER or PEM file",
		Example: `  cmtls cert inspect server.pem
  cmtls cert inspect cm.keystore --storepass-env CMTLS_KEYSTORE_PASSWORD --json`,
		Args: cobraArgs(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, args []string) error { return runCertInspect(o, args[0]) },
	}
	passFlags(c, o)
	c.Flags().BoolVar(&o.json, "json", false, "print the result as JSON on stdout")
	return c
}

// inspectResult is the JSON of `cert inspect`. It never holds a secret.
type inspectResult struct {
	File         string            `json:"file"`
	Format       string            `json:"format"` // jks | pkcs12 | der | pem
	Keystore     *pki.KeystoreInfo `json:"keystore,omitempty"`
	Certificates []pki.CertInfo    `json:"certificates,omitempty"`
}

func runCertInspect(o *certOptions, path string) error {
	data, err := readInput(path, "FILE")
	if err != nil {
		return err
	}
	now := o.f.Now()
	res := inspectResult{File: path}
	isJKS := len(data) >= 4 && binary.BigEndian.Uint32(data) == 0xFEEDFEED
	var cert *x509.Certificate
	if !isJKS && len(data) > 0 && data[0] == 0x30 {
		cert, _ = x509.ParseCertificate(data) // a DER certificate also starts with 0x30
	}
	switch {
	case cert != nil:
		res.Format = "der"
		res.Certificates = []pki.CertInfo{pki.Describe(cert, now)}
	case isJKS || (len(data) > 0 && data[0] == 0x30):
		pw, err := o.pass.storePass(o.f, false)
		if err != nil {
			return err
		}
		k, err := pki.ReadKeystore(data, pw)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		info := k.Describe(now)
		res.Format = k.Type()
		res.Keystore = &info
	default:
		certs, err := pki.ParseCertificates(data)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		res.Format = "pem"
		for _, c := range certs {
			res.Certificates = append(res.Certificates, pki.Describe(c, now))
		}
	}
	if o.json {
		return writeJSON(o.f.Out, res)
	}
	w := o.f.Out
	if res.Keystore != nil {
		fmt.Fprintf(w, "Keystore type: %s\nYour keystore contains %d entr%s\n", strings.ToUpper(res.Format),
			len(res.Keystore.Entries), map[bool]string{true: "y", false: "ies"}[len(res.Keystore.Entries) == 1])
		for _, e := range res.Keystore.Entries {
			fmt.Fprintf(w, "\nAlias name: %s\nEntry type: %s\nCertificate chain length: %d\n", e.Alias, e.Kind, len(e.Chain))
			for i, ci := range e.Chain {
				fmt.Fprintf(w, "Certificate[%d]:\n", i+1)
				printCertInfo(w, ci)
			}
		}
		return nil
	}
	for i, ci := range res.Certificates {
		if len(res.Certificates) > 1 {
			fmt.Fprintf(w, "Certificate[%d]:\n", i+1)
		}
		printCertInfo(w, ci)
	}
	return nil
}

func printCertInfo(w io.Writer, ci pki.CertInfo) {
	fmt.Fprintf(w, "  Subject: %s\n  Issuer:  %s\n  Serial:  %s\n", ci.Subject, ci.Issuer, ci.Serial)
	fmt.Fprintf(w, "  Valid:   %s until %s (%s", ci.NotBefore.Format(time.RFC3339), ci.NotAfter.Format(time.RFC3339), ci.Status)
	if ci.Status == "valid" {
		fmt.Fprintf(w, ", %d days left", ci.DaysLeft)
	}
	fmt.Fprintln(w, ")")
	san := ci.SANString
	if san == "" {
		san = "(none: agents will check the CN)"
	}
	fmt.Fprintf(w, "  SAN:     %s\n  Key:     %s %d, signed %s\n  SHA-256: %s\n  SHA-1:   %s\n", san, ci.KeyAlgorithm, ci.KeySize,
		ci.SignatureAlgorithm, ci.SHA256, ci.SHA1)
	if ci.ExpiresSoon {
		fmt.Fprintf(w, "  warning: expires in %d days\n", ci.DaysLeft)
	}
}

func writeJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

// ---- csr ------------------------------------------------------------------

func newCertCSRCmd(o *certOptions) *cobra.Command {
	c := &cobra.Command{
		Use:     "csr",
		Short:   "Make a certificate signing request from the keystore's key (keytool -certreq)",
		Example: `  cmtls cert csr --keystore cm.keystore --alias jetty --out cm1.csr --storepass-file pw.txt`,
		Args:    cobraArgs(cobra.NoArgs),
		RunE:    func(c *cobra.Command, _ []string) error { return runCertCSR(o) },
	}
	keystoreFlags(c, o, false)
	outFlags(c, o, "file to write the PEM request to")
	return c
}

func runCertCSR(o *certOptions) error {
	if err := refuseExisting(o.out, o.force); err != nil {
		return err
	}
	k, _, err := o.openKeystore()
	if err != nil {
		return err
	}
	key, chain, err := k.PrivateKeyEntry(o.alias, nil)
	if err != nil {
		return err
	}
	der, err := pki.CreateCSR(pki.DefaultRand, key, chain[0])
	if err != nil {
		return err
	}
	if _, err := writeOutput(o.out, pki.EncodeCSRPEM(der), 0o644, o.force, o.f.Now()); err != nil {
		return err
	}
	fmt.Fprintf(o.f.Out, "wrote %s: request for %s; have your CA sign it, then run cmtls cert import\n", o.out, chain[0].Subject)
	return nil
}

// ---- import ---------------------------------------------------------------

func newCertImportCmd(o *certOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "import",
		Short: "Put a CA-signed certificate and its chain into the keystore (keytool -importcert)",
		Long: `import replaces the self-signed certificate of --alias with the one your CA signed,
after checking that it belongs to the keystore's key, is valid now, and chains through
--chain (intermediates and root, PEM) to a root. The old keystore is kept as a backup.

With --key (an unencrypted PEM or DER private key issued with the certificate), import
instead makes a new keystore of --storetype from key, certificate and chain, like
openssl pkcs12 -export; an existing --keystore is refused unless --force.`,
		Example: `  cmtls cert import --keystore cm.keystore --alias jetty --cert cm1.crt --chain ca-chain.pem --storepass-file pw.txt`,
		Args:    cobraArgs(cobra.NoArgs),
		RunE:    func(c *cobra.Command, _ []string) error { return runCertImport(o) },
	}
	keystoreFlags(c, o, false)
	c.Flags().StringVar(&o.certFile, "cert", "", "the CA-signed certificate (PEM or DER, one certificate)")
	c.Flags().StringVar(&o.chainFile, "chain", "", "the CA chain: intermediates and root (PEM)")
	c.Flags().StringVar(&o.keyFile, "key", "", "make a new keystore from this private key (PEM or DER, unencrypted)")
	c.Flags().StringVar(&o.storetype, "storetype", pki.TypeJKS, "with --key: keystore type to write, jks or pkcs12")
	c.Flags().BoolVar(&o.force, "force", false, "with --key: replace an existing keystore (a backup copy is kept)")
	return c
}

func runCertImport(o *certOptions) error {
	certData, err := readInput(o.certFile, "--cert")
	if err != nil {
		return err
	}
	leaf, err := pki.ParseCertificate(certData)
	if err != nil {
		return fmt.Errorf("%s: %w", o.certFile, err)
	}
	certs := []*x509.Certificate{leaf}
	if o.chainFile != "" {
		chainData, err := readInput(o.chainFile, "--chain")
		if err != nil {
			return err
		}
		chain, err := pki.ParseCertificates(chainData)
		if err != nil {
			return fmt.Errorf("%s: %w", o.chainFile, err)
		}
		certs = append(certs, chain...)
	}
	if o.keyFile != "" {
		return runCertImportNew(o, certs)
	}
	k, pw, err := o.openKeystore()
	if err != nil {
		return err
	}
	key, _, err := k.PrivateKeyEntry(o.alias, nil)
	if err != nil {
		return err
	}
	now := o.f.Now()
	chain, err := pki.BuildImportChain(key, certs, nil, now)
	if err != nil {
		return err
	}
	k.SetKeyEntry(o.alias, key, chain)
	data, err := k.Encode(pw, now, pki.DefaultRand)
	if err != nil {
		return err
	}
	backup, err := writeOutput(o.keystore, data, 0o600, true, now)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.f.ErrOut, "kept the old keystore as %s\n", backup)
	fmt.Fprintf(o.f.Out, "imported into %s (alias %s): %s, issued by %s, chain of %d\n", o.keystore, o.alias,
		leaf.Subject, leaf.Issuer, len(chain))
	return nil
}

// ---- verify ---------------------------------------------------------------

func newCertVerifyCmd(o *certOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "verify CERTFILE",
		Short: "Verify a certificate against a CA bundle and a host name, as the CM agent does",
		Long: `verify checks CERTFILE (PEM: the certificate, then any intermediates; or DER) against
the roots in --cafile (the agents' verify_cert_file) at the current time and, with --host,
that the host name agents use (server_host, exactly as written) matches a SAN dNSName, or
the CN when the certificate has no SAN. Exit 0 verified, 1 not verified, 2 bad input.`,
		Example: `  cmtls cert verify --cafile server.pem --host cm1.example.com server.pem`,
		Args:    cobraArgs(cobra.ExactArgs(1)),
		RunE:    func(c *cobra.Command, args []string) error { return runCertVerify(o, args[0]) },
	}
	c.Flags().StringVar(&o.cafile, "cafile", "", "PEM bundle of trusted CA certificates (verify_cert_file)")
	c.Flags().StringVar(&o.host, "host", "", "host name to match (the agents' server_host)")
	return c
}

func runCertVerify(o *certOptions, path string) error {
	caData, err := readInput(o.cafile, "--cafile")
	if err != nil {
		return err
	}
	roots, err := pki.ParseCertificates(caData)
	if err != nil {
		return fmt.Errorf("%s: %w", o.cafile, err)
	}
	data, err := readInput(path, "CERTFILE")
	if err != nil {
		return err
	}
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	chain, err := pki.VerifyChain(certs[0], certs[1:], roots, o.host, o.f.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(o.f.Out, "%s: OK, chain of %d to %s\n", path, len(chain), chain[len(chain)-1].Subject)
	if o.host != "" {
		fmt.Fprintf(o.f.Out, "host %s matches\n", o.host)
	}
	return nil
}

// runCertImportNew makes a new keystore from --key, --cert and --chain.
func runCertImportNew(o *certOptions, certs []*x509.Certificate) error {
	if o.keystore == "" {
		return usageErrorf("pass --keystore FILE", "--keystore is required")
	}
	if err := refuseExisting(o.keystore, o.force); err != nil {
		return err
	}
	storeType, err := pki.ParseStoreType(o.storetype)
	if err != nil {
		return err
	}
	keyData, err := readInput(o.keyFile, "--key")
	if err != nil {
		return err
	}
	key, err := pki.ParsePrivateKey(keyData)
	if err != nil {
		return fmt.Errorf("%s: %w", o.keyFile, err)
	}
	now := o.f.Now()
	chain, err := pki.BuildImportChain(key, certs, nil, now)
	if err != nil {
		return err
	}
	pw, err := o.pass.storePass(o.f, true)
	if err != nil {
		return err
	}
	data, err := pki.EncodeKeystore(storeType, o.alias, key, chain, pw, now, pki.DefaultRand)
	if err != nil {
		return err
	}
	backup, err := writeOutput(o.keystore, data, 0o600, o.force, now)
	if err != nil {
		return err
	}
	if backup != "" {
		fmt.Fprintf(o.f.ErrOut, "kept the old keystore as %s\n", backup)
	}
	fmt.Fprintf(o.f.Out, "wrote %s (%s, alias %s): %s, issued by %s, chain of %d\n", o.keystore, storeType, o.alias,
		chain[0].Subject, chain[0].Issuer, len(chain))
	return nil
}
