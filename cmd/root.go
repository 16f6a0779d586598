package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X github.com/cmtls/cmtls/cmd.version=v1.2.3";
// otherwise it comes from the module's build info.
var version = ""

// buildVersion is what --version prints: the version, the commit and the
// commit's date, from the build info the go command embeds (go help
// buildinfo: vcs.revision, vcs.time, vcs.modified).
func buildVersion() string {
	return describeBuild(version, readBuildInfo())
}

func readBuildInfo() *debug.BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return bi
}

func describeBuild(v string, bi *debug.BuildInfo) string {
	var rev, when string
	modified := false
	if bi != nil {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		rev = "unknown"
	} else if modified {
		rev += "+modified"
	}
	if when == "" {
		when = "unknown"
	}
	return fmt.Sprintf("%s (commit %s, date %s)", v, rev, when)
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
	start := f.now()
	f.argv = args
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
		var shown interface{ Shown() bool }
		if !errors.As(err, &shown) || !shown.Shown() || errors.Is(err, context.Canceled) {
			// (the progress view shows a run's failure with its fix once)
			printError(f.Stderr(), err)
		}
	}
	code := exitCode(err)
	logRun(f, args, code, f.now().Sub(start))
	return code
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

Global flags: --no-input never asks (a missing answer is an error naming the flag
or answers-file key that gives it); --accessible asks with plain line prompts
(also TERM=dumb); --no-color (also NO_COLOR); -q prints errors only; -v prints
every event.

Exit codes: 0 done and verified; 1 failed; 2 usage or invalid input (nothing changed);
3 partly done (some hosts failed; re-run to continue); 130 interrupted.`,
		Version:       f.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(c *cobra.Command, _ []string) error {
			f.applyGlobalFlags()
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.BoolVar(&f.NoInput, "no-input", false, "never prompt: a missing answer is an error (also CMTLS_NO_INPUT=1)")
	pf.BoolVar(&f.Accessible, "accessible", false, "ask with plain line prompts, for screen readers (also TERM=dumb)")
	pf.BoolVar(&f.NoColor, "no-color", false, "no colours (also NO_COLOR)")
	pf.BoolVarP(&f.Quiet, "quiet", "q", false, "print errors only")
	pf.BoolVarP(&f.Verbose, "verbose", "v", false, "print every event")
	root.SetVersionTemplate("cmtls {{.Version}}\n")
	// Flag mistakes are usage errors (exit 2), like every other bad input.
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &UsageError{Err: err, hint: "see '" + c.CommandPath() + " --help'"}
	})
	for _, c := range subcommands(f) {
		root.AddCommand(c)
	}
	addLimitFlags(root, f)
	registerCompletions(root)
	// cobra adds --version (and would take -v for it) when the tree runs;
	// -v is --verbose in every command, so --version has no short form.
	root.Flags().Bool("version", false, "print the version, commit and build date")
	return root
}

// applyGlobalFlags puts the global flags into effect once they are parsed.
func (f *Factory) applyGlobalFlags() {
	if f.NoColor || f.Getenv("NO_COLOR") != "" {
		f.NoColor = true
		lipgloss.SetColorProfile(termenv.Ascii)
	}
	if f.Getenv("CMTLS_NO_INPUT") == "1" {
		f.NoInput = true
	}
	if f.Quiet && f.errOut == nil {
		// Prompts, the TUI and errors keep the real stderr.
		f.errOut = f.ErrOut
		f.ErrOut = io.Discard
	}
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
