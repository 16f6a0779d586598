package cmd

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner of this command): replace this placeholder with the real command.
func newSandboxCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "sandbox",
		Short:  "A local CM cluster on 127.0.0.1",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("sandbox: not built yet")
		},
	}
}
