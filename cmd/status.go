package cmd

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner of this command): replace this placeholder with the real command.
func newStatusCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "status",
		Short:  "Read-only state of the server and every agent",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("status: not built yet")
		},
	}
}
