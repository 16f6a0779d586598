package cmd

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner of this command): replace this placeholder with the real command.
func newInitCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "init",
		Short:  "TLS wizard, Steps 1-7",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("init: not built yet")
		},
	}
}
