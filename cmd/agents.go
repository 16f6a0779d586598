package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/remote"

	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
	"github.com/cmtls/cmtls/wizard"
)

func newAgentsCmd(f *Factory) *cobra.Command {
	c := &cobra.Command{
		Use:   "agents",
		Short: "Agent hosts alone: Steps 3 and 5 (push the PEM, edit config.ini, restart, check)",
		Args:  cobraArgs(cobra.NoArgs),
	}
	c.AddCommand(newAgentsPushCmd(f, nil))
	return c
}

type agentsPushOptions struct {
	f                 *Factory
	answersPath       string
	pemPath           string
	dryRun            bool
	yes               bool
	json              bool
	acceptNewHostKeys bool
	report            string
	rec               *runReport
}

func newAgentsPushCmd(f *Factory, runF func(context.Context, *agentsPushOptions) error) *cobra.Command {
	o := &agentsPushOptions{f: f}
	c := &cobra.Command{
		Use:   "push --answers FILE [--pem FILE]",
		Short: "Put the server PEM on every agent, set use_tls and verify_cert_file, restart, check",
		Long: `push does Steps 3 and 5 of the TLS procedure on the agent hosts of an answers file, and
nothing else (no server, no API): on every host, over one SSH connection,

  1. read config.ini and the PEM at pem_dest (one command; --dry-run stops here and
     prints each host's diff),
  2. write the PEM (0644) and config.ini ([Security] use_tls=1, verify_cert_file=pem_dest;
     every other byte kept, mode and owner kept, the original kept once as
     config.ini.cmtls.orig plus a timestamped .bak), atomically, then restart the agent
     if anything changed and run the check command (one command).

A host already in that state is left alone (no write, no restart). Canary hosts
(agents.canary) go first and must verify before the rest start. Hosts come from
agents.hosts and agents.inventory (an Ansible INI or YAML inventory).

It runs on the same engine as init: the summary says per host done and verified,
done but not verified, not started, or failed (with the reason and the fix); a dry run
says would change, nothing to do, or could not plan. The first Ctrl-C starts no new
host and lets the hosts being changed finish; a second one stops them.

Exit codes: 0 every host verified; 1 failed (no host done, a canary failed, or a dry run
could not plan every host); 2 bad input (nothing changed); 3 some hosts failed, the rest
done and verified (re-running continues); 130 interrupted.`,
		Example: `  cmtls agents push --answers answers.yaml --dry-run
  cmtls agents push --answers answers.yaml --pem server.pem --yes`,
		Args: cobraArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(c.Context(), o)
			}
			rec, err := startReport(f, c, o.report, undoPush)
			if err != nil {
				return err
			}
			o.rec = rec
			return rec.finish(c.Context(), f, runAgentsPush(c.Context(), o))
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.answersPath, "answers", "", "answers file (YAML, version: 1) with agents and tls")
	fl.StringVar(&o.pemPath, "pem", "", "local PEM to push (default: the server's server.pem_path)")
	fl.BoolVar(&o.dryRun, "dry-run", false, "print each host's diff; change nothing")
	fl.BoolVar(&o.yes, "yes", false, "apply without asking (required when not at a terminal)")
	fl.BoolVar(&o.json, "json", false, "print the per-host results as JSON on stdout")
	fl.BoolVar(&o.acceptNewHostKeys, "accept-new-host-keys", false, "trust and record host keys seen for the first time (a changed key is always refused)")
	fl.StringVar(&o.report, "report", "", reportFlagUsage)
	return c
}

func runAgentsPush(ctx context.Context, o *agentsPushOptions) error {
	f := o.f
	col := &steps.Collector{}
	o.rec.setCollector(col)
	early := func(err error) error {
		return finish(ctx, f, "agents push", o.dryRun, o.json, &steps.Result{DryRun: o.dryRun}, col, err)
	}
	if o.answersPath == "" {
		return usageErrorf("cmtls agents push --answers answers.yaml", "--answers is required")
	}
	file, err := loadAnswers(f, o.answersPath, (*answers.File).ValidatePush)
	if err != nil {
		return early(err)
	}
	o.rec.setAnswers(file, o.answersPath, o.acceptNewHostKeys)
	if !o.dryRun && !o.yes && !f.CanPrompt() {
		return early(usageErrorf("add --yes to apply, or --dry-run to see the changes first", "agents push changes hosts; without a terminal it needs --yes"))
	}
	hosts, err := resolveAgentHosts(ctx, f, file, nil)
	if err == nil {
		hosts, err = f.limitHosts(file, hosts)
	}
	if err != nil {
		return early(err)
	}
	pemBytes, err := loadPEM(ctx, f, file, o.pemPath, o.acceptNewHostKeys)
	if err != nil {
		return early(err)
	}
	if o.pemPath != "" {
		o.rec.setCert(pemBytes, o.pemPath+" (the PEM pushed)")
	}
	var outMu sync.Mutex
	text := steps.NewTextReporter(lockedWriter{w: f.ErrOut, mu: &outMu})
	text.Verbose = f.Verbose
	ask, sopts, err := pushSSHOptions(ctx, f, file, o, &outMu)
	if err != nil {
		return early(err)
	}
	dialer, err := f.Dialer(sopts)
	if err != nil {
		return early(err)
	}
	env := &steps.Env{Answers: file, Now: f.Now, Reporter: steps.Tee{text, col}, Closers: []io.Closer{dialer}}
	defer env.Close()
	env.Dial = func(ctx context.Context, a answers.AgentHost) (remote.Host, error) {
		return dialer.Dial(ctx, agentTarget(a))
	}
	for _, h := range hosts {
		env.Agents = append(env.Agents, &steps.Agent{AgentHost: h})
	}
	opts := steps.Options{DryRun: o.dryRun, Command: "cmtls agents push"}
	if !o.dryRun && !o.yes {
		// at a terminal: the plan of every host first, then the question
		opts.Confirm = func(_ context.Context, p steps.Plan) (bool, error) {
			outMu.Lock()
			_ = p.WriteText(f.ErrOut)
			outMu.Unlock()
			n := 0
			for _, c := range p {
				n += len(c.Hosts())
			}
			return ask.yesNo(fmt.Sprintf("apply these changes to %d hosts?", n))
		}
	}
	res, err := steps.Run(ctx, env, steps.NewPushSteps(pemBytes), opts)
	o.rec.setResult(res)
	if errors.Is(err, steps.ErrDeclined) {
		fmt.Fprintln(f.ErrOut, "nothing was changed")
		o.rec.declined()
		return nil
	}
	return finish(ctx, f, "agents push", o.dryRun, o.json, res, col, err)
}

