package cmd

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"

	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
	"github.com/cmtls/cmtls/wizard"
)

type initOptions struct {
	f                 *Factory
	answersPath       string
	dryRun            bool
	yes               bool
	json              bool
	only, skip        []string
	acceptNewHostKeys bool
	report            string
	rec               *runReport
}

func newInitCmd(f *Factory, runF func(context.Context, *initOptions) error) *cobra.Command {
	o := &initOptions{f: f}
	c := &cobra.Command{
		Use:   "init",
		Short: "TLS wizard, Steps 1-7: agents and console on TLS level 2, verified",
		Long: `init carries out the TLS procedure "Configuring TLS Authentication of Server to
Agents and Users", Steps 1-7, and proves every step:

  enable-agent-tls   Step 1: AGENT_TLS, KEYSTORE_PATH, KEYSTORE_PASSWORD through the API
  server-cert        Step 2: keypair + certificate in the keystore (CN = server.host),
                     DER export, PEM; pre-flight: the certificate names every agent's
                     server_host and is valid for 30+ days, else nothing changes
  push-cert          Step 3: PEM to every agent, use_tls=1 and verify_cert_file in config.ini
  restart-server     Step 4: server restart, then wait for the API
  restart-agents     Step 5: canary agent(s) first, verified, then the rest
  verify-heartbeats  Step 6: every agent heartbeats again over verified TLS
  console-tls        Step 7: WEB_TLS (tls.admin_console), only after 1-6 are verified

At a terminal, a wizard asks what no --answers file gives (this machine's name
and an existing keystore are offered as defaults, the hosts the CM API knows as
the agent hosts), shows the plan and applies it only when you say so; it then
offers to save the answers (default ./cmtls-answers.yaml, secrets as {env: NAME})
and prints the variables to export and the command that repeats the run headless.

Headless with --answers FILE: changes need --yes; --dry-run prints the plan.
Exit codes: 0 done and verified, 1 failed, 2 bad input (nothing changed),
3 partly done (re-running continues), 130 interrupted.`,
		Example: `  # interactive: the wizard asks, shows the plan, offers to save the answers
  cmtls init

  # headless: see the plan, then apply it
  cmtls init --answers cmtls-answers.yaml --dry-run
  cmtls init --answers cmtls-answers.yaml --yes

  # Steps 1-6 only (the Admin Console stays on http), result as JSON
  cmtls init --answers cmtls-answers.yaml --yes --json --skip console-tls

  # a change record for the ticket (Markdown; .json for JSON)
  cmtls init --answers cmtls-answers.yaml --yes --report CHG0042.md

  # one step again, e.g. after fixing an agent
  cmtls init --answers cmtls-answers.yaml --yes --only push-cert,restart-agents,verify-heartbeats`,
		Args: cobraArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(c.Context(), o)
			}
			rec, err := startReport(f, c, o.report, undoInit)
			if err != nil {
				return err
			}
			o.rec = rec
			return rec.finish(c.Context(), f, runInit(c.Context(), o))
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.answersPath, "answers", "", "answers file (YAML, version: 1); headless mode")
	fl.BoolVar(&o.dryRun, "dry-run", false, "print the plan (every file, key and service that would change) and change nothing")
	fl.BoolVar(&o.yes, "yes", false, "apply without asking (required headless)")
	fl.BoolVar(&o.json, "json", false, "print the result as JSON on stdout")
	fl.StringSliceVar(&o.only, "only", nil, "run only these step ids (comma-separated)")
	fl.StringSliceVar(&o.skip, "skip", nil, "skip these step ids (comma-separated)")
	fl.BoolVar(&o.acceptNewHostKeys, "accept-new-host-keys", false, "trust SSH host keys seen for the first time (a changed key is always refused)")
	fl.StringVar(&o.report, "report", "", reportFlagUsage)
	return c
}

func runInit(ctx context.Context, o *initOptions) error {
	f := o.f
	if o.answersPath == "" {
		if !f.CanPrompt() {
			return usageErrorf("pass --answers FILE (see README.md for the answers file), or run at a terminal for the wizard",
				"no terminal and no --answers: nothing to ask and nothing to read")
		}
		return runInitTUI(ctx, o)
	}
	if !o.yes && !o.dryRun && f.CanPrompt() {
		// At a terminal without --yes: the wizard asks what the file
		// lacks, shows the plan and asks before changing anything.
		return runInitTUI(ctx, o)
	}
	if !o.yes && !o.dryRun {
		return usageErrorf("add --yes to apply, or --dry-run to see the plan first",
			"headless init changes hosts and needs --yes")
	}
	return runHeadless(ctx, f, headlessRun{command: "init", answersPath: o.answersPath, steps: steps.TLSSteps(),
		opts:   steps.Options{Only: o.only, Skip: o.skip, DryRun: o.dryRun},
		asJSON: o.json, acceptNew: o.acceptNewHostKeys, rec: o.rec})
}

