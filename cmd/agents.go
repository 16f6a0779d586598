package cmd

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner of this command): replace this placeholder with the real command.
func newAgentsCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "agents",
		Short:  "Agent hosts (Steps 3 and 5)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("agents: not built yet")
		},
	}
}
