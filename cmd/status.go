package cmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
)

type statusOptions struct {
	f                 *Factory
	answersPath       string
	json              bool
	acceptNewHostKeys bool
}

func newStatusCmd(f *Factory, runF func(context.Context, *statusOptions) error) *cobra.Command {
	o := &statusOptions{f: f}
	c := &cobra.Command{
		Use:   "status",
		Short: "Read-only state of the server and every agent",
		Long: `status reads, and changes nothing: per agent host whether it is reachable, use_tls and
verify_cert_file in its config.ini, whether the PEM on the host is the server's certificate
and whether that certificate names the host's server_host, its last heartbeat and how it
came (verified TLS, encrypted only, plain); the server certificate's subject, SANs and
expiry; console TLS and SAML on or off. It is the check of Step 6 ("Verify that the Server
and Agents are communicating") that can be run at any time, before or after cmtls init.

It is a health check: it exits 0 only when every agent is verified (on verified TLS by
everything above) with a fresh heartbeat, one newer than 3 of the server's heartbeat
intervals ("Send Agent Heartbeat Every", 15 s by default) on the server's clock (the Date
of the API's answer); else it exits 1 naming each host and why.

Without --answers it reads $CMTLS_SANDBOX_DIR/answers.yaml when that is set, else
./cmtls-answers.yaml (the file the init wizard saves); with neither it exits 2.`,
		Example: `  # the answers the init wizard saved in this directory
  cmtls status

  cmtls status --answers answers.yaml
  cmtls status --answers answers.yaml --json`,
		Args: cobraArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(c.Context(), o)
			}
			return runStatus(c.Context(), o)
		},
	}
	c.Flags().StringVar(&o.answersPath, "answers", "", "answers file naming the server and the agents (default: $CMTLS_SANDBOX_DIR/answers.yaml when set, else ./cmtls-answers.yaml)")
	c.Flags().BoolVar(&o.json, "json", false, "print the report as JSON on stdout")
	c.Flags().BoolVar(&o.acceptNewHostKeys, "accept-new-host-keys", false, "trust SSH host keys seen for the first time")
	return c
}

func runStatus(ctx context.Context, o *statusOptions) error {
	f := o.f
	if o.answersPath == "" {
		p, err := defaultStatusAnswers(f)
		if err != nil {
			return err
		}
		o.answersPath = p
	}
	file, err := loadAnswers(f, o.answersPath, (*answers.File).ValidateInit)
	if err != nil {
		return err
	}
	env, err := newTLSEnv(ctx, f, file, o.acceptNewHostKeys, nil)
	if err != nil {
		return err
	}
	defer env.Close()
	_ = env.FollowConsoleTLS(ctx)
	r := steps.ReadStatus(ctx, env)
	if o.json {
		err = steps.WriteJSON(f.Out, r)
	} else {
		err = r.WriteText(f.Out, f.Now())
	}
	if err != nil {
		return err
	}
	// a health check: 0 only when every agent is verified with a fresh
	// heartbeat, else 1 naming each host and why
	return r.Err()
}

// defaultStatusAnswers is the answers file status reads without --answers:
// the sandbox's (CMTLS_SANDBOX_DIR), else the one the wizard saves by
// default in the working directory; with neither, a usage error.
func defaultStatusAnswers(f *Factory) (string, error) {
	if d := f.Getenv("CMTLS_SANDBOX_DIR"); d != "" {
		return filepath.Join(d, "answers.yaml"), nil
	}
	if st, err := os.Stat(defaultAnswersFile); err == nil && st.Mode().IsRegular() {
		fmt.Fprintf(f.ErrOut, "reading %s (no --answers given)\n", defaultAnswersFile)
		return defaultAnswersFile, nil
	}
	return "", usageErrorf("pass --answers FILE (the one given to cmtls init)",
		"status needs --answers: there is no %s here and CMTLS_SANDBOX_DIR is not set", defaultAnswersFile)
}
