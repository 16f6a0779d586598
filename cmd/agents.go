package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/remote"

	"github.com/cmtls/cmtls/steps/agentcfg"
	"github.com/cmtls/cmtls/steps/answers"
	"github.com/cmtls/cmtls/wizard"
)

func newAgentsCmd(f *Factory) *cobra.Command {
	c := &cobra.Command{
		Use:   "agents",
		Short: "Agent hosts alone: Steps 3 and 5 (push the PEM, edit config.ini, restart, check)",
		Args:  cobraArgs(cobra.NoArgs),
	}
	c.AddCommand(newAgentsPushCmd(f, nil))
	return c
}

type agentsPushOptions struct {
	f                 *Factory
	answersPath       string
	pemPath           string
	dryRun            bool
	yes               bool
	json              bool
	acceptNewHostKeys bool
	verbose           bool
}

func newAgentsPushCmd(f *Factory, runF func(context.Context, *agentsPushOptions) error) *cobra.Command {
	o := &agentsPushOptions{f: f}
	c := &cobra.Command{
		Use:   "push --answers FILE [--pem FILE]",
		Short: "Put the server PEM on every agent, set use_tls and verify_cert_file, restart, check",
		Long: `push does Steps 3 and 5 of the TLS procedure on the agent hosts of an answers file, and
nothing else (no server, no API): on every host, over one SSH connection,

  1. read config.ini and the PEM at pem_dest (one command; --dry-run stops here and
     prints each host's diff),
  2. write the PEM (0644) and config.ini ([Security] use_tls=1, verify_cert_file=pem_dest;
     every other byte kept, mode and owner kept, the original kept once as
     config.ini.cmtls.orig plus a timestamped .bak), atomically, then restart the agent
     if anything changed and run the check command (one command).

A host already in that state is left alone (no write, no restart). Canary hosts
(agents.canary) go first and must verify before the rest start. Hosts come from
agents.hosts and agents.inventory (an Ansible INI or YAML inventory).

Exit codes: 0 every host verified; 2 bad input (nothing changed); 3 some hosts failed
(each is listed with its reason; re-running continues); 130 interrupted.`,
		Example: `  cmtls agents push --answers answers.yaml --dry-run
  cmtls agents push --answers answers.yaml --pem server.pem --yes`,
		Args: cobraArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(c.Context(), o)
			}
			return runAgentsPush(c.Context(), o)
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.answersPath, "answers", "", "answers file (YAML, version: 1) with agents and tls")
	fl.StringVar(&o.pemPath, "pem", "", "local PEM to push (default: the server's server.pem_path)")
	fl.BoolVar(&o.dryRun, "dry-run", false, "print each host's diff; change nothing")
	fl.BoolVar(&o.yes, "yes", false, "apply without asking (required when not at a terminal)")
	fl.BoolVar(&o.json, "json", false, "print the per-host results as JSON on stdout")
	fl.BoolVar(&o.acceptNewHostKeys, "accept-new-host-keys", false, "trust and record host keys seen for the first time (a changed key is always refused)")
	fl.BoolVarP(&o.verbose, "verbose", "v", false, "say more about each host")
	return c
}

// agentResult is one host's outcome, for the summary and --json.
type agentResult struct {
	Host     string            `json:"host"`
	Status   string            `json:"status"` // verified | unchanged | would-change | failed | skipped
	Change   *agentcfg.Change  `json:"change,omitempty"`
	Applied  *agentcfg.Applied `json:"applied,omitempty"`
	Error    string            `json:"error,omitempty"`
	Hint     string            `json:"hint,omitempty"`
	Warnings []string          `json:"warnings,omitempty"`
	Seconds  float64           `json:"seconds"`
}

// HostsFailedError is exit code 3: some hosts failed, the rest are done.
type HostsFailedError struct {
	Failed, Total int
	Skipped       int
	First         string
}

func (e *HostsFailedError) Error() string {
	s := fmt.Sprintf("%d of %d hosts failed", e.Failed, e.Total)
	if e.Skipped > 0 {
		s += fmt.Sprintf(", %d not started", e.Skipped)
	}
	return s + " (listed above)"
}
func (e *HostsFailedError) ExitCode() int { return ExitPartial }
func (e *HostsFailedError) Hint() string {
	return "fix what each failed host reports, then run the same command again: hosts already done are left alone"
}

