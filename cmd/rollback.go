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
	force             bool
	acceptNewHostKeys bool
	verbose           bool
	report            string
	rec               *runReport
}

func newRollbackCmd(f *Factory, runF func(context.Context, *rollbackOptions) error) *cobra.Command {
	o := &rollbackOptions{f: f}
	c := &cobra.Command{
		Use:   "rollback",
		Short: "Undo cmtls's most recent change (agents push, or init), and verify heartbeats",
		Long: `rollback undoes the most recent change cmtls made, one run at a time, from the history
(journal) cmtls keeps beside each agent's config.ini and PEM:

  - after 'cmtls agents push', the push: every agent's config.ini and PEM go back byte for
    byte to what they held before it; the server's TLS settings stay on;
  - after 'cmtls init', init: every agent's files go back to their state before cmtls (a PEM
    cmtls created is removed, with the directory it made for it), AGENT_TLS and WEB_TLS go
    back off through the API.

A second rollback undoes the change before. The server and the restored agents are restarted
(canary first) and every agent is verified heartbeating again (without TLS once init is
undone). The server's keystore, DER and PEM files are left in place.

A file edited since cmtls wrote it is not restored: that host fails with the diff (exit 3,
the file untouched) while the others finish. --force restores it anyway and first keeps the
edited file beside its backups (<file>.cmtls-<time>.edited).

A rollback holds the server's lock (cmtls.lock beside the keystore) and each agent's
(<config.ini>.cmtls-lock): a run that changes the same hosts waits for it, then stops naming
the holder.

It needs the answers file given to init (or saved by its wizard) and --yes, or
--dry-run to see what would be restored. Exit codes as for init.`,
		Example: `  # what would be restored, changing nothing
  cmtls rollback --answers cmtls-answers.yaml --dry-run

  cmtls rollback --answers cmtls-answers.yaml --yes
  cmtls rollback --answers cmtls-answers.yaml --yes --json

  # restore hosts whose config.ini was edited since, keeping the edited copy
  cmtls rollback --answers cmtls-answers.yaml --yes --force`,
		Args: cobraArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(c.Context(), o)
			}
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
	fl.BoolVar(&o.force, "force", false, "restore files edited since cmtls wrote them (the edited file is kept beside its backups)")
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
	return run(ctx, f, headlessRun{command: "rollback", answersPath: o.answersPath, steps: steps.RollbackStepsWith(steps.RollbackOptions{Force: o.force}),
		opts:   steps.Options{DryRun: o.dryRun},
		asJSON: o.json, acceptNew: o.acceptNewHostKeys, verbose: o.verbose, rec: o.rec})
}