// headlessRun is what init and rollback give runHeadless.
type headlessRun struct {
	command, answersPath       string
	steps                      []steps.Step
	opts                       steps.Options
	asJSON, acceptNew, verbose bool
	// rec gathers the change record (--report); nil without one.
	rec *runReport
	// closing names the closing lines (default: command).
	closing string
}

// runHeadless loads and checks the answers file (init's rules), connects,
// runs the steps (showing the plan before a --yes run applies it) and
// prints the summary or the JSON result. Errors before the run still give
// a JSON result with --json.
func runHeadless(ctx context.Context, f *Factory, r headlessRun) error {
	col := &steps.Collector{}
	r.rec.setCollector(col)
	if r.opts.Command == "" {
		r.opts.Command = "cmtls " + r.command // names the run in host locks and journals
	}
	early := func(err error) error { return finish(ctx, f, r.command, r.opts.DryRun, r.asJSON, nil, col, err) }
	file, err := loadAnswers(f, r.answersPath, (*answers.File).ValidateInit)
	if err != nil {
		return early(err)
	}
	r.rec.setAnswers(file, r.answersPath, r.acceptNew)
	text := steps.NewTextReporter(f.ErrOut)
	text.Verbose = r.verbose || f.Verbose
	env, err := newTLSEnv(ctx, f, file, r.acceptNew, steps.Tee{text, col})
	if err != nil {
		return early(err)
	}
	defer env.Close()
	if err := env.FollowConsoleTLS(ctx); err != nil {
		return early(err)
	}
	r.opts.Confirm = printPlan(f)
	res, err := steps.Run(ctx, env, r.steps, r.opts)
	r.rec.setResult(res)
	err = finish(ctx, f, r.command, r.opts.DryRun, r.asJSON, res, col, err)
	if err == nil && !r.opts.DryRun && !r.asJSON && res != nil && res.Applied {
		printCommandClosing(ctx, f, r.closingName(), file, res, r.answersPath, r.acceptNew)
	}
	return err
}

func (r headlessRun) closingName() string {
	if r.closing != "" {
		return r.closing
	}
	return r.command
}

// runConfirmProgress is a run of r at a terminal without --yes: the same
// steps as headless, with the plan shown for one confirmation and the
// live progress view (init's experience, for renew and rollback too).
func runConfirmProgress(ctx context.Context, f *Factory, r headlessRun) error {
	col := &steps.Collector{}
	r.rec.setCollector(col)
	file, err := loadAnswers(f, r.answersPath, (*answers.File).ValidateInit)
	if err != nil {
		return err
	}
	r.rec.setAnswers(file, r.answersPath, r.acceptNew)
	wo := f.WizardOptions()
	title := "cmtls " + r.command
	var res *steps.Result
	err = wizard.RunWithProgress(ctx, wo, title, func(ctx context.Context, rep steps.Reporter) error {
		env, err := newTLSEnv(ctx, f, file, r.acceptNew, steps.Tee{rep, col})
		if err != nil {
			return err
		}
		defer env.Close()
		if err := env.FollowConsoleTLS(ctx); err != nil {
			return err
		}
		r.opts.Confirm = confirmInView(title+": plan", wo)
		var runErr error
		res, runErr = steps.Run(ctx, env, r.steps, r.opts)
		r.rec.setResult(res)
		return runErr
	})
	if errors.Is(err, steps.ErrDeclined) {
		fmt.Fprintln(f.ErrOut, "nothing was changed")
		r.rec.declined()
		return nil
	}
	err = finish(ctx, f, r.command, false, r.asJSON, res, col, err)
	if err == nil && !r.asJSON && res != nil && res.Applied {
		printCommandClosing(ctx, f, r.closingName(), file, res, r.answersPath, r.acceptNew)
	}
	return err
}

// confirmInView shows the plan in the progress view and asks once.
func confirmInView(title string, wo wizard.Options) func(context.Context, steps.Plan) (bool, error) {
	return func(ctx context.Context, p steps.Plan) (bool, error) {
		var b strings.Builder
		_ = p.WriteText(&b)
		return wizard.ConfirmPlan(ctx, title, b.String(), wo)
	}
}