func runAgentsPush(ctx context.Context, o *agentsPushOptions) error {
	f := o.f
	if o.answersPath == "" {
		return usageErrorf("cmtls agents push --answers answers.yaml", "--answers is required")
	}
	file, err := answers.Load(o.answersPath)
	if err != nil {
		return err
	}
	applyDefaults(file)
	if err := file.ValidatePush(); err != nil {
		return err
	}
	if err := file.ResolveSecrets(f.LookupEnv); err != nil {
		return err
	}
	for _, w := range file.Warnings {
		fmt.Fprintf(f.ErrOut, "warning: %s\n", w)
	}
	if !o.dryRun && !o.yes && !f.CanPrompt() {
		return usageErrorf("add --yes to apply, or --dry-run to see the changes first", "agents push changes hosts; without a terminal it needs --yes")
	}
	hosts, err := resolveAgentHosts(ctx, file, nil)
	if err == nil {
		hosts, err = f.limitHosts(file, hosts)
	}
	if err != nil {
		return err
	}
	pemBytes, err := loadPEM(ctx, f, file, o.pemPath, o.acceptNewHostKeys)
	if err != nil {
		return err
	}
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(f.ErrOut, format+"\n", args...)
	}
	var ask *prompter
	sopts := sshOptions(f, file, file.Agents.SSH, o.acceptNewHostKeys, func(w string) { say("warning: %s", w) })
	// a hung restart or check holds one host, not the run
	sopts.CommandTimeout = 10 * time.Minute
	if f.CanPrompt() {
		// at a terminal, what the answers file leaves out is asked for
		p := &prompter{ctx: ctx, ask: f.Ask(), mu: &outMu}
		ask = p
		if sopts.Passphrase == nil {
			sopts.Passphrase = func(path string) ([]byte, error) { return p.secret("passphrase for " + path) }
		}
		if sopts.Become == "sudo" && len(sopts.BecomePassword) == 0 {
			// asked once, up front: hosts may or may not need it
			pw, err := p.secret("sudo password (empty if none is needed)")
			if err != nil {
				return err
			}
			sopts.BecomePassword = pw
		}
		if !o.acceptNewHostKeys {
			sopts.AskHostKey = func(addr, fp string) bool {
				ok, _ := p.yesNo(fmt.Sprintf("the host key of %s is not known: %s; trust it and record it?", addr, fp))
				return ok
			}
		}
	}
	dialer, err := f.Dialer(sopts)
	if err != nil {
		return err
	}
	defer dialer.Close()
	useTLS := file.TLS == nil || file.TLS.AgentEncryption == nil || *file.TLS.AgentEncryption
	specOf := func(h answers.AgentHost) agentcfg.Spec {
		return agentcfg.Spec{PEM: pemBytes, PEMDest: h.PEMDest, ConfigPath: h.ConfigPath,
			RestartCommand: h.RestartCommand, CheckCommand: h.CheckCommand, UseTLS: useTLS, LogPath: h.LogPath}
	}
	results := make([]agentResult, len(hosts))
	// confirm at a terminal: plan everything first, show it, ask
	if !o.dryRun && !o.yes {
		fmt.Fprintf(f.ErrOut, "planning %d hosts...\n", len(hosts))
		planned := pushAll(ctx, hosts, file.Agents.Parallelism, 0, results, func(ctx context.Context, i int, h answers.AgentHost) {
			doHost(ctx, dialer, h, specOf(h), true, f.Now, &results[i])
		})
		n := 0
		for _, r := range planned {
			printHost(f.ErrOut, &r, o.verbose, true)
			if r.Status == "would-change" {
				n++
			}
		}
		if n == 0 {
			return summarize(f, o, results)
		}
		ok, err := ask.yesNo(fmt.Sprintf("apply these changes to %d hosts?", n))
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintln(f.ErrOut, "nothing was changed")
			return nil
		}
	}
	canary := 0
	if file.Agents.Canary != nil {
		canary = *file.Agents.Canary
	}
	// hosts whose plan failed at the confirmation keep that result: the
	// user said yes to the others only
	planned := append([]agentResult(nil), results...)
	pushAll(ctx, hosts, file.Agents.Parallelism, canary, results, func(ctx context.Context, i int, h answers.AgentHost) {
		if planned[i].Status == "failed" {
			results[i] = planned[i]
			return
		}
		doHost(ctx, dialer, h, specOf(h), o.dryRun, f.Now, &results[i])
		outMu.Lock()
		printHost(f.ErrOut, &results[i], o.verbose, o.dryRun)
		outMu.Unlock()
	})
	for i := range results {
		if results[i].Status == "skipped" {
			printHost(f.ErrOut, &results[i], o.verbose, o.dryRun)
		}
	}
	if err := ctx.Err(); err != nil {
		_ = summarize(f, o, results)
		return err
	}
	return summarize(f, o, results)
}

