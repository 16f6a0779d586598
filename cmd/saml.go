package cmd

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner of this command): replace this placeholder with the real command.
func newSAMLCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "saml",
		Short:  "SAML single sign-on",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("saml: not built yet")
		},
	}
}
