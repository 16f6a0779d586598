package cmd

import (
	"context"
	"errors"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X github.com/cmtls/cmtls/cmd.version=v1.2.3";
// otherwise it comes from the module's build info.
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Main runs cmtls with the process's arguments and returns the exit code.
// It is the only place that turns errors into exit codes.
func Main() int {
	ctx, stop := interruptible(os.Stderr)
	defer stop()
	f := newSystemFactory()
	f.Version = buildVersion()
	return Run(ctx, f, os.Args[1:])
}

// Run executes the command tree with args and returns the exit code; tests
// call it with their own Factory.
func Run(ctx context.Context, f *Factory, args []string) int {
	root := NewRootCmd(f)
	root.SetArgs(args)
	root.SetIn(f.In)
	root.SetOut(f.Out)
	root.SetErr(f.ErrOut)
	err := root.ExecuteContext(ctx)
	var ec badInputer
	if err != nil && !errors.As(err, &ec) && strings.HasPrefix(err.Error(), "unknown command") {
		// cobra's own usage errors are plain strings
		err = &UsageError{Err: err, hint: "see 'cmtls --help' for the commands"}
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, context.Canceled) {
			err = errors.Join(err, context.Canceled)
		}
		printError(f.ErrOut, err)
	}
	return exitCode(err)
}

// NewRootCmd builds the whole command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "cmtls",
		Short: "Take a Cloudera Manager cluster to TLS level 2 and SAML sign-on, verified",
		Long: `cmtls carries out, end to end and verified, two documented Cloudera Manager procedures:
TLS authentication of the Server to Agents and Users (Steps 1-7), and CM as a SAML
Service Provider. It has an interactive wizard and a headless mode (--answers FILE)
that run the same engine.

Exit codes: 0 done and verified; 1 failed; 2 usage or invalid input (nothing changed);
3 partly done (some hosts failed; re-run to continue); 130 interrupted.`,
		Version:       f.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("cmtls {{.Version}}\n")
	// Flag mistakes are usage errors (exit 2), like every other bad input.
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &UsageError{Err: err, hint: "see '" + c.CommandPath() + " --help'"}
	})
	for _, c := range subcommands(f) {
		root.AddCommand(c)
	}
	return root
}

// cobraArgs wraps a cobra positional-argument validator so that its error is
// a usage error (exit 2).
func cobraArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := v(c, args); err != nil {
			return &UsageError{Err: err, hint: "see '" + c.CommandPath() + " --help'"}
		}
		return nil
	}
}