// pushAll runs fn for the canary hosts first (all must succeed), then for
// the rest with bounded parallelism. Hosts not started keep Status
// "skipped".
func pushAll(ctx context.Context, hosts []answers.AgentHost, par, canary int, results []agentResult, fn func(ctx context.Context, i int, h answers.AgentHost)) []agentResult {
	idx := make([]int, len(hosts))
	for i := range idx {
		idx[i] = i
		results[i] = agentResult{Host: hosts[i].Name, Status: "skipped"}
	}
	if canary > len(idx) {
		canary = len(idx)
	}
	run := func(part []int) {
		remote.FanOut(ctx, part, par, func(ctx context.Context, i int) error {
			fn(ctx, i, hosts[i])
			return nil
		})
	}
	if canary > 0 {
		run(idx[:canary])
		for _, i := range idx[:canary] {
			if results[i].Status == "failed" {
				for _, j := range idx[canary:] {
					results[j].Error = "not started: the canary host " + hosts[i].Name + " failed"
				}
				return results
			}
		}
	}
	run(idx[canary:])
	return results
}

// doHost: one connection, Plan, and unless dryRun, Apply.
func doHost(ctx context.Context, d *remote.Dialer, h answers.AgentHost, spec agentcfg.Spec, dryRun bool, now func() time.Time, r *agentResult) {
	start := time.Now()
	defer func() { r.Seconds = time.Since(start).Seconds() }()
	fail := func(err error) {
		r.Status = "failed"
		r.Error = err.Error()
		r.Hint = findHint(err)
	}
	host, err := d.Dial(ctx, remote.Target{Name: h.Name, Address: h.Address, Port: h.Port, User: h.User})
	if err != nil {
		fail(err)
		return
	}
	defer host.Close()
	p, err := agentcfg.Plan(ctx, host, spec)
	if err != nil {
		fail(err)
		return
	}
	r.Change = p
	r.Warnings = p.Warnings
	if dryRun {
		p.Release()
		r.Status = "unchanged"
		if p.Changed() {
			r.Status = "would-change"
		}
		return
	}
	a, err := agentcfg.Apply(ctx, host, p, now())
	r.Applied = a
	if err != nil {
		fail(err)
		return
	}
	r.Status = "verified"
	if !p.Changed() {
		r.Status = "unchanged"
	}
}

func printHost(w io.Writer, r *agentResult, verbose, dryRun bool) {
	for _, wn := range r.Warnings {
		fmt.Fprintf(w, "%s: warning: %s\n", r.Host, wn)
	}
	switch r.Status {
	case "failed":
		fmt.Fprintf(w, "%s: FAILED: %s\n", r.Host, r.Error)
		if r.Hint != "" {
			fmt.Fprintf(w, "%s:   hint: %s\n", r.Host, r.Hint)
		}
		return
	case "skipped":
		if r.Error != "" {
			fmt.Fprintf(w, "%s: %s\n", r.Host, r.Error)
		}
		return
	}
	p := r.Change
	if p == nil {
		return
	}
	var what []string
	if dryRun || verbose {
		for _, k := range p.Keys {
			old := k.Old
			if !k.OldSet {
				old = "(unset)"
			}
			if old != k.New {
				what = append(what, fmt.Sprintf("%s [Security] %s: %s -> %s", p.ConfigPath, k.Key, old, k.New))
			}
		}
		if p.PEMChanged {
			old := "(none)"
			if p.PEMOldSHA256 != "" {
				old = "sha256:" + p.PEMOldSHA256[:16]
			}
			what = append(what, fmt.Sprintf("%s: %s -> sha256:%s", p.PEMDest, old, p.PEMNewSHA256[:16]))
		}
		if p.Restart {
			what = append(what, "restart the agent")
		}
		if a := r.Applied; a != nil && a.BackupPath != "" {
			what = append(what, "backup: "+a.BackupPath)
		}
	}
	state := r.Status
	if r.Status == "verified" {
		state = "changed, restarted, verified"
		if r.Applied != nil && !r.Applied.Restarted {
			state = "changed, verified"
		}
	} else if r.Status == "unchanged" && !dryRun {
		state = "unchanged, verified"
	}
	if len(what) == 0 {
		fmt.Fprintf(w, "%s: %s\n", r.Host, state)
		return
	}
	fmt.Fprintf(w, "%s: %s\n", r.Host, state)
	for _, x := range what {
		fmt.Fprintf(w, "%s:   %s\n", r.Host, x)
	}
}