// pushSSHOptions are the agents' SSH settings; at a terminal, what the
// answers file leaves out (passphrase, sudo password, unknown host keys) is
// asked for, one question at a time.
func pushSSHOptions(ctx context.Context, f *Factory, file *answers.File, o *agentsPushOptions, outMu *sync.Mutex) (*prompter, remote.Options, error) {
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(f.ErrOut, format+"\n", args...)
	}
	sopts := sshOptions(f, file, file.Agents.SSH, o.acceptNewHostKeys, func(w string) { say("warning: %s", w) })
	// a hung restart or check holds one host, not the run
	sopts.CommandTimeout = 10 * time.Minute
	if !f.CanPrompt() {
		return nil, sopts, nil
	}
	// at a terminal, what the answers file leaves out is asked for
	p := &prompter{ctx: ctx, ask: f.Ask(), mu: outMu}
	if sopts.Passphrase == nil {
		sopts.Passphrase = func(path string) ([]byte, error) { return p.secret("passphrase for " + path) }
	}
	if sopts.Become == "sudo" && len(sopts.BecomePassword) == 0 {
		// asked once, up front: hosts may or may not need it
		pw, err := p.secret("sudo password (empty if none is needed)")
		if err != nil {
			return nil, sopts, err
		}
		sopts.BecomePassword = pw
	}
	if !o.acceptNewHostKeys {
		sopts.AskHostKey = func(addr, fp string) bool {
			ok, _ := p.yesNo(fmt.Sprintf("the host key of %s is not known: %s; trust it and record it?", addr, fp))
			return ok
		}
	}
	return p, sopts, nil
}

// lockedWriter serialises writes that share a terminal with the prompter.
type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// prompter asks at the terminal through the Factory's Prompter, one
// question at a time (hosts are dialled in parallel; mu also keeps the
// host lines from interleaving with a question).
type prompter struct {
	ctx context.Context
	ask wizard.Prompter
	mu  *sync.Mutex
}

func (p *prompter) secret(label string) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ask.Password(p.ctx, wizard.Ask{Title: label, Given: "the answers file (agents.ssh)"})
}

func (p *prompter) yesNo(q string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ask.Confirm(p.ctx, wizard.Ask{Title: q, Given: "--yes or --accept-new-host-keys"})
}

// loadPEM reads --pem, or the server's PEM (server.pem_path, on this
// machine or over server.ssh).
func loadPEM(ctx context.Context, f *Factory, file *answers.File, path string, acceptNew bool) ([]byte, error) {
	check := func(b []byte, from string) ([]byte, error) {
		if !strings.Contains(string(b), "-----BEGIN CERTIFICATE-----") {
			return nil, usageErrorf("give the server's certificate in PEM form (cmtls cert convert --outform pem)", "%s holds no PEM certificate", from)
		}
		// A damaged block would be pushed to every agent, which then
		// refuses the server at its next restart: refuse it here, before
		// any host is touched.
		if _, err := pki.ParseCertificates(b); err != nil {
			return nil, &UsageError{Err: fmt.Errorf("%s: %w", from, err),
				hint: "give the server's certificate as an intact PEM (cmtls cert inspect FILE checks it; cmtls cert convert makes one from the DER)"}
		}
		return b, nil
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usageErrorf("check the path given to --pem", "cannot read --pem: %v", errors.Unwrap(err))
		}
		return check(b, path)
	}
	s := file.Server
	if s == nil || s.PEMPath == "" {
		return nil, usageErrorf("add --pem server.pem, or a server: section with pem_path", "no certificate to push: neither --pem nor server.pem_path is given")
	}
	h, err := dialServer(ctx, f, file, acceptNew)
	if err != nil {
		return nil, fmt.Errorf("read the server's PEM: %w", err)
	}
	defer h.Close()
	b, err := h.ReadFile(ctx, s.PEMPath)
	if err != nil {
		return nil, fmt.Errorf("read the server's PEM %s: %w", s.PEMPath, err)
	}
	return check(b, s.PEMPath)
}
