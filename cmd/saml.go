package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cmtls/cmtls/remote"
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
	report            string
	rec               *runReport
	// rollback runs `saml rollback` instead of configure.
	rollback bool
}

func newSAMLCmd(f *Factory) *cobra.Command {
	c := &cobra.Command{
		Use:   "saml",
		Short: "SAML single sign-on: CM as a SAML service provider, configured and verified",
	}
	c.AddCommand(newSAMLConfigureCmd(f, nil), newSAMLRollbackCmd(f, nil))
	return c
}

func newSAMLConfigureCmd(f *Factory, runF func(context.Context, *samlOptions) error) *cobra.Command {
	o := &samlOptions{f: f}
	c := &cobra.Command{
		Use:   "configure",
		Short: "Configure CM as a SAML SP, tell the IdP what it needs, and verify logins",
		Long: `configure carries out "Configuring User Authentication Using SAML":

  saml-validate  step 13 first: the IdP metadata parses and has signing certificates
                 and an SSO URL; the keystore opens; the alias is a private key; the
                 key password is right; a role script exists and is executable
  saml-settings  steps 3-12: External Authentication Type SAML, every SAML setting and
                 the SAML Response Binding (HTTP-POST unless saml.response_binding
                 says HTTP-Artifact), written through the CM API (found by display name)
  saml-roles     admin and user roles: on CM 6/7, external user mappings
                 (SAML_ATTRIBUTE per attribute value, SAML_SCRIPT per exit code);
                 on CM 5, the SAML Attribute Values for ROLE_* settings
  saml-restart   step 14: server.restart_command, then wait (saml.server_timeout,
                 default 5m) for /saml/metadata
  saml-idp       "Configuring the IDP": download /saml/metadata to a file, check
                 that every URL in it resolves and answers, print what the IdP needs
  saml-verify    "Verifying": the login page redirects to the IdP with a valid
                 signed request; saml.verify.logins log in through the IdP and CM is
                 asked (its users and sessions) whether each ended as admin, user or
                 unauthorized

What configure replaces is recorded next to the answers file
(cmtls-saml-state.json) for ` + "`cmtls saml rollback`" + `.

At a terminal without --answers, a wizard asks the inputs the procedure needs
(the CM API, IdP metadata, SAML keystore and key, CM's entity ID and URL, where
the user ID and the role come from), shows the plan and applies it only when you
say so; it then offers to save the answers (default ./cmtls-saml-answers.yaml,
secrets as {env: NAME}) and prints the variables to export and the command that
repeats the run headless.

With --answers FILE at a terminal, the plan is shown and asked once before the
live progress; headless, changes need --yes; --dry-run validates and prints the
settings that would change. --report FILE writes a change record (.md or .json).

Console TLS: when server.api.url is http but the console redirects to https
(after ` + "`cmtls init`" + ` Step 7), configure follows it, verifying the console
against server.api.ca_file, else the server's own PEM (server.pem_path, read on
the server host); with neither it stops (exit 2). It never skips verification.`,
		Example: `  # interactive: the wizard asks, shows the plan, offers to save the answers
  cmtls saml configure

  # headless: check the inputs and see the settings, then apply and verify
  cmtls saml configure --answers saml-answers.yaml --dry-run
  cmtls saml configure --answers saml-answers.yaml --yes
  cmtls saml configure --answers saml-answers.yaml --yes --json

  # a change record for the ticket
  cmtls saml configure --answers saml-answers.yaml --yes --report CHG0042.md`,
		Args: cobraArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(c.Context(), o)
			}
			rec, err := startReport(f, c, o.report, undoSAMLConfigure)
			if err != nil {
				return err
			}
			o.rec = rec
			return rec.finish(c.Context(), f, runSAMLConfigure(c.Context(), o))
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.answersPath, "answers", "", "SAML answers file (YAML, version: 1); headless mode")
	fl.BoolVar(&o.dryRun, "dry-run", false, "validate and print the settings that would change; change nothing")
	fl.BoolVar(&o.yes, "yes", false, "apply without asking (required headless)")
	fl.BoolVar(&o.json, "json", false, "print the result as JSON on stdout")
	fl.StringVar(&o.metadataOut, "metadata-out", "", "where to save CM's SAML metadata (default: next to the answers file, cm-saml-metadata.xml)")
	fl.BoolVar(&o.acceptNewHostKeys, "accept-new-host-keys", false, "trust an SSH host key of the server seen for the first time")
	fl.StringVar(&o.report, "report", "", reportFlagUsage)
	return c
}

