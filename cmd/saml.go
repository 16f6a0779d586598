package cmd

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

	"github.com/spf13/cobra"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
	samlsteps "github.com/cmtls/cmtls/steps/saml"
	"github.com/cmtls/cmtls/wizard"
)

type samlOptions struct {
	f                 *Factory
	answersPath       string
	dryRun, yes, json bool
	metadataOut       string
	acceptNewHostKeys bool
	verbose           bool
}

func newSAMLCmd(f *Factory) *cobra.Command {
	c := &cobra.Command{
		Use:   "saml",
		Short: "SAML single sign-on: CM as a SAML service provider, configured and verified",
	}
	c.AddCommand(newSAMLConfigureCmd(f))
	return c
}

func newSAMLConfigureCmd(f *Factory) *cobra.Command {
	o := &samlOptions{f: f}
	c := &cobra.Command{
		Use:   "configure",
		Short: "Configure CM as a SAML SP, tell the IdP what it needs, and verify logins",
		Long: `configure carries out "Configuring User Authentication Using SAML":

  saml-validate  step 13 first: the IdP metadata parses and has signing certificates
                 and an SSO URL; the keystore opens; the alias is a private key; the
                 key password is right; a role script exists and is executable
  saml-settings  steps 3-12: External Authentication Type SAML and every SAML
                 setting, written through the CM API (found by display name)
  saml-restart   step 14: server.restart_command, then wait for /saml/metadata
  saml-idp       "Configuring the IDP": download /saml/metadata to a file, check
                 that every URL in it resolves and answers, print what the IdP
                 needs; a test IdP on loopback (the sandbox's) is registered
  saml-verify    "Verifying": the login page redirects to the IdP with a valid
                 signed request; saml.verify.logins log in and must end as
                 admin, user or unauthorized

At a terminal without --answers, a wizard asks the inputs the procedure needs
(the CM API, IdP metadata, SAML keystore and key, CM's entity ID and URL, where
the user ID and the role come from), shows the plan and applies it only when you
say so; it then offers to save the answers (default ./cmtls-saml-answers.yaml,
secrets as {env: NAME}) and prints the variables to export and the command that
repeats the run headless.

Headless with --answers FILE: changes need --yes; --dry-run validates and prints
the settings that would change.

Console TLS: when server.api.url is http but the console redirects to https
(after ` + "`cmtls init`" + ` Step 7), configure follows it, verifying the console
against server.api.ca_file, else the server's own PEM (server.pem_path, read on
the server host); with neither it stops (exit 2). It never skips verification.`,
		Example: `  # interactive: the wizard asks, shows the plan, offers to save the answers
  cmtls saml configure

  # headless: check the inputs and see the settings, then apply and verify
  cmtls saml configure --answers saml-answers.yaml --dry-run
  cmtls saml configure --answers saml-answers.yaml --yes
  cmtls saml configure --answers saml-answers.yaml --yes --json`,
		Args: cobraArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			return runSAMLConfigure(c.Context(), o)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.answersPath, "answers", "", "SAML answers file (YAML, version: 1); headless mode")
	fl.BoolVar(&o.dryRun, "dry-run", false, "validate and print the settings that would change; change nothing")
	fl.BoolVar(&o.yes, "yes", false, "apply without asking (required headless)")
	fl.BoolVar(&o.json, "json", false, "print the result as JSON on stdout")
	fl.StringVar(&o.metadataOut, "metadata-out", "", "where to save CM's SAML metadata (default: next to the answers file, cm-saml-metadata.xml)")
	fl.BoolVar(&o.acceptNewHostKeys, "accept-new-host-keys", false, "trust an SSH host key of the server seen for the first time")
	fl.BoolVarP(&o.verbose, "verbose", "v", false, "print every event")
	return c
}

