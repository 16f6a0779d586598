package cmd

import "github.com/spf13/cobra"

// subcommands lists the top-level commands. Each lives in its own file as
// newXCmd(f *Factory, runF) with its options struct and runX function;
// a test gives runF to see the options the flags parse to (nil: runX).
func subcommands(f *Factory) []*cobra.Command {
	return []*cobra.Command{
		newInitCmd(f, nil),
		newSAMLCmd(f),
		newStatusCmd(f, nil),
		newCheckCmd(f, nil),
		newRenewCmd(f, nil),
		newRollbackCmd(f, nil),
		newCertCmd(f),
		newAgentsCmd(f),
		newDaemonCmd(f),
		newSandboxCmd(f),
		newDemoCmd(f, nil),
		newManCmd(f, nil),
	}
}
