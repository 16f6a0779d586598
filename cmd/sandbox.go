package cmd

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cmtls/cmtls/daemon/cmserver"
	"github.com/cmtls/cmtls/daemon/sandbox"
)

type sandboxOptions struct {
	dir      string
	agents   int
	interval time.Duration
	json     bool
	version  string
	startup  time.Duration
}

func newSandboxCmd(f *Factory) *cobra.Command {
	opts := &sandboxOptions{}
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "A local CM cluster on 127.0.0.1",
		Long: `A whole local Cloudera Manager cluster on 127.0.0.1: the embedded server at
TLS level 0 imitating the Cloudera Manager release --cm-version names, N agent hosts (each with its own root, config.ini, log and pid) and
one SSH endpoint per host, and a test SAML IdP (users alice: admin, bob: regular
user, mallory: not mapped). 'up' writes DIR/answers.yaml, which
'cmtls init --answers DIR/answers.yaml --yes' accepts as it is, and
DIR/saml-answers.yaml for 'cmtls saml configure --answers DIR/saml-answers.yaml --yes'.
After init turned console TLS on, 'saml-answers' writes the latter again for
the https console.`,
	}
	dirFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&opts.dir, "dir", "", "sandbox directory (env CMTLS_SANDBOX_DIR)")
	}
	dir := func() (string, error) {
		if opts.dir == "" {
			opts.dir = f.Getenv("CMTLS_SANDBOX_DIR")
		}
		if opts.dir == "" {
			return "", usageErrorf("cmtls sandbox up --dir ./sandbox", "--dir is required")
		}
		return opts.dir, nil
	}
	up := &cobra.Command{
		Use:   "up",
		Short: "create and start a sandbox",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			d, err := dir()
			if err != nil {
				return err
			}
			if opts.agents < 1 || opts.agents > 200 {
				return usageErrorf("use --agents 1-200", "invalid value %d for --agents", opts.agents)
			}
			if opts.interval < time.Second {
				return usageErrorf("use --interval 1s or more", "invalid value %v for --interval", opts.interval)
			}
			if _, err := cmserver.LookupProfile(opts.version); err != nil {
				return usageErrorf("use --cm-version "+cmserver.ProfileNames(), "invalid value %q for --cm-version: no emulator profile", opts.version)
			}
			if opts.startup < 0 || opts.startup > time.Hour {
				return usageErrorf("use --startup-delay 0s-1h (a real CM takes 1-5 minutes)", "invalid value %v for --startup-delay", opts.startup)
			}
			if opts.startup == 0 {
				opts.startup = -1 // none, not the default
			}
			_, err = sandbox.Up(c.Context(), sandbox.Options{Dir: d, Agents: opts.agents, Interval: opts.interval, Out: f.ErrOut,
				CMVersion: opts.version, StartupDelay: opts.startup})
			if err != nil {
				return err
			}
			l := sandbox.NewLayout(d)
			fmt.Fprintf(f.Out, "%s\n", l.Answers)
			fmt.Fprintf(f.ErrOut, "next: cmtls init --answers %s --yes\n", l.Answers)
			fmt.Fprintf(f.ErrOut, "  and: cmtls saml configure --answers %s --yes\n", l.SAMLAnswers)
			return nil
		},
	}
	dirFlag(up)
	up.Flags().IntVar(&opts.agents, "agents", sandbox.DefaultAgents, "number of agent hosts")
	up.Flags().DurationVar(&opts.interval, "interval", sandbox.DefaultInterval, "agents' heartbeat interval")
	up.Flags().DurationVar(&opts.startup, "startup-delay", sandbox.DefaultStartupDelay,
		"how long the CM server takes to answer after every (re)start")
	up.Flags().StringVar(&opts.version, "cm-version", cmserver.DefaultVersion,
		"Cloudera Manager release the server imitates: 7.5.3 (API v45, SAML roles by external user mappings) or 5.13.0 (API v18, the \"SAML Attribute Values for ROLE_*\" settings)")
	down := &cobra.Command{
		Use:   "down",
		Short: "stop every process of a sandbox",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			d, err := dir()
			if err != nil {
				return err
			}
			if err := sandbox.Down(d); err != nil {
				return err
			}
			fmt.Fprintf(f.ErrOut, "sandbox in %s stopped\n", d)
			return nil
		},
	}
	dirFlag(down)
	status := &cobra.Command{
		Use:   "status",
		Short: "show which sandbox processes run",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			d, err := dir()
			if err != nil {
				return err
			}
			st, err := sandbox.Status(d)
			if err != nil {
				return err
			}
			if opts.json {
				enc := json.NewEncoder(f.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			for _, s := range st {
				state := "stopped"
				if s.Running {
					state = fmt.Sprintf("running (pid %d)", s.PID)
				}
				fmt.Fprintf(f.Out, "%-32s %s\n", s.Name, state)
			}
			return nil
		},
	}
	dirFlag(status)
	status.Flags().BoolVar(&opts.json, "json", false, "machine-readable output")
	samlAnswers := &cobra.Command{
		Use:   "saml-answers",
		Short: "write DIR/saml-answers.yaml again for the console as it is now (https after init)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			d, err := dir()
			if err != nil {
				return err
			}
			p, tls, err := sandbox.WriteSAMLAnswers(d)
			if err != nil {
				return err
			}
			fmt.Fprintf(f.Out, "%s\n", p)
			if tls {
				fmt.Fprintln(f.ErrOut, "console TLS is on: the file names the https console and trusts the server's PEM")
			}
			return nil
		},
	}
	dirFlag(samlAnswers)
	cmd.AddCommand(up, down, status, samlAnswers)
	return cmd
}
