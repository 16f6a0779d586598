package cmd

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner of this command): replace this placeholder with the real command.
func newCertCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "cert",
		Short:  "Certificates and keystores (Steps 1-2 of the TLS procedure)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("cert: not built yet")
		},
	}
}
