package cmd

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner of this command): replace this placeholder with the real command.
func newRollbackCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "rollback",
		Short:  "Undo what init changed",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("rollback: not built yet")
		},
	}
}