// printPlan shows the plan on stderr before a headless --yes run applies
// it, so that logs say what was about to change.
func printPlan(f *Factory) func(context.Context, steps.Plan) (bool, error) {
	return func(_ context.Context, p steps.Plan) (bool, error) {
		fmt.Fprintln(f.ErrOut, "plan:")
		_ = p.WriteText(f.ErrOut)
		return true, nil
	}
}

// finish prints the plan (dry run), the per-host summary and the JSON
// result, and passes err on for the exit code. After an interrupt the
// error says so, so that the JSON exit_code is the process's (130).
func finish(ctx context.Context, f *Factory, command string, dryRun, asJSON bool, res *steps.Result, col *steps.Collector, err error) error {
	if ctx.Err() != nil && !errors.Is(err, context.Canceled) {
		err = errors.Join(err, context.Canceled)
	}
	if res == nil {
		res = &steps.Result{DryRun: dryRun}
	}
	dryRun = dryRun || res.DryRun
	if dryRun && len(res.Plan) > 0 && !asJSON {
		fmt.Fprintln(f.Out, "plan (dry run; nothing was changed):")
		_ = res.Plan.WriteText(f.Out)
	}
	if !asJSON && (res.Applied || dryRun) && len(res.Hosts) > 0 {
		_ = res.WriteSummary(f.Out, err)
	}
	if asJSON {
		jr := jsonResult(command, dryRun, res, col, err)
		_ = steps.WriteJSON(f.Out, jr)
	}
	return err
}

// jsonResult is the one JSON result shape of every command on the runner:
// empty lists as [], never null; exit_code the process's; no secret (the
// plan and events hold redacted values only).
func jsonResult(command string, dryRun bool, res *steps.Result, col *steps.Collector, err error) steps.JSONResult {
	jr := steps.JSONResult{Command: command, DryRun: dryRun, ExitCode: exitCode(err), Plan: res.Plan,
		Steps: res.Steps, Hosts: res.Hosts, Counts: steps.HostCounts(res.Hosts), Events: col.Events()}
	if jr.Plan == nil {
		jr.Plan = steps.Plan{}
	}
	if jr.Steps == nil {
		jr.Steps = []steps.StepResult{}
	}
	if jr.Hosts == nil {
		jr.Hosts = []steps.HostResult{}
	}
	if jr.Events == nil {
		jr.Events = []steps.Event{}
	}
	if err != nil {
		jr.Error, jr.Hint = err.Error(), findHint(err)
	}
	return jr
}

// loadAnswers reads, defaults, validates and resolves an answers file:
// every check before any host is touched.
func loadAnswers(f *Factory, path string, validate func(*answers.File) error) (*answers.File, error) {
	file, err := answers.Load(path)
	if err != nil {
		return nil, err
	}
	applyDefaults(file)
	if err := validate(file); err != nil {
		return nil, wrongKindOfAnswers(path, file, err)
	}
	if err := file.ResolveSecrets(f.LookupEnv); err != nil {
		return nil, err
	}
	for _, w := range file.Warnings {
		fmt.Fprintf(f.ErrOut, "warning: %s\n", w)
	}
	return file, nil
}

// wrongKindOfAnswers says so when the answers file failing validation is
// the other kind: the SAML answers given to init/status/rollback (it has
// saml but no agents, and passes the SAML checks), or the TLS answers given
// to saml configure (agents but no saml, and passes init's checks). The
// sandbox writes both side by side, so this is the easy mistake, and
// "agents is required" alone does not say it. A file that is neither (an
// agents-only file given to rollback) keeps its own error.
func wrongKindOfAnswers(path string, file *answers.File, err error) error {
	switch {
	case file.SAML != nil && file.Agents == nil && file.ValidateSAML() == nil:
		return &UsageError{Err: fmt.Errorf("%s is a SAML answers file (it has saml and no agents): %w", path, err),
			hint: "give this command the TLS answers file (server.keystore, agents), e.g. answers.yaml; the SAML one is for cmtls saml configure"}
	case file.SAML == nil && file.Agents != nil && file.ValidateInit() == nil:
		return &UsageError{Err: fmt.Errorf("%s is a TLS answers file (it has agents and no saml): %w", path, err),
			hint: "give cmtls saml configure the SAML answers file (server.api and saml), e.g. saml-answers.yaml; the TLS one is for init, status and rollback"}
	}
	return err
}

