package cmd

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
	"github.com/cmtls/cmtls/steps/changereport"
	samlsteps "github.com/cmtls/cmtls/steps/saml"
)

// reportFlagUsage is the --report flag's help, the same on every command
// that has it.
const reportFlagUsage = "write a change record for a ticket to `FILE` (.md: Markdown, .json: JSON), also after a failure"

// runReport gathers, during one run, what its change record (--report
// FILE) needs; the command's RunE writes it when the run ends, however it
// ends. Every method is safe on nil (no --report).
type runReport struct {
	path    string
	format  changereport.Format
	command string // the command line, flags as given (no secrets are flags)
	started time.Time

	file        *answers.File
	answersPath string
	acceptNew   bool
	res         *steps.Result
	col         *steps.Collector
	// certPEM is the certificate the run pushed (agents push --pem), read
	// instead of server.pem_path.
	certPEM    []byte
	certSource string
	// undo makes the undo command from the answers path.
	undo  func(answersPath string) string
	notes []string
	saml  *samlsteps.Result
	// wasDeclined: the plan was shown and not confirmed.
	wasDeclined bool
}

// startReport checks --report before anything changes (bad input: exit 2)
// and starts the record; nil when --report is not given.
func startReport(f *Factory, c *cobra.Command, p string, undo func(string) string) (*runReport, error) {
	if p == "" {
		return nil, nil
	}
	format, err := changereport.Check(p)
	if err != nil {
		return nil, err
	}
	return &runReport{path: p, format: format, command: commandLine(f, c), started: f.now(), undo: undo}, nil
}

// commandLine is the command as run: its arguments as given (no secret
// is ever a flag), else its path.
func commandLine(f *Factory, c *cobra.Command) string {
	if len(f.argv) > 0 {
		parts := []string{"cmtls"}
		for _, a := range f.argv {
			if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./,:@+") == "" {
				parts = append(parts, a)
			} else {
				parts = append(parts, remote.Quote(a))
			}
		}
		return strings.Join(parts, " ")
	}
	return c.CommandPath()
}

func (r *runReport) setAnswers(file *answers.File, answersPath string, acceptNew bool) {
	if r != nil {
		r.file, r.answersPath, r.acceptNew = file, answersPath, acceptNew
	}
}

func (r *runReport) setCollector(col *steps.Collector) {
	if r != nil {
		r.col = col
	}
}

func (r *runReport) setResult(res *steps.Result) {
	if r != nil && res != nil {
		r.res = res
	}
}

func (r *runReport) setCert(pem []byte, source string) {
	if r != nil {
		r.certPEM, r.certSource = pem, source
	}
}

// declined records that the operator said no to the plan.
func (r *runReport) declined() {
	if r != nil {
		r.wasDeclined = true
	}
}

// finish writes the record of the run that ended with err, and returns
// err (or, when only the record could not be written, that failure).
func (r *runReport) finish(ctx context.Context, f *Factory, err error) error {
	if r == nil {
		return err
	}
	if ctx.Err() != nil && !errors.Is(err, context.Canceled) {
		err = errors.Join(err, context.Canceled)
	}
	if errors.Is(err, steps.ErrDeclined) {
		r.wasDeclined = true
	}
	code := exitCode(err)
	in := changereport.Input{Command: r.command, Started: r.started, Finished: f.now(), User: changereport.Who(f.lookupEnv()),
		Result: r.res, ExitCode: code, Err: err, Hint: findHint(err), Notes: r.notes, Declined: r.wasDeclined}
	if errors.Is(err, steps.ErrDeclined) {
		in.ExitCode, in.Err = 0, nil
	}
	if r.col != nil {
		in.Events = r.col.Events()
	}
	if r.file != nil && r.file.Server != nil {
		in.ServerHost = r.file.Server.Host
	}
	ans := r.answersPath
	if ans == "" {
		ans = "FILE"
	}
	if r.undo != nil {
		in.Undo = r.undo(ans)
	}
	// Reading the server after an interrupt is still wanted (the record
	// says what the server holds), but bounded.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	in.Certificate, in.CertNote = r.certificate(rctx, f)
	if (r.res == nil || !r.res.Applied) && len(r.certPEM) == 0 {
		// nothing changed: the certificate named is the one before the run
		if in.Certificate != nil {
			in.Certificate.Source += " (as it is; this run changed nothing)"
		} else {
			in.CertNote += " (this run changed nothing)"
		}
	}
	applied := r.res != nil && r.res.Applied
	if applied {
		in.ServerBackups = r.serverBackups(rctx, f)
	}
	if s := r.saml; s != nil {
		for _, l := range s.Logins {
			mark := "ok"
			if !l.OK {
				mark = "FAILED"
			}
			in.ServerEvidence = append(in.ServerEvidence, fmt.Sprintf("test login %s: expected %s, CM says %s (%s)", l.User, l.Expect, l.Got, mark))
		}
		if s.StateFile != "" && applied {
			in.Notes = append(in.Notes, "the values saml configure replaced are recorded in "+s.StateFile+" on this machine (saml rollback reads it)")
		}
	}
	rep := changereport.Build(in)
	if werr := changereport.Write(r.path, r.format, rep); werr != nil {
		fmt.Fprintf(f.Stderr(), "error: the change record was not written: %v\n", werr)
		if err == nil {
			return werr
		}
		return err
	}
	fmt.Fprintf(f.ErrOut, "change record written to %s\n", r.path)
	return err
}