func newSAMLRollbackCmd(f *Factory, runF func(context.Context, *samlOptions) error) *cobra.Command {
	o := &samlOptions{f: f, rollback: true}
	c := &cobra.Command{
		Use:   "rollback",
		Short: "Undo saml configure: CM's authentication as it was, server restarted, local login verified",
		Long: `rollback undoes cmtls saml configure, from what configure recorded next to the
answers file (cmtls-saml-state.json):

  saml-rollback-settings  every setting configure changed goes back to its earlier
                          value (External Authentication Type first among them); the
                          external user mappings it created are removed and those it
                          changed get their roles back
  saml-rollback-restart   server.restart_command, then wait for the console
  saml-rollback-verify    GET / on the console no longer leads to the IdP, and CM's own
                          login form lets server.api.user in

A password setting CM never shows (it answers REDACTED) is reset to its default when
configure found it unset, and otherwise left as it is. Exit codes as for configure.`,
		Example: `  cmtls saml rollback --answers saml-answers.yaml --dry-run
  cmtls saml rollback --answers saml-answers.yaml --yes`,
		Args: cobraArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(c.Context(), o)
			}
			rec, err := startReport(f, c, o.report, undoSAMLRollback)
			if err != nil {
				return err
			}
			o.rec = rec
			return rec.finish(c.Context(), f, runSAMLRollback(c.Context(), o))
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.answersPath, "answers", "", "the answers file given to saml configure (required)")
	fl.BoolVar(&o.dryRun, "dry-run", false, "print what would be put back and change nothing")
	fl.BoolVar(&o.yes, "yes", false, "roll back without asking (required)")
	fl.BoolVar(&o.json, "json", false, "print the result as JSON on stdout")
	fl.BoolVar(&o.acceptNewHostKeys, "accept-new-host-keys", false, "trust an SSH host key of the server seen for the first time")
	fl.StringVar(&o.report, "report", "", reportFlagUsage)
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
		if !f.CanPrompt() {
			return usageErrorf("add --yes to apply, or --dry-run to see the plan first",
				"headless saml configure changes CM settings and restarts the server, and needs --yes")
		}
		return runSAMLConfirmProgress(ctx, o)
	}
	col := &steps.Collector{}
	o.rec.setCollector(col)
	res, sres, err := runSAML(ctx, o, col)
	return finishSAML(o, res, sres, col, err)
}

// runSAMLConfirmProgress runs saml configure or rollback from an answers
// file at a terminal without --yes: the plan, one confirmation, the live
// progress view.
func runSAMLConfirmProgress(ctx context.Context, o *samlOptions) error {
	file, err := loadAnswers(o.f, o.answersPath, (*answers.File).ValidateSAML)
	if err != nil {
		return err
	}
	return runSAMLProgress(ctx, o, file)
}

func runSAMLRollback(ctx context.Context, o *samlOptions) error {
	if o.answersPath == "" {
		return usageErrorf("pass --answers FILE (the one given to cmtls saml configure)", "saml rollback needs --answers")
	}
	if !o.yes && !o.dryRun {
		if !o.f.CanPrompt() {
			return usageErrorf("add --yes to roll back, or --dry-run to see what would change",
				"saml rollback changes CM settings and restarts the server, and needs --yes")
		}
		return runSAMLConfirmProgress(ctx, o)
	}
	col := &steps.Collector{}
	o.rec.setCollector(col)
	res, sres, err := runSAML(ctx, o, col)
	return finishSAML(o, res, sres, col, err)
}

// runSAMLHeadless runs configure headless and returns the SAML outcome
// (the demo prints it).
func runSAMLHeadless(ctx context.Context, o *samlOptions, col *steps.Collector) (*samlsteps.Result, error) {
	_, sres, err := runSAML(ctx, o, col)
	return sres, err
}

// runSAML loads the answers, connects and runs configure's (or
// rollback's) steps on the runner; an error before the run comes back
// with nil results, so that --json still reports it.
func runSAML(ctx context.Context, o *samlOptions, col *steps.Collector) (*steps.Result, *samlsteps.Result, error) {
	f := o.f
	file, err := loadAnswers(f, o.answersPath, (*answers.File).ValidateSAML)
	if err != nil {
		return nil, nil, err
	}
	o.rec.setAnswers(file, o.answersPath, o.acceptNewHostKeys)
	text := steps.NewTextReporter(f.ErrOut)
	text.Verbose = f.Verbose
	return runSAMLSteps(ctx, o, file, steps.Tee{text, col}, printPlan(f))
}

// runSAMLSteps connects and runs the steps with rep and confirm.
func runSAMLSteps(ctx context.Context, o *samlOptions, file *answers.File, rep steps.Reporter, confirm func(context.Context, steps.Plan) (bool, error)) (*steps.Result, *samlsteps.Result, error) {
	f := o.f
	conn, err := samlsteps.Connect(ctx, file, samlsteps.ConnectOptions{
		Dial:   func(ctx context.Context) (remote.Host, error) { return dialServer(ctx, f, file, o.acceptNewHostKeys) },
		DryRun: o.dryRun,
		Notice: func(s string) { fmt.Fprintln(f.ErrOut, s) },
		NewAPI: f.API,
	})
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	proc := samlsteps.New(samlsteps.Deps{API: conn.API, HTTP: conn.HTTP, MetadataOut: o.metadataOut})
	env := &steps.Env{Answers: file, Server: conn.Server, Reporter: rep, Now: f.Now}
	list := proc.Steps()
	if o.rollback {
		list = proc.RollbackSteps()
	}
	res, err := steps.Run(ctx, env, list, steps.Options{DryRun: o.dryRun, Confirm: confirm})
	o.rec.setResult(res)
	o.rec.setSAML(&proc.Result)
	return res, &proc.Result, err
}