// newTLSEnv connects what the steps need: the API client, the server host
// (this machine unless server.ssh) and a dialer for the agents.
func newTLSEnv(ctx context.Context, f *Factory, file *answers.File, acceptNew bool, rep steps.Reporter) (*steps.Env, error) {
	srv := file.Server
	apiOpts := []cmapi.Option{cmapi.WithCommandTimeout(steps.CommandTimeout(file))}
	if srv.API.CAFile != "" {
		apiOpts = append(apiOpts, cmapi.WithCAFile(file.ExpandPath(srv.API.CAFile)))
	}
	if srv.API.Version != "" {
		apiOpts = append(apiOpts, cmapi.WithAPIVersion(srv.API.Version))
	}
	api, err := f.API(srv.API.URL, srv.API.User, srv.API.Password.Value(), apiOpts...)
	if err != nil {
		return nil, &UsageError{Err: err, hint: "fix server.api.url"}
	}
	env := &steps.Env{Answers: file, API: api, Now: f.Now, Rand: rand.Reader, Reporter: rep}
	env.NewAPI = func(url string, caPEM []byte) (steps.API, error) {
		return f.API(url, srv.API.User, srv.API.Password.Value(), cmapi.WithCAPEM(caPEM), cmapi.WithCommandTimeout(steps.CommandTimeout(file)))
	}
	srvHost, err := dialServer(ctx, f, file, acceptNew)
	if err != nil {
		return nil, err
	}
	env.Server = srvHost
	d, err := f.Dialer(sshOptions(f, file, file.Agents.SSH, acceptNew, warnTo(f)))
	if err != nil {
		_ = env.Close()
		return nil, err
	}
	env.Closers = append(env.Closers, d)
	env.Dial = func(ctx context.Context, a answers.AgentHost) (remote.Host, error) {
		return d.Dial(ctx, agentTarget(a))
	}
	hosts, err := resolveAgentHosts(ctx, f, file, func(ctx context.Context) ([]string, error) {
		hs, err := api.Hosts(ctx)
		names := make([]string, 0, len(hs))
		for _, h := range hs {
			names = append(names, h.Hostname)
		}
		return names, err
	})
	if err == nil {
		hosts, err = f.limitHosts(file, hosts)
	}
	if err != nil {
		_ = env.Close()
		return nil, err
	}
	for _, a := range hosts {
		env.Agents = append(env.Agents, &steps.Agent{AgentHost: a})
	}
	return env, nil
}

// runInitTUI is the interactive face: the wizard fills the answers, shows
// the plan and the live progress of the same runner.
func runInitTUI(ctx context.Context, o *initOptions) error {
	f := o.f
	file := &answers.File{Version: 1}
	if o.answersPath != "" {
		var err error
		if file, err = answers.Load(o.answersPath); err != nil {
			return err
		}
		for _, w := range file.Warnings {
			fmt.Fprintf(f.ErrOut, "warning: %s\n", w)
		}
	}
	wo, d := wizardSetup(ctx, f, file.Dir)
	// a file that answers everything is not offered for saving again
	asks := len(wizard.NewInitForm(file, d, wo).Paths()) > 0
	if err := wizard.FillInit(ctx, file, d, wo); err != nil {
		return err
	}
	// not applyDefaults: the wizard asked for the SSH port, so the one it
	// holds is the user's answer, not a default
	file.ApplyDefaults()
	if err := file.ValidateInit(); err != nil {
		return err
	}
	if asks {
		hint, err := offerSave(ctx, f, file, wo, defaultAnswersFile, initRepeatCommand(o))
		if err != nil {
			return err
		}
		if hint != "" {
			defer fmt.Fprint(f.ErrOut, hint)
		}
	}
	if err := file.ResolveSecrets(f.LookupEnv); err != nil {
		return err
	}
	var res *steps.Result
	col := &steps.Collector{}
	o.rec.setCollector(col)
	o.rec.setAnswers(file, o.answersPath, o.acceptNewHostKeys)
	err := wizard.RunWithProgress(ctx, wo, "cmtls init", func(ctx context.Context, r steps.Reporter) error {
		env, err := newTLSEnv(ctx, f, file, o.acceptNewHostKeys, steps.Tee{r, col})
		if err != nil {
			return err
		}
		defer env.Close()
		var runErr error
		res, runErr = steps.Run(ctx, env, steps.TLSSteps(), steps.Options{Only: o.only, Skip: o.skip, DryRun: o.dryRun, Command: "cmtls init",
			Confirm: confirmInView("cmtls init: plan", wo)})
		o.rec.setResult(res)
		return runErr
	})
	if errors.Is(err, steps.ErrDeclined) {
		fmt.Fprintln(f.ErrOut, "nothing was changed")
		o.rec.declined()
		return nil
	}
	err = finish(ctx, f, "init", o.dryRun, o.json, res, col, err)
	if err == nil && !o.dryRun && !o.json && res != nil && res.Applied {
		printClosing(ctx, f, file, res, o.answersPath, o.acceptNewHostKeys)
	}
	return err
}

