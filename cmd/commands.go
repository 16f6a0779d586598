package cmd

import "github.com/spf13/cobra"

// subcommands lists the top-level commands. Each lives in its own file as
// newXCmd(f *Factory) with its options struct and runX function.
func subcommands(f *Factory) []*cobra.Command {
	return []*cobra.Command{
		newInitCmd(f),
		newSAMLCmd(f),
		newStatusCmd(f),
		newCheckCmd(f),
		newRenewCmd(f),
		newRollbackCmd(f),
		newCertCmd(f),
		newAgentsCmd(f),
		newDaemonCmd(f),
		newSandboxCmd(f),
		newDemoCmd(f),
		newManCmd(f, nil),
	}
}
