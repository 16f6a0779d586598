package cmd

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner of this command): replace this placeholder with the real command.
func newDaemonCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "daemon",
		Short:  "Embedded CM server and agent",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("daemon: not built yet")
		},
	}
}