// initRepeatCommand is the headless init that repeats this run's choice
// of steps.
func initRepeatCommand(o *initOptions) string {
	c := "cmtls init"
	if len(o.only) > 0 {
		c += " --only " + strings.Join(o.only, ",")
	}
	if len(o.skip) > 0 {
		c += " --skip " + strings.Join(o.skip, ",")
	}
	return c
}

// wizardSetup is what both wizards start from: the terminal (accessible
// mode when TERM=dumb), what this machine tells about itself (FQDN, an
// existing keystore) and the CM API's hosts, asked once the API questions
// are answered. base is the directory of the answers file given, if any
// (for a password given as {file: PATH}).
func wizardSetup(ctx context.Context, f *Factory, base string) (wizard.Options, wizard.Discovered) {
	wo := f.WizardOptions()
	d := wizard.DiscoverLocal(ctx)
	d.LookupHosts = apiHostLookup(f, base)
	completeDiscovered(ctx, f, &d, base)
	return wo, d
}

// apiHostLookup lists the host names the CM API knows, with the API
// answers the user gave (a password given by reference is read first).
func apiHostLookup(f *Factory, base string) func(context.Context, answers.API) ([]string, error) {
	return func(ctx context.Context, a answers.API) ([]string, error) {
		pw := a.Password
		if err := pw.Resolve(f.LookupEnv, base); err != nil {
			return nil, fmt.Errorf("server.api.password: %w", err)
		}
		var opts []cmapi.Option
		if a.CAFile != "" {
			opts = append(opts, cmapi.WithCAFile((&answers.File{Dir: base}).ExpandPath(a.CAFile)))
		}
		if a.Version != "" {
			opts = append(opts, cmapi.WithAPIVersion(a.Version))
		}
		c, err := f.API(a.URL, a.User, pw.Value(), opts...)
		if err != nil {
			return nil, err
		}
		hs, err := c.Hosts(ctx)
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(hs))
		for _, h := range hs {
			if h.Hostname != "" {
				names = append(names, h.Hostname)
			}
		}
		return names, nil
	}
}

// defaultAnswersFile is where the init wizard offers to save its answers,
// and where status looks when given no --answers. The SAML wizard's go to
// their own file: status would refuse them as init answers.
const (
	defaultAnswersFile     = "cmtls-answers.yaml"
	defaultSAMLAnswersFile = "cmtls-saml-answers.yaml"
)

// offerSave offers to save the wizard's answers; when saved, it returns
// what to tell the user at the end: the variables to export and the
// headless command that repeats the run. A failed save is a warning: the
// run goes on with the answers in memory.
func offerSave(ctx context.Context, f *Factory, file *answers.File, wo wizard.Options, defaultPath, command string) (string, error) {
	p, err := wizard.OfferSave(ctx, wizard.ForCommand(file, command), defaultPath, wo)
	if errors.Is(err, wizard.ErrAborted) {
		return "", err
	}
	if err != nil {
		fmt.Fprintf(f.ErrOut, "warning: the answers were not saved: %v\n", err)
		return "", nil
	}
	if p == "" {
		return "", nil
	}
	fmt.Fprintf(f.ErrOut, "saved the answers to %s (secrets are not in it)\n", p)
	return repeatHint(file, p, command), nil
}

// repeatHint says how to repeat the run headless from the saved file.
func repeatHint(file *answers.File, path, command string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "To repeat this run headless from %s:\n", path)
	envs := wizard.SecretEnv(file)
	ps := make([]string, 0, len(envs))
	for p := range envs {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	for _, p := range ps {
		fmt.Fprintf(&b, "  export %s=...   # %s\n", envs[p], p)
	}
	fmt.Fprintf(&b, "  %s --answers %s --yes\n", command, path)
	return b.String()
}