func runSAMLConfigure(ctx context.Context, o *samlOptions) error {
	f := o.f
	if o.answersPath == "" {
		if !f.CanPrompt() {
			return usageErrorf("pass --answers FILE (see README.md for the SAML answers file)",
				"no terminal and no --answers: nothing to ask and nothing to read")
		}
		return runSAMLTUI(ctx, o)
	}
	if !o.yes && !o.dryRun {
		return usageErrorf("add --yes to apply, or --dry-run to see the plan first",
			"headless saml configure changes CM settings and restarts the server, and needs --yes")
	}
	col := &steps.Collector{}
	res, err := runSAMLHeadless(ctx, o, col)
	if res == nil {
		res = &samlsteps.Result{}
	}
	if o.json {
		jr := struct {
			Command  string            `json:"command"`
			DryRun   bool              `json:"dryRun"`
			ExitCode int               `json:"exitCode"`
			Result   *samlsteps.Result `json:"result"`
			Events   []steps.Event     `json:"events"`
			Error    string            `json:"error,omitempty"`
			Hint     string            `json:"hint,omitempty"`
		}{Command: "saml configure", DryRun: o.dryRun, ExitCode: exitCode(err), Result: res, Events: col.Events()}
		if jr.Result.Plan == nil {
			jr.Result.Plan = steps.Plan{}
		}
		if err != nil {
			jr.Error, jr.Hint = err.Error(), findHint(err)
		}
		_ = steps.WriteJSON(f.Out, jr)
		return err
	}
	if o.dryRun && len(res.Plan) > 0 {
		fmt.Fprintln(f.Out, "plan (dry run; nothing was changed):")
		_ = res.Plan.WriteText(f.Out)
	}
	if len(res.ForIdP) > 0 {
		fmt.Fprintln(f.Out, "for the IdP administrator:")
		for _, l := range res.ForIdP {
			fmt.Fprintf(f.Out, "  - %s\n", l)
		}
		if res.Registered {
			fmt.Fprintln(f.Out, "  (registered with the test IdP)")
		}
	}
	for _, l := range res.Logins {
		mark := "ok"
		if !l.OK {
			mark = "FAILED"
		}
		fmt.Fprintf(f.Out, "login %-12s expected %-12s got %-12s %s\n", l.User, l.Expect, l.Got, mark)
	}
	if err == nil && !o.dryRun {
		fmt.Fprintln(f.Out, "done: CM is a SAML service provider and logins are verified")
	}
	return err
}

// runSAMLHeadless loads the answers, connects and runs; an error before the
// run comes back with a nil result, so that --json still reports it.
func runSAMLHeadless(ctx context.Context, o *samlOptions, col *steps.Collector) (*samlsteps.Result, error) {
	f := o.f
	file, err := loadAnswers(f, o.answersPath, (*answers.File).ValidateSAML)
	if err != nil {
		return nil, err
	}
	text := steps.NewTextReporter(f.ErrOut)
	text.Verbose = o.verbose
	env, closeEnv, err := newSAMLEnv(ctx, f, file, o, steps.Tee{text, col})
	if err != nil {
		return nil, err
	}
	defer closeEnv()
	return samlsteps.Run(ctx, env, samlsteps.Options{DryRun: o.dryRun, Confirm: printPlan(f)})
}

