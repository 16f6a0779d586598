package cmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

type manOptions struct {
	f   *Factory
	dir string
}

// newManCmd is `cmtls man --dir DIR`: section-1 man pages, one per command,
// from the command tree itself, so they never drift from --help.
func newManCmd(f *Factory, runF func(context.Context, *manOptions) error) *cobra.Command {
	o := &manOptions{f: f}
	c := &cobra.Command{
		Use:   "man --dir DIR",
		Short: "Write the man pages (section 1), one per command",
		Long: `man writes a section-1 man page for every command into DIR: cmtls.1,
cmtls-init.1, cmtls-agents-push.1, ... Install them with your system's manual
(e.g. copy them to /usr/local/share/man/man1 and run mandb).`,
		Example: `  cmtls man --dir ./man && man ./man/cmtls-init.1`,
		Args:    cobraArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(c.Context(), o)
			}
			return runMan(c, o)
		},
	}
	c.Flags().StringVar(&o.dir, "dir", "", "directory to write the pages to (created when missing)")
	return c
}

func runMan(c *cobra.Command, o *manOptions) error {
	if o.dir == "" {
		return usageErrorf("cmtls man --dir ./man", "--dir is required")
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return usageErrorf("give a directory you can write to", "cannot create %s: %v", o.dir, err)
	}
	root := c.Root()
	root.DisableAutoGenTag = true // pages do not change with the day they are made
	hdr := &doc.GenManHeader{Title: "CMTLS", Section: "1", Source: "cmtls " + o.f.Version, Manual: "cmtls manual"}
	if err := doc.GenManTree(root, hdr, o.dir); err != nil {
		return fmt.Errorf("write the man pages: %w", err)
	}
	n, _ := filepath.Glob(filepath.Join(o.dir, "*.1"))
	fmt.Fprintf(o.f.ErrOut, "wrote %d man pages to %s\n", len(n), o.dir)
	return nil
}
