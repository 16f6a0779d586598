package cmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cmtls/cmtls/daemon/agent"
	"github.com/cmtls/cmtls/daemon/cmserver"
	"github.com/cmtls/cmtls/daemon/idp"
	"github.com/cmtls/cmtls/daemon/samlsp"
	"github.com/cmtls/cmtls/daemon/sandbox"
	"github.com/cmtls/cmtls/daemon/sshd"
)

// serviceTimeout bounds start and stop of one daemon.
const serviceTimeout = 20 * time.Second

// samlSPFactory plugs the SAML service provider into the embedded server
// (used when External Authentication Type is SAML; otherwise the console
// serves its local login page).
func samlSPFactory(*Factory) cmserver.SAMLFactory {
	return func(s cmserver.Settings, baseURL string, logger *slog.Logger) (http.Handler, error) {
		sp, err := samlsp.NewFromSettings(s, baseURL, logger)
		if err != nil {
			return nil, err // never a typed nil in the interface
		}
		return sp, nil
	}
}

type daemonOptions struct {
	kind     string // server | agent | sshd | idp
	action   string // start | stop | restart | status | run
	config   string
	interval time.Duration
	logPath  string
	pidPath  string
}

func newDaemonCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:    "daemon",
		Short:  "Embedded CM server and agent, run like service scripts",
		Hidden: true,
		Long: `The embedded stand-ins for Cloudera Manager's server and agent.

  cmtls daemon server start|stop|restart|status|run --config server.yaml
  cmtls daemon agent  start|stop|restart|status|run --config config.ini [--interval 15s]
  cmtls daemon idp    start|stop|restart|status|run --config idp.yaml   (the sandbox's test SAML IdP)

start detaches (the process re-executes itself with run); run stays in the
foreground; restart re-reads the configuration like 'service ... restart'.`,
	}
	cmd.AddCommand(newDaemonKindCmd(f, "server"), newDaemonKindCmd(f, "agent"), newDaemonKindCmd(f, "sshd"), newDaemonKindCmd(f, "idp"), newLoadtestCmd(f))
	return cmd
}

type loadtestOptions struct {
	addr, caFile, serverName string
	serverPid                int
	tls13                    bool
	o                        agent.LoadOptions
}

// newLoadtestCmd is the heartbeat load benchmark against a running server:
// simulated agents in this process, each on its own resumed TLS session.
func newLoadtestCmd(f *Factory) *cobra.Command {
	opts := &loadtestOptions{}
	c := &cobra.Command{
		Use:    "loadtest",
		Short:  "heartbeat load over TLS against a running embedded server",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.addr == "" || opts.caFile == "" {
				return usageErrorf("cmtls daemon loadtest --addr 127.0.0.1:7182 --cafile server.pem", "--addr and --cafile are required")
			}
			b, err := os.ReadFile(opts.caFile)
			if err != nil {
				return usageErrorf("check --cafile", "%v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(b) {
				return usageErrorf("give a PEM certificate", "%s holds no PEM certificate", opts.caFile)
			}
			opts.o.Addr, opts.o.RootCAs, opts.o.ServerName = opts.addr, pool, opts.serverName
			if !opts.tls13 {
				opts.o.MaxVersion = tls.VersionTLS12
			}
			fmt.Fprintf(f.ErrOut, "%d agents every %v: warm-up %v, measuring %v\n", opts.o.Agents, opts.o.Interval, opts.o.Warmup, opts.o.Measure)
			cpuAtStart := make(chan float64, 1)
			if opts.serverPid > 0 {
				go func() {
					time.Sleep(opts.o.Warmup)
					cpuAtStart <- cpuSeconds(opts.serverPid)
				}()
			}
			res := agent.LoadTest(cmd.Context(), opts.o)
			fmt.Fprintln(f.Out, res)
			if opts.serverPid > 0 {
				used := cpuSeconds(opts.serverPid) - <-cpuAtStart
				if res.Heartbeats > 0 && used >= 0 {
					fmt.Fprintf(f.Out, "server CPU: %.2f cores over the window, %.0f µs per heartbeat\n",
						used/opts.o.Measure.Seconds(), used/float64(res.Heartbeats)*1e6)
				}
				if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", opts.serverPid)); err == nil {
					for _, ln := range strings.Split(string(b), "\n") {
						if strings.HasPrefix(ln, "VmRSS:") || strings.HasPrefix(ln, "VmHWM:") {
							fmt.Fprintf(f.Out, "server %s\n", strings.Join(strings.Fields(ln), " "))
						}
					}
				}
			}
			if res.Errors > 0 {
				return fmt.Errorf("%d heartbeats failed (first: %s)", res.Errors, res.FirstError)
			}
			return nil
		},
	}
	c.Flags().StringVar(&opts.addr, "addr", "", "the server's agent port (host:port)")
	c.Flags().StringVar(&opts.caFile, "cafile", "", "PEM to verify the server with")
	c.Flags().StringVar(&opts.serverName, "server-name", "localhost", "name to verify")
	c.Flags().IntVar(&opts.serverPid, "server-pid", 0, "report this process's RSS and CPU")
	c.Flags().BoolVar(&opts.tls13, "tls13", false, "allow TLS 1.3 (real agents speak at most TLS 1.2)")
	c.Flags().IntVar(&opts.o.Agents, "agents", 10000, "simulated agents")
	c.Flags().DurationVar(&opts.o.Interval, "interval", 15*time.Second, "heartbeat interval")
	c.Flags().DurationVar(&opts.o.Ramp, "ramp", 45*time.Second, "spread the agents' first (full) handshakes over this time")
	c.Flags().DurationVar(&opts.o.Warmup, "warmup", 61*time.Second, "unmeasured start (ramp plus one interval)")
	c.Flags().DurationVar(&opts.o.Measure, "measure", 30*time.Second, "measured window")
	return c
}