// newSAMLEnv connects the CM API, the server host (for the restart) and an
// HTTP client that trusts server.api.ca_file for an https console. When
// server.api.url is http but the console redirects to https (console TLS
// on, e.g. after `cmtls init` Step 7), it follows there, trusting
// server.api.ca_file or else the server's own PEM (server.pem_path on the
// server host); it never skips verification.
func newSAMLEnv(ctx context.Context, f *Factory, file *answers.File, o *samlOptions, rep steps.Reporter) (env *samlsteps.Env, closeFn func(), err error) {
	srv := file.Server
	var server remote.Host
	closeFn = func() {}
	defer func() {
		if err != nil && server != nil {
			_ = server.Close()
		}
	}()
	dial := func() (remote.Host, error) {
		if server == nil {
			h, err := dialServer(ctx, f, file, o.acceptNewHostKeys)
			if err != nil {
				return nil, err
			}
			server = h
		}
		return server, nil
	}
	var trust *samlsteps.Trust
	if to := samlsteps.ConsoleTLSTarget(ctx, srv.API.URL); to != nil {
		var reader samlsteps.FileReader
		if srv.API.CAFile == "" {
			h, err := dial()
			if err != nil {
				return nil, nil, err
			}
			reader = h
		}
		t, err := samlsteps.ChooseTrust(ctx, file, reader)
		if err != nil {
			return nil, nil, err
		}
		if err := samlsteps.CheckTrust(ctx, to, t); err != nil {
			return nil, nil, err
		}
		moved := samlsteps.FollowConsoleTLS(file, to)
		fmt.Fprintf(f.ErrOut, "console TLS is on: %s; trusting %s\n", strings.Join(moved, ", "), t.Source)
		trust = &t
	}
	var apiOpts []cmapi.Option
	httpClient := &http.Client{Timeout: 30 * time.Second}
	switch {
	case trust != nil:
		apiOpts = append(apiOpts, cmapi.WithCAPEM(trust.PEM))
		httpClient.Transport = trustingTransport(trust.Pool())
	case srv.API.CAFile != "":
		p := file.ExpandPath(srv.API.CAFile)
		apiOpts = append(apiOpts, cmapi.WithCAFile(p))
		pemData, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, &UsageError{Err: fmt.Errorf("server.api.ca_file: %w", err), hint: "check server.api.ca_file"}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, nil, usageErrorf("give a PEM CA certificate", "server.api.ca_file %s holds no PEM certificate", p)
		}
		httpClient.Transport = trustingTransport(pool)
	}
	if srv.API.Version != "" {
		apiOpts = append(apiOpts, cmapi.WithAPIVersion(srv.API.Version))
	}
	api, err := cmapi.New(srv.API.URL, srv.API.User, srv.API.Password.Value(), apiOpts...)
	if err != nil {
		return nil, nil, &UsageError{Err: err, hint: "fix server.api.url"}
	}
	env = &samlsteps.Env{Answers: file, API: api, HTTP: httpClient, Reporter: rep, Now: f.Now, MetadataOut: o.metadataOut}
	// over SSH only when it will be used: a dry run restarts nothing
	if srv.RestartCommand != "" && (srv.SSH == nil || !o.dryRun) {
		if _, err := dial(); err != nil {
			return nil, nil, err
		}
	}
	if server != nil {
		env.Server = server
		h := server
		closeFn = func() { _ = h.Close() }
	}
	if env.Server == nil && !o.dryRun && srv.RestartCommand == "" {
		return nil, nil, usageErrorf("set server.restart_command (e.g. systemctl restart cloudera-scm-server)",
			"%w", errors.New("CM reads SAML settings at start: a restart command is needed"))
	}
	return env, closeFn, nil
}

// trustingTransport verifies https servers against pool only.
func trustingTransport(pool *x509.CertPool) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr
}

// runSAMLTUI asks the seed's inputs with the wizard, shows the plan for
// confirmation and runs the same engine as the headless path.
func runSAMLTUI(ctx context.Context, o *samlOptions) error {
	f := o.f
	file := &answers.File{Version: 1}
	wo, d := wizardSetup(ctx, f, file.Dir)
	d.LookupHosts = nil // SAML asks for no agent hosts
	if err := wizard.FillSAML(ctx, file, d, wo); err != nil {
		return err
	}
	file.ApplyDefaults()
	if err := file.ValidateSAML(); err != nil {
		return err
	}
	hint, err := offerSave(ctx, f, file, wo, defaultSAMLAnswersFile, "cmtls saml configure")
	if err != nil {
		return err
	}
	if hint != "" {
		defer fmt.Fprint(f.ErrOut, hint)
	}
	if err := file.ResolveSecrets(f.LookupEnv); err != nil {
		return err
	}
	if file.Dir == "" {
		if wd, err := os.Getwd(); err == nil {
			file.Dir = wd
		}
	}
	var res *samlsteps.Result
	err = wizard.RunWithProgress(ctx, wo, "cmtls saml configure", func(ctx context.Context, r steps.Reporter) error {
		env, closeEnv, err := newSAMLEnv(ctx, f, file, o, r)
		if err != nil {
			return err
		}
		defer closeEnv()
		var runErr error
		res, runErr = samlsteps.Run(ctx, env, samlsteps.Options{DryRun: o.dryRun,
			Confirm: func(ctx context.Context, p steps.Plan) (bool, error) {
				var b strings.Builder
				_ = p.WriteText(&b)
				return wizard.ConfirmPlan(ctx, "cmtls saml configure: plan", b.String(), wo)
			}})
		return runErr
	})
	if errors.Is(err, steps.ErrDeclined) {
		fmt.Fprintln(f.ErrOut, "nothing was changed")
		return nil
	}
	if res != nil {
		for _, l := range res.ForIdP {
			fmt.Fprintf(f.Out, "  - %s\n", l)
		}
		for _, l := range res.Logins {
			fmt.Fprintf(f.Out, "login %-12s expected %-12s got %s\n", l.User, l.Expect, l.Got)
		}
	}
	return err
}