// certificate reads the server certificate as it is after the run:
// the PEM pushed, else server.pem_path on the server host.
func (r *runReport) certificate(ctx context.Context, f *Factory) (*changereport.Certificate, string) {
	if len(r.certPEM) > 0 {
		certs, err := pki.ParseCertificates(r.certPEM)
		if err != nil || len(certs) == 0 {
			return nil, "the certificate pushed could not be parsed"
		}
		return changereport.NewCertificate(certs[0], r.certSource), ""
	}
	if r.file == nil || r.file.Server == nil || r.file.Server.PEMPath == "" {
		return nil, "not read: the answers file names no server.pem_path"
	}
	p := r.file.Server.PEMPath
	h, err := dialServer(ctx, f, r.file, r.acceptNew)
	if err != nil {
		return nil, "not read: " + err.Error()
	}
	defer h.Close()
	b, err := h.ReadFile(ctx, p)
	if err != nil {
		return nil, fmt.Sprintf("not read: %s: %v", p, err)
	}
	certs, err := pki.ParseCertificates(b)
	if err != nil || len(certs) == 0 {
		return nil, fmt.Sprintf("%s holds no certificate that parses", p)
	}
	return changereport.NewCertificate(certs[0], fmt.Sprintf("%s on %s", p, r.file.Server.Host)), ""
}

// serverBackups finds the copies made on the server host in this run of
// the server files it changed (remote.BackupPath names them by the time
// they were made: <file>.cmtls-<UTC stamp>.bak).
func (r *runReport) serverBackups(ctx context.Context, f *Factory) []string {
	if r.file == nil || r.file.Server == nil || r.res == nil {
		return nil
	}
	var files []string
	for _, c := range r.res.Plan {
		for _, it := range c.Items {
			if it.Host != "" && it.Host != r.file.Server.Host {
				continue
			}
			if it.Kind != steps.KindFile && it.Kind != steps.KindKeystore {
				continue
			}
			p, _, _ := strings.Cut(it.Target, " alias ")
			if path.IsAbs(p) && !slices.Contains(files, p) {
				files = append(files, p)
			}
		}
	}
	if len(files) == 0 {
		return nil
	}
	h, err := dialServer(ctx, f, r.file, r.acceptNew)
	if err != nil {
		return nil
	}
	defer h.Close()
	var script strings.Builder
	for _, p := range files {
		fmt.Fprintf(&script, "for b in %s.cmtls-*.bak; do [ -e \"$b\" ] && printf '%%s\\n' \"$b\"; done; ", remote.Quote(p))
	}
	script.WriteString("true")
	res, err := h.Run(ctx, script.String(), nil)
	if err != nil || res.Code != 0 {
		return nil
	}
	since := r.started.UTC().Truncate(time.Second)
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
		i := strings.LastIndex(l, ".cmtls-")
		if i < 0 || !strings.HasSuffix(l, ".bak") {
			continue
		}
		t, err := time.Parse("20060102T150405.000Z", strings.TrimSuffix(l[i+len(".cmtls-"):], ".bak"))
		if err != nil || t.Before(since) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// lookupEnv is the Factory's environment lookup (never nil).
func (f *Factory) lookupEnv() func(string) (string, bool) {
	if f.LookupEnv != nil {
		return f.LookupEnv
	}
	return func(string) (string, bool) { return "", false }
}

// setSAML adds what a SAML run proved and where it recorded what it
// replaced.
func (r *runReport) setSAML(s *samlsteps.Result) {
	if r == nil || s == nil {
		return
	}
	r.saml = s
}

func undoSAMLRollback(ans string) string {
	return "cmtls saml configure --answers " + ans + " --yes (configures SAML again)"
}

// The undo commands of the commands with --report.
func undoInit(ans string) string { return "cmtls rollback --answers " + ans + " --yes" }
func undoRollback(ans string) string {
	return "cmtls init --answers " + ans + " --yes (takes the cluster to TLS level 2 again)"
}
func undoSAMLConfigure(ans string) string { return "cmtls saml rollback --answers " + ans + " --yes" }
func undoPush(ans string) string {
	return "cmtls rollback --answers " + ans + " --yes (restores each agent's config.ini and PEM from before cmtls)"
}
func undoRenew(rollback bool) func(string) string {
	if rollback {
		return func(ans string) string {
			return "cmtls renew --answers " + ans + " --yes (a new certificate; the one replaced is not kept)"
		}
	}
	return func(ans string) string { return "cmtls renew --answers " + ans + " --yes --rollback" }
}