// daemonActionShort is the help line of `cmtls daemon KIND ACTION`, worded
// like the service script it stands in for.
func daemonActionShort(action, kind string) string {
	switch action {
	case "start":
		return "start the " + kind + " in the background (like service ... start)"
	case "stop":
		return "stop the running " + kind
	case "restart":
		return "stop the " + kind + " if it runs, then start it"
	case "status":
		return "exit 0 when the " + kind + " runs, else 1 (like service ... status)"
	case "run":
		return "run the " + kind + " in the foreground"
	}
	return action + " the " + kind
}

func newDaemonKindCmd(f *Factory, kind string) *cobra.Command {
	c := &cobra.Command{Use: kind, Short: "the embedded " + kind}
	if kind == "sshd" || kind == "idp" {
		c.Hidden = true
	}
	for _, action := range []string{"start", "stop", "restart", "status", "run"} {
		opts := &daemonOptions{kind: kind, action: action}
		sub := &cobra.Command{
			Use:   action,
			Short: daemonActionShort(action, kind),
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if opts.config == "" {
					if v := f.Getenv("CMTLS_DAEMON_CONFIG"); v != "" {
						opts.config = v
					}
				}
				if opts.config == "" {
					return usageErrorf("cmtls daemon "+kind+" "+action+" --config FILE", "--config is required")
				}
				if opts.interval == 0 {
					if v := f.Getenv("CMTLS_AGENT_INTERVAL"); v != "" {
						d, err := time.ParseDuration(v)
						if err != nil || d <= 0 {
							return usageErrorf("use e.g. CMTLS_AGENT_INTERVAL=15s", "invalid value %q for CMTLS_AGENT_INTERVAL", v)
						}
						opts.interval = d
					}
				}
				if opts.interval < 0 {
					return usageErrorf("use e.g. --interval 15s", "invalid value %v for --interval", opts.interval)
				}
				abs, err := filepath.Abs(opts.config)
				if err != nil {
					return err
				}
				opts.config = abs
				return runDaemon(cmd.Context(), f, opts)
			},
		}
		sub.Flags().StringVar(&opts.config, "config", "", "config file (server: YAML; agent: config.ini; env CMTLS_DAEMON_CONFIG)")
		if kind == "agent" {
			sub.Flags().DurationVar(&opts.interval, "interval", 0, "heartbeat interval (default: the server's, else 15s; env CMTLS_AGENT_INTERVAL)")
			sub.Flags().StringVar(&opts.logPath, "log", "", "log file when config.ini has no log_file (default: beside config.ini)")
			sub.Flags().StringVar(&opts.pidPath, "pid", "", "pid file (default: beside config.ini)")
		}
		c.AddCommand(sub)
	}
	return c
}

// daemonError is a service that failed to start, stop or is not running.
type daemonError struct {
	err  error
	hint string
}

func (e *daemonError) Error() string { return e.err.Error() }
func (e *daemonError) Unwrap() error { return e.err }
func (e *daemonError) Hint() string  { return e.hint }

func runDaemon(ctx context.Context, f *Factory, o *daemonOptions) error {
	svc, err := daemonService(o)
	if err != nil {
		return err
	}
	switch o.action {
	case "run":
		return runForeground(ctx, f, o)
	case "status":
		if pid, ok := svc.Status(); ok {
			fmt.Fprintf(f.Out, "%s is running (pid %d)\n", svc.Name, pid)
			return nil
		}
		return &daemonError{err: fmt.Errorf("%s is not running", svc.Name), hint: "start it: cmtls daemon " + o.kind + " start --config " + o.config}
	case "stop":
		if err := svc.Stop(serviceTimeout); err != nil {
			return err
		}
		fmt.Fprintf(f.ErrOut, "%s stopped\n", svc.Name)
		return nil
	case "start", "restart":
		var pid int
		if o.action == "start" {
			pid, err = svc.Start(serviceTimeout)
		} else {
			pid, err = svc.Restart(serviceTimeout)
		}
		if err != nil {
			return &daemonError{err: err, hint: "see " + svc.LogFile}
		}
		fmt.Fprintf(f.ErrOut, "%s started (pid %d)\n", svc.Name, pid)
		return nil
	}
	return usageErrorf("use start, stop, restart, status or run", "unknown action %q", o.action)
}

