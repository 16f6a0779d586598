package cmd

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner of this command): replace this placeholder with the real command.
func newDemoCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "demo",
		Short:  "Run the whole job on an embedded sandbox",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("demo: not built yet")
		},
	}
}