// finishSAML prints the plan (dry run), what the IdP needs, the logins
// and one closing line that claims only what was verified, or the JSON
// result; err passes on for the exit code.
func finishSAML(o *samlOptions, res *steps.Result, sres *samlsteps.Result, col *steps.Collector, err error) error {
	f := o.f
	if res == nil {
		res = &steps.Result{}
	}
	if sres == nil {
		sres = &samlsteps.Result{}
	}
	command := "saml configure"
	if o.rollback {
		command = "saml rollback"
	}
	if o.json {
		jr := samlsteps.JSONResult{JSONResult: jsonResult(command, o.dryRun, res, col, err), Result: sres}
		_ = steps.WriteJSON(f.Out, jr)
		return err
	}
	if o.dryRun && len(res.Plan) > 0 {
		fmt.Fprintln(f.Out, "plan (dry run; nothing was changed):")
		_ = res.Plan.WriteText(f.Out)
	}
	printSAMLOutcome(f, sres, true)
	if err == nil && !o.dryRun {
		fmt.Fprintln(f.Out, samlDoneLine(o.rollback, sres))
		if res.Applied {
			c := samlClosing(o.answersPath, o.rollback, sres)
			fmt.Fprint(f.Out, strings.TrimRight(c.Text(80, f.now()), "\n")+"\n")
		}
	}
	return err
}

func printSAMLOutcome(f *Factory, sres *samlsteps.Result, marks bool) {
	if len(sres.ForIdP) > 0 {
		fmt.Fprintln(f.Out, "for the IdP administrator:")
		for _, l := range sres.ForIdP {
			fmt.Fprintf(f.Out, "  - %s\n", l)
		}
	}
	for _, l := range sres.Logins {
		mark := "ok"
		if !l.OK {
			mark = "FAILED"
		}
		if !marks {
			mark = ""
		}
		fmt.Fprintln(f.Out, strings.TrimRight(fmt.Sprintf("login %-12s expected %-12s got %-12s %s", l.User, l.Expect, l.Got, mark), " "))
	}
}

// samlDoneLine says what a successful run proved, and no more.
func samlDoneLine(rollback bool, sres *samlsteps.Result) string {
	switch {
	case rollback:
		return "done: CM authenticates as it did before saml configure; the console no longer sends browsers to the IdP and the local login is verified"
	case sres.LoginsVerified:
		return fmt.Sprintf("done: CM is a SAML service provider; its login redirect and %d test login(s) are verified", len(sres.Logins))
	}
	return "done: CM is a SAML service provider and its login redirect is verified; no test login was run (list some under saml.verify.logins to verify logins)"
}

// runSAMLTUI asks the seed's inputs with the wizard, shows the plan for
// confirmation and runs the same steps as the headless path.
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
	return runSAMLProgress(ctx, o, file)
}

// runSAMLProgress runs the SAML steps in the progress view, the plan
// confirmed inside it, then prints the outcome and the closing lines.
func runSAMLProgress(ctx context.Context, o *samlOptions, file *answers.File) error {
	f := o.f
	wo := f.WizardOptions()
	title := "cmtls saml configure"
	if o.rollback {
		title = "cmtls saml rollback"
	}
	var sres *samlsteps.Result
	var res *steps.Result
	col := &steps.Collector{}
	o.rec.setCollector(col)
	o.rec.setAnswers(file, o.answersPath, o.acceptNewHostKeys)
	err := wizard.RunWithProgress(ctx, wo, title, func(ctx context.Context, r steps.Reporter) error {
		var runErr error
		res, sres, runErr = runSAMLSteps(ctx, o, file, steps.Tee{r, col}, confirmInView(title+": plan", wo))
		return runErr
	})
	if errors.Is(err, steps.ErrDeclined) {
		fmt.Fprintln(f.ErrOut, "nothing was changed")
		o.rec.declined()
		return nil
	}
	if sres != nil {
		printSAMLOutcome(f, sres, false)
	}
	if err == nil && res != nil && res.Applied {
		fmt.Fprintln(f.Out, samlDoneLine(o.rollback, sres))
		c := samlClosing(o.answersPath, o.rollback, sres)
		fmt.Fprint(f.Out, strings.TrimRight(c.Text(80, f.now()), "\n")+"\n")
	}
	return err
}