// daemonService describes the background process for o.
func daemonService(o *daemonOptions) (sandbox.Service, error) {
	exe, err := os.Executable()
	if err != nil {
		return sandbox.Service{}, err
	}
	args := []string{"daemon", o.kind, "run", "--config", o.config}
	marker := []string{"daemon", o.kind, "run", "--config", o.config}
	switch o.kind {
	case "server":
		fc, err := cmserver.LoadFileConfig(o.config)
		if err != nil {
			return sandbox.Service{}, usageErrorf("check the server config file", "%v", err)
		}
		return sandbox.Service{Name: "cloudera-scm-server", Exe: exe, Args: args, Marker: marker, PidFile: fc.Pid,
			OutFile: trimExt(fc.Log) + ".out", LogFile: fc.Log}, nil
	case "agent":
		if o.interval > 0 {
			args = append(args, "--interval", o.interval.String())
		}
		if o.logPath != "" {
			args = append(args, "--log", o.logPath)
		}
		if o.pidPath != "" {
			args = append(args, "--pid", o.pidPath)
		}
		cfg, err := agent.LoadConfig(o.config)
		if err != nil {
			return sandbox.Service{}, usageErrorf("check config.ini", "%v", err)
		}
		logPath, _, pidPath := agent.Paths(o.config, cfg, agent.RunOptions{LogPath: o.logPath, PidPath: o.pidPath})
		return sandbox.Service{Name: "cloudera-scm-agent", Exe: exe, Args: args, Marker: marker, PidFile: pidPath,
			OutFile: trimExt(logPath) + ".out", LogFile: logPath}, nil
	case "sshd":
		sc, err := sshd.LoadConfig(o.config)
		if err != nil {
			return sandbox.Service{}, usageErrorf("check the sshd config file", "%v", err)
		}
		return sandbox.Service{Name: "cmtls-sshd", Exe: exe, Args: args, Marker: marker, PidFile: sc.Pid,
			OutFile: trimExt(sc.Log) + ".out", LogFile: sc.Log}, nil
	case "idp":
		ic, err := idp.LoadFileConfig(o.config)
		if err != nil {
			return sandbox.Service{}, usageErrorf("check the idp config file", "%v", err)
		}
		return sandbox.Service{Name: "cmtls-idp", Exe: exe, Args: args, Marker: marker, PidFile: ic.Pid,
			OutFile: trimExt(ic.Log) + ".out", LogFile: ic.Log}, nil
	}
	return sandbox.Service{}, fmt.Errorf("unknown daemon %q", o.kind)
}

func trimExt(p string) string { return p[:len(p)-len(filepath.Ext(p))] }

// runForeground serves until ctx ends (SIGTERM from stop, or Ctrl-C).
// A clean stop is exit 0, not "interrupted".
func runForeground(ctx context.Context, f *Factory, o *daemonOptions) error {
	var err error
	switch o.kind {
	case "server":
		var fc *cmserver.FileConfig
		fc, err = cmserver.LoadFileConfig(o.config)
		if err != nil {
			return usageErrorf("check the server config file", "%v", err)
		}
		err = cmserver.Run(ctx, fc, cmserver.RunOptions{SAML: samlSPFactory(f)})
		var ke *cmserver.KeystoreError
		if errors.As(err, &ke) {
			return &daemonError{err: err, hint: ke.Hint()}
		}
	case "agent":
		err = agent.RunDaemon(ctx, o.config, agent.RunOptions{Interval: o.interval, LogPath: o.logPath, PidPath: o.pidPath})
	case "sshd":
		err = sshd.RunDaemon(ctx, o.config)
	case "idp":
		var ic *idp.FileConfig
		ic, err = idp.LoadFileConfig(o.config)
		if err != nil {
			return usageErrorf("check the idp config file", "%v", err)
		}
		err = idp.Run(ctx, ic, idp.RunOptions{})
	}
	// A stop by signal returns nil here; cmd.Run reports the cancelled
	// context (exit 130), which nobody waits for: stop checks the pid.
	return err
}

// cpuSeconds is pid's user+system CPU time (/proc/PID/stat, 100 Hz ticks).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	fields := strings.Fields(s)
	if len(fields) < 13 {
		return 0
	}
	var ut, st float64
	fmt.Sscan(fields[11], &ut)
	fmt.Sscan(fields[12], &st)
	return (ut + st) / 100
}
