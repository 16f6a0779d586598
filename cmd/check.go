package cmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
)

type checkOptions struct {
	f                 *Factory
	answersPath       string
	warn, critical    string
	heartbeatMaxAge   time.Duration
	json              bool
	prometheus        string
	acceptNewHostKeys bool
}

func newCheckCmd(f *Factory, runF func(context.Context, *checkOptions) error) *cobra.Command {
	o := &checkOptions{f: f}
	c := &cobra.Command{
		Use:   "check",
		Short: "Monitoring plugin: certificate expiry, agents' PEMs and verified heartbeats",
		Long: `check is a monitoring plugin (Nagios, Icinga, Naemon, Sensu): it prints one status line,
"CMTLS OK|WARNING|CRITICAL|UNKNOWN - text | perfdata", and exits 0, 1, 2 or 3.

It reads what status reads, and changes nothing:
  - the server certificate's remaining validity, and that of every agent's PEM:
    WARNING under --warn, CRITICAL under --critical or expired;
  - every agent's PEM (verify_cert_file) is the server's certificate and the certificate
    names the agent's server_host: CRITICAL otherwise;
  - every agent heartbeated within --heartbeat-max-age over TLS verified against its PEM:
    CRITICAL otherwise;
  - UNKNOWN when it cannot tell: the CM API does not answer, the answers file is wrong,
    the server certificate or an agent host cannot be read.

--prometheus FILE also writes the figures as node_exporter textfile collector metrics
(written to a temporary file in the same directory and renamed, so the collector never
reads half a file): cmtls_certificate_expiry_timestamp_seconds, cmtls_agent_verified,
cmtls_agent_heartbeat_age_seconds, cmtls_agent_pem_matches_server, cmtls_check_status.

Durations take s, m, h and d (days): 30d, 12h.`,
		Example: `  cmtls check --answers answers.yaml
  cmtls check --answers answers.yaml --warn 30d --critical 7d

  # from cron, for node_exporter's textfile collector
  cmtls check --answers answers.yaml --prometheus /var/lib/node_exporter/textfile/cmtls.prom`,
		// an argument is UNKNOWN too (see SetFlagErrorFunc below)
		Args: func(c *cobra.Command, args []string) error {
			if err := cobra.NoArgs(c, args); err != nil {
				return unknown(o.f, fmt.Errorf("%w (see '%s --help')", err, c.CommandPath()))
			}
			return nil
		},
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(c.Context(), o)
			}
			return runCheck(c.Context(), o)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.answersPath, "answers", "", "answers file naming the server and the agents (the one given to cmtls init)")
	fl.StringVar(&o.warn, "warn", "30d", "WARNING when a certificate has less than this left")
	fl.StringVar(&o.critical, "critical", "7d", "CRITICAL when a certificate has less than this left")
	fl.DurationVar(&o.heartbeatMaxAge, "heartbeat-max-age", steps.DefaultHeartbeatMaxAge, "an older last heartbeat is CRITICAL (CM's Concerning: 5 missed heartbeats of 15 s)")
	fl.BoolVar(&o.json, "json", false, "print the result as JSON on stdout instead of the status line (same exit code)")
	fl.StringVar(&o.prometheus, "prometheus", "", "also write node_exporter textfile metrics to `FILE` (atomically)")
	fl.BoolVar(&o.acceptNewHostKeys, "accept-new-host-keys", false, "trust SSH host keys seen for the first time")
	// A plugin given bad arguments is UNKNOWN (exit 3), not the contract's 2:
	// 2 is CRITICAL to a monitoring system.
	c.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return unknown(o.f, fmt.Errorf("%w (see '%s --help')", err, c.CommandPath()))
	})
	return c
}

// unknown prints the UNKNOWN status line for err and returns the plugin's
// exit (3).
func unknown(f *Factory, err error) error {
	msg := strings.NewReplacer("\n", " ", "|", "/").Replace(err.Error())
	if h := findHint(err); h != "" {
		msg += " (hint: " + strings.NewReplacer("\n", " ", "|", "/").Replace(h) + ")"
	}
	fmt.Fprintf(f.Out, "CMTLS UNKNOWN - %s\n", msg)
	return &pluginExit{state: int(steps.CheckUnknown)}
}

func runCheck(ctx context.Context, o *checkOptions) error {
	f := o.f
	warn, err := parseDays(o.warn)
	if err != nil {
		return unknown(f, fmt.Errorf("--warn: %w", err))
	}
	crit, err := parseDays(o.critical)
	if err != nil {
		return unknown(f, fmt.Errorf("--critical: %w", err))
	}
	if crit > warn {
		return unknown(f, fmt.Errorf("--critical %s is longer than --warn %s: the warning would never show", o.critical, o.warn))
	}
	if o.answersPath == "" {
		p, err := defaultStatusAnswers(f)
		if err != nil {
			return unknown(f, err)
		}
		o.answersPath = p
	}
	file, err := loadAnswers(f, o.answersPath, (*answers.File).ValidateInit)
	if err != nil {
		return unknown(f, err)
	}
	env, err := newTLSEnv(ctx, f, file, o.acceptNewHostKeys, nil)
	if err != nil {
		return unknown(f, err)
	}
	defer env.Close()
	_ = env.FollowConsoleTLS(ctx)
	r := steps.ReadStatus(ctx, env)
	if err := ctx.Err(); err != nil {
		return err
	}
	res := steps.Check(r, steps.CheckOptions{Warn: warn, Critical: crit, HeartbeatMaxAge: o.heartbeatMaxAge, Now: f.Now()})
	if o.prometheus != "" {
		var b bytes.Buffer
		_ = res.WritePrometheus(&b)
		if err := writeTextfile(o.prometheus, b.Bytes()); err != nil {
			return unknown(f, fmt.Errorf("--prometheus: %w", err))
		}
	}
	if o.json {
		_ = steps.WriteJSON(f.Out, res)
	} else {
		fmt.Fprintln(f.Out, res.Line())
		// the long output (lines after the first) names every finding
		for _, fd := range res.Findings {
			host := fd.Host
			if host == "" {
				host = "server"
			}
			fmt.Fprintf(f.Out, "%s: %s: %s\n", fd.State, host, fd.What)
		}
	}
	if res.State == steps.CheckOK {
		return nil
	}
	return &pluginExit{state: int(res.State)}
}

// parseDays reads a duration that may be given in days ("30d") as well as
// in Go's units ("12h", "90m").
func parseDays(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil || !(n >= 0) || n > 100*365 {
			return 0, fmt.Errorf("%q is not a number of days up to a century (e.g. 30d)", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a duration (e.g. 30d, 12h)", s)
	}
	return v, nil
}

// writeTextfile writes data to path atomically: a temporary file in the
// same directory (a name the textfile collector skips: it reads *.prom
// only), synced, made 0644 and renamed over path.
func writeTextfile(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".cmtls-check-*.tmp")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(name, path)
}
