package cmd

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/cmtls/cmtls/steps"
)

type rollbackOptions struct {
	f                 *Factory
	answersPath       string
	dryRun, yes, json bool
	acceptNewHostKeys bool
	verbose           bool
	report            string
	rec               *runReport
}

func newRollbackCmd(f *Factory) *cobra.Command {
	o := &rollbackOptions{f: f}
	c := &cobra.Command{
		Use:   "rollback",
		Short: "Undo what init changed, and verify plain heartbeats",
		Long: `rollback undoes cmtls init: every agent's config.ini is restored byte for byte from the
original cmtls kept (<config.ini>.cmtls.orig) and the PEM it pushed is removed (or restored),
AGENT_TLS and WEB_TLS go back off through the API, the server and the restored agents are
restarted (canary first), and every agent is verified heartbeating again without TLS.
The server's keystore, DER and PEM files are left in place.

It needs the answers file given to init (or saved by its wizard) and --yes, or
--dry-run to see what would be restored. Exit codes as for init.`,
		Example: `  # what would be restored, changing nothing
  cmtls rollback --answers cmtls-answers.yaml --dry-run

  cmtls rollback --answers cmtls-answers.yaml --yes
  cmtls rollback --answers cmtls-answers.yaml --yes --json`,
		Args: cobraArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			rec, err := startReport(f, c, o.report, undoRollback)
			if err != nil {
				return err
			}
			o.rec = rec
			return rec.finish(c.Context(), f, runRollback(c.Context(), o))
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.answersPath, "answers", "", "the answers file given to cmtls init (required)")
	fl.BoolVar(&o.dryRun, "dry-run", false, "print what would be restored and change nothing")
	fl.BoolVar(&o.yes, "yes", false, "roll back without asking (required)")
	fl.BoolVar(&o.json, "json", false, "print the result as JSON on stdout")
	fl.BoolVar(&o.acceptNewHostKeys, "accept-new-host-keys", false, "trust SSH host keys seen for the first time")
	fl.StringVar(&o.report, "report", "", reportFlagUsage)
	return c
}

func runRollback(ctx context.Context, o *rollbackOptions) error {
	f := o.f
	if o.answersPath == "" {
		return usageErrorf("pass --answers FILE (the one given to cmtls init)", "rollback needs --answers")
	}
	if !o.yes && !o.dryRun && !f.CanPrompt() {
		return usageErrorf("add --yes to roll back, or --dry-run to see what would change", "rollback changes hosts and needs --yes")
	}
	run := runHeadless
	if !o.yes && !o.dryRun {
		// at a terminal: the plan, one confirmation, the progress view
		run = runConfirmProgress
	}
	return run(ctx, f, headlessRun{command: "rollback", answersPath: o.answersPath, steps: steps.RollbackSteps(),
		opts:   steps.Options{DryRun: o.dryRun},
		asJSON: o.json, acceptNew: o.acceptNewHostKeys, verbose: o.verbose, rec: o.rec})
}
