package cmd

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
)

type renewOptions struct {
	f                 *Factory
	answersPath       string
	dryRun, yes, json bool
	keepOld, rollback bool
	csr               string
	acceptNewHostKeys bool
	samlAnswers       string
	report            string
	rec               *runReport
}

func newRenewCmd(f *Factory, runF func(context.Context, *renewOptions) error) *cobra.Command {
	o := &renewOptions{f: f}
	c := &cobra.Command{
		Use:   "renew",
		Short: "Replace the server certificate of a level-2 cluster with no failed heartbeat",
		Long: `renew replaces the server certificate of a cluster that cmtls init took to TLS level 2,
without a failed heartbeat on any agent. An agent loads verify_cert_file once, when it
starts, and refuses a server certificate that does not verify against it; so the server
cannot simply switch. renew goes in phases, each planned, backed up and verified:

  renew-cert      pre-flight: the cluster is at level 2; a new key and certificate (same
                  subject and SANs unless server.keystore.generate gives others), or the
                  CA-signed one of server.keystore.import; it must name every agent's
                  server_host as written, else nothing changes (exit 2)
  renew-bundle    (a) every agent's PEM holds the new and the old certificate; agents
                  restart, canary first, and heartbeat (still on the old certificate)
  renew-switch    (b) the server keystore switches (the old one backed up), the server
                  restarts, every agent heartbeats on the new certificate, and each
                  agent's server_host is proved to verify with the new certificate alone
  renew-drop-old  (c) the old certificate leaves the PEM (not with --keep-old); agents
                  restart, verified

The phase reached is kept in <keystore>.cmtls-renew.json on the server host: a renewal
that was cut off continues when renew runs again, and cmtls status names the phase.

A CA-signed certificate: renew --csr FILE makes the new key (kept in
<keystore>.cmtls-renew) and writes its CSR, and stops. Have the CA sign it, name the
certificate and chain under server.keystore.import, and run renew again: a certificate
that is not for the CSR's key is refused.

renew --rollback goes back to the key and certificate from before the last renewal (the
keystore it replaced is kept as <keystore>.cmtls-renew-previous), through the same
three phases, so that going back has no gap either.

With console TLS on, the console serves the new certificate too, and what trusts it
follows: the Cloudera Management Service truststore that CM names
(ssl_client_truststore_location) gets the new certificate in phase a (backup kept) and
loses the old one after phase c, the Management Service restarting each time; the SAML
answers' server.api.ca_file (--saml-answers FILE, else ./cmtls-saml-answers.yaml when it
exists) is rewritten with the new certificate once the server serves it (backup kept).
The plan names what still trusts only the old certificate.

At a terminal without --yes the plan is shown and asked once before the live
progress; headless, renew needs --yes. --report FILE writes a change record
(.md or .json) naming the new certificate, the backups and the way back.

Exit codes: 0 done and verified, 1 failed, 2 bad input (nothing changed),
3 partly done (re-running continues), 130 interrupted.`,
		Example: `  cmtls renew --answers cmtls-answers.yaml --dry-run
  cmtls renew --answers cmtls-answers.yaml --yes

  # a CA-signed certificate
  cmtls renew --answers cmtls-answers.yaml --yes --csr cm1.csr
  #   ... the CA signs cm1.csr; server.keystore.import: {cert: cm1.crt, chain: ca.pem}
  cmtls renew --answers cmtls-answers.yaml --yes

  # back to the certificate from before the last renewal
  cmtls renew --answers cmtls-answers.yaml --yes --rollback`,
		Args: cobraArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(c.Context(), o)
			}
			rec, err := startReport(f, c, o.report, undoRenew(o.rollback))
			if err != nil {
				return err
			}
			o.rec = rec
			return rec.finish(c.Context(), f, runRenew(c.Context(), o))
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.answersPath, "answers", "", "answers file (the one given to cmtls init)")
	fl.BoolVar(&o.dryRun, "dry-run", false, "print the plan and change nothing")
	fl.BoolVar(&o.yes, "yes", false, "apply without asking (required headless)")
	fl.BoolVar(&o.json, "json", false, "print the result as JSON on stdout")
	fl.BoolVar(&o.keepOld, "keep-old", false, "leave the old certificate in the agents' PEM (skip phase c)")
	fl.StringVar(&o.csr, "csr", "", "make the new key, write its certificate signing request to `FILE` and stop")
	fl.BoolVar(&o.rollback, "rollback", false, "go back to the key and certificate from before the last renewal, through the same phases")
	fl.BoolVar(&o.acceptNewHostKeys, "accept-new-host-keys", false, "trust SSH host keys seen for the first time (a changed key is always refused)")
	fl.StringVar(&o.samlAnswers, "saml-answers", "", "the SAML answers `FILE` whose server.api.ca_file gets the new certificate (default ./"+defaultSAMLAnswersFile+" when it exists)")
	fl.StringVar(&o.report, "report", "", reportFlagUsage)
	return c
}

// closingName says which closing lines a renew run ends with.
func closingName(rollback bool) string {
	if rollback {
		return "renew --rollback"
	}
	return "renew"
}

func runRenew(ctx context.Context, o *renewOptions) error {
	f := o.f
	if o.answersPath == "" {
		return usageErrorf("pass --answers FILE (the one given to cmtls init)", "renew needs --answers")
	}
	if !o.yes && !o.dryRun && !f.CanPrompt() {
		return usageErrorf("add --yes to apply, or --dry-run to see the plan first", "renew changes hosts and needs --yes")
	}
	if o.rollback && o.csr != "" {
		return usageErrorf("use --rollback alone: it goes back to the certificate the server had", "--rollback and --csr do not go together")
	}
	ro := steps.RenewOptions{KeepOld: o.keepOld, CSR: o.csr, Rollback: o.rollback}
	var err error
	if ro.SAMLAnswers, ro.SAMLCAFile, err = samlCAFile(f, o.samlAnswers); err != nil {
		return err
	}
	run := runHeadless
	if !o.yes && !o.dryRun {
		// at a terminal: the plan, one confirmation, the progress view
		run = runConfirmProgress
	}
	return run(ctx, f, headlessRun{command: "renew", closing: closingName(o.rollback), answersPath: o.answersPath,
		steps:  steps.NewRenewSteps(ro),
		opts:   steps.Options{DryRun: o.dryRun},
		asJSON: o.json, acceptNew: o.acceptNewHostKeys, rec: o.rec})
}

// samlCAFile finds the SAML answers' server.api.ca_file (a local path) for
// renew to rewrite: from --saml-answers, else from the file cmtls saml
// configure saves by default when it exists. "" when there is none.
func samlCAFile(f *Factory, flag string) (answersPath, caFile string, err error) {
	p := flag
	if p == "" {
		if _, serr := os.Stat(defaultSAMLAnswersFile); serr != nil {
			return "", "", nil
		}
		p = defaultSAMLAnswersFile
	}
	file, err := answers.Load(p)
	if err != nil {
		if flag == "" {
			fmt.Fprintf(f.ErrOut, "warning: %s is not used (%v); give renew --saml-answers FILE\n", p, err)
			return "", "", nil
		}
		return "", "", err
	}
	if file.Server == nil || file.Server.API == nil || file.Server.API.CAFile == "" {
		if flag != "" {
			return "", "", &answers.Error{File: p, Msg: "server.api.ca_file is not set: there is nothing for renew to rewrite",
				Fix: "leave --saml-answers out, or give the SAML answers that name the console's CA file"}
		}
		return "", "", nil
	}
	return p, file.ExpandPath(file.Server.API.CAFile), nil
}