func summarize(f *Factory, o *agentsPushOptions, results []agentResult) error {
	counts := map[string]int{}
	var failed []agentResult
	for _, r := range results {
		counts[r.Status]++
		if r.Status == "failed" {
			failed = append(failed, r)
		}
	}
	if o.json {
		enc := json.NewEncoder(f.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"hosts": results, "counts": counts}); err != nil {
			return err
		}
	} else {
		keys := make([]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
		fmt.Fprintf(f.Out, "%d hosts: %s\n", len(results), strings.Join(parts, ", "))
		for _, r := range failed {
			fmt.Fprintf(f.Out, "  %s: %s\n", r.Host, r.Error)
		}
	}
	if len(failed) > 0 || counts["skipped"] > 0 {
		first := ""
		if len(failed) > 0 {
			first = failed[0].Host
		}
		return &HostsFailedError{Failed: len(failed), Total: len(results), Skipped: counts["skipped"], First: first}
	}
	return nil
}

// prompter asks at the terminal through the Factory's Prompter, one
// question at a time (hosts are dialled in parallel; mu also keeps the
// host lines from interleaving with a question).
type prompter struct {
	ctx context.Context
	ask wizard.Prompter
	mu  *sync.Mutex
}

func (p *prompter) secret(label string) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ask.Password(p.ctx, wizard.Ask{Title: label, Given: "the answers file (agents.ssh)"})
}

func (p *prompter) yesNo(q string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ask.Confirm(p.ctx, wizard.Ask{Title: q, Given: "--yes or --accept-new-host-keys"})
}

// loadPEM reads --pem, or the server's PEM (server.pem_path, on this
// machine or over server.ssh).
func loadPEM(ctx context.Context, f *Factory, file *answers.File, path string, acceptNew bool) ([]byte, error) {
	check := func(b []byte, from string) ([]byte, error) {
		if !strings.Contains(string(b), "-----BEGIN CERTIFICATE-----") {
			return nil, usageErrorf("give the server's certificate in PEM form (cmtls cert convert --outform pem)", "%s holds no PEM certificate", from)
		}
		// A damaged block would be pushed to every agent, which then
		// refuses the server at its next restart: refuse it here, before
		// any host is touched.
		if _, err := pki.ParseCertificates(b); err != nil {
			return nil, &UsageError{Err: fmt.Errorf("%s: %w", from, err),
				hint: "give the server's certificate as an intact PEM (cmtls cert inspect FILE checks it; cmtls cert convert makes one from the DER)"}
		}
		return b, nil
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usageErrorf("check the path given to --pem", "cannot read --pem: %v", errors.Unwrap(err))
		}
		return check(b, path)
	}
	s := file.Server
	if s == nil || s.PEMPath == "" {
		return nil, usageErrorf("add --pem server.pem, or a server: section with pem_path", "no certificate to push: neither --pem nor server.pem_path is given")
	}
	h, err := dialServer(ctx, f, file, acceptNew)
	if err != nil {
		return nil, fmt.Errorf("read the server's PEM: %w", err)
	}
	defer h.Close()
	b, err := h.ReadFile(ctx, s.PEMPath)
	if err != nil {
		return nil, fmt.Errorf("read the server's PEM %s: %w", s.PEMPath, err)
	}
	return check(b, s.PEMPath)
}
