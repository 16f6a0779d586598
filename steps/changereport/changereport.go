// Package changereport builds the change record of one cmtls run (--report
// FILE): what a ticket for a change needs, from the runner's result and
// events. It is written as Markdown (FILE.md) or JSON (FILE.json),
// atomically and readable by its owner only, since it names hosts and
// paths. It never holds a secret: the plan items it copies carry redacted
// values, and it copies nothing else from the answers file.
package changereport

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/agentcfg"
)

// Format is how the record is written.
type Format string

const (
	Markdown Format = "markdown"
	JSON     Format = "json"
)

// InputError is a --report path that cannot be used: bad input, found
// before anything changes.
type InputError struct {
	Err  error
	hint string
}

func (e *InputError) Error() string  { return e.Err.Error() }
func (e *InputError) Unwrap() error  { return e.Err }
func (e *InputError) BadInput() bool { return true }
func (e *InputError) Hint() string   { return e.hint }

// Check says how path would be written, or why it cannot be: its ending
// must be .md or .json, and its directory must exist.
func Check(path string) (Format, error) {
	var f Format
	switch strings.ToLower(filepath.Ext(path)) {
	case ".md":
		f = Markdown
	case ".json":
		f = JSON
	default:
		return "", &InputError{Err: fmt.Errorf("--report %q: unknown format", path),
			hint: "end the report file name in .md (Markdown) or .json (JSON)"}
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", &InputError{Err: fmt.Errorf("--report %q: the directory %s does not exist", path, dir),
			hint: "give the report a path in an existing directory"}
	}
	return f, nil
}

// Certificate is the server certificate after the run.
type Certificate struct {
	Source    string    `json:"source,omitempty"` // where it was read
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	SANs      []string  `json:"sans"`
	SHA256    string    `json:"sha256"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

// NewCertificate describes c, read from source.
func NewCertificate(c *x509.Certificate, source string) *Certificate {
	sans := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		sans = append(sans, ip.String())
	}
	return &Certificate{Source: source, Subject: c.Subject.String(), Issuer: c.Issuer.String(), SANs: sans,
		SHA256: pki.SHA256Fingerprint(c), NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC()}
}

// How a planned change ended (Change.State).
const (
	StateDone       = "done"
	StateVerified   = "verified" // a check (KindCheck) that passed
	StateFailed     = "failed"
	StateNotDone    = "not done"
	StateWouldDo    = "would change (dry run)"
	StateNotApplied = "not applied"
	StateSkipped    = "skipped"
)

// Change is one planned change and how it ended. Old and New are the
// plan's printable values: secrets are "[redacted]" there.
type Change struct {
	Step   string `json:"step"`
	Kind   string `json:"kind"`
	Target string `json:"target"`
	Old    string `json:"old,omitempty"`
	New    string `json:"new,omitempty"`
	Note   string `json:"note,omitempty"`
	State  string `json:"state"`
}

// Host is what the run did on one host; "server" is the CM server and its
// API.
type Host struct {
	Name     string   `json:"name"`
	Status   string   `json:"status,omitempty"` // the runner's host status (agents)
	Changes  []Change `json:"changes"`
	Backups  []string `json:"backups"`
	Evidence []string `json:"evidence"`
	Warnings []string `json:"warnings,omitempty"`
	Error    string   `json:"error,omitempty"`
	Hint     string   `json:"hint,omitempty"`
	Note     string   `json:"note,omitempty"`
}

// Report is the change record.
type Report struct {
	Command     string             `json:"command"`
	Started     time.Time          `json:"started"`
	Finished    time.Time          `json:"finished"`
	User        string             `json:"user"` // user@host that ran it
	Outcome     string             `json:"outcome"`
	ExitCode    int                `json:"exit_code"`
	Error       string             `json:"error,omitempty"`
	Hint        string             `json:"hint,omitempty"`
	DryRun      bool               `json:"dry_run"`
	Changed     bool               `json:"changed"` // the run applied changes (false: nothing was changed)
	Interrupted bool               `json:"interrupted,omitempty"`
	Certificate *Certificate       `json:"certificate,omitempty"`
	CertNote    string             `json:"certificate_note,omitempty"` // why no certificate is named
	Hosts       []Host             `json:"hosts"`
	Steps       []steps.StepResult `json:"steps"`
	Undo        string             `json:"undo"`
	Notes       []string           `json:"notes,omitempty"`
}

// Input is what a command knows at the end of a run.
type Input struct {
	Command           string // the command line, without secrets
	Started, Finished time.Time
	User              string
	Result            *steps.Result // nil: the run stopped before it began
	Events            []steps.Event
	ExitCode          int
	Err               error
	Hint              string
	Certificate       *Certificate
	CertNote          string
	// ServerBackups are copies made on the server host in this run.
	ServerBackups []string
	// ServerEvidence is proof gathered outside the events (e.g. test
	// logins through the IdP).
	ServerEvidence []string
	// ServerHost is server.host: its events are the server's (unless it is
	// also one of the agent hosts).
	ServerHost string
	// Declined: the plan was shown and the operator did not confirm it.
	Declined bool
	// Undo is the command that undoes the run.
	Undo  string
	Notes []string
}

// ServerName is the host name the record gives the CM server and its API.
const ServerName = "server"

var backupRE = regexp.MustCompile(`\bbackup (\S+)`)

// Build makes the record of a run.
func Build(in Input) *Report {
	r := &Report{Command: in.Command, Started: in.Started.UTC(), Finished: in.Finished.UTC(), User: in.User,
		ExitCode: in.ExitCode, Hint: in.Hint, Certificate: in.Certificate, CertNote: in.CertNote,
		Undo: in.Undo, Notes: in.Notes, Hosts: []Host{}, Steps: []steps.StepResult{}}
	if in.Err != nil {
		r.Error = in.Err.Error()
	}
	res := in.Result
	if res == nil {
		res = &steps.Result{}
	}
	r.DryRun, r.Changed, r.Interrupted = res.DryRun, res.Applied, res.Interrupted || in.ExitCode == 130
	if res.Steps != nil {
		r.Steps = res.Steps
	}
	r.Outcome = outcome(r, res)
	if in.Declined && !res.Applied {
		r.Outcome = "the plan was not confirmed: nothing was changed"
	}
	if !r.Changed {
		r.Undo = "nothing to undo: nothing was changed"
	}

	hosts := map[string]*Host{}
	var order []string
	agent := map[string]bool{}
	for _, hr := range res.Hosts {
		agent[hr.Host] = true
	}
	host := func(name string) *Host {
		if name == "" || (name == in.ServerHost && !agent[name]) {
			name = ServerName
		}
		if h := hosts[name]; h != nil {
			return h
		}
		hosts[name] = &Host{Name: name, Changes: []Change{}, Backups: []string{}, Evidence: []string{}}
		order = append(order, name)
		return hosts[name]
	}
	hostRes := map[string]steps.HostResult{}
	for _, hr := range res.Hosts {
		hostRes[hr.Host] = hr
		h := host(hr.Host)
		h.Status, h.Error, h.Hint, h.Note = string(hr.Status), hr.Error, hr.Hint, hr.Note
	}
	stepStatus := map[string]steps.Status{}
	for _, s := range res.Steps {
		stepStatus[s.Step] = s.Status
	}
	// per host and step: the apply events that say the host was changed
	changedEv := map[[2]string]bool{}
	anyHostEv := map[string]bool{}
	for _, e := range in.Events {
		if e.Phase == steps.PhaseApply && e.Host != "" && (e.Status == steps.StatusChanged || e.Status == steps.StatusOK) {
			changedEv[[2]string{e.Step, e.Host}] = true
			anyHostEv[e.Step] = true
		}
	}
	for _, c := range res.Plan {
		for _, it := range c.Items {
			h := host(it.Host)
			ch := Change{Step: c.Step, Kind: it.Kind, Target: it.Target, Old: it.Old, New: it.New, Note: it.Note}
			ch.State = changeState(res, stepStatus, hostRes, changedEv, anyHostEv, c.Step, it.Host)
			if ch.State == StateDone && it.Kind == steps.KindCheck {
				ch.State = StateVerified
			}
			h.Changes = append(h.Changes, ch)
		}
	}
	for _, e := range in.Events {
		if e.Host == "" && e.Phase != steps.PhaseVerify {
			continue
		}
		switch {
		case e.Phase == steps.PhaseApply && e.Status == steps.StatusChanged:
			h := host(e.Host)
			for _, m := range backupRE.FindAllStringSubmatch(e.Detail, -1) {
				p := strings.TrimRight(m[1], ".,;)")
				if !slices.Contains(h.Backups, p) {
					h.Backups = append(h.Backups, p)
				}
			}
			// a change proven by the same command that made it (agents
			// push runs the check command right after the restart)
			if d, _, _ := strings.Cut(e.Detail, "; backup "); e.Host != "" && strings.Contains(d, "verified") {
				if ev := e.Step + ": " + d; !slices.Contains(h.Evidence, ev) {
					h.Evidence = append(h.Evidence, ev)
				}
			}
		case e.Phase == steps.PhaseVerify && (e.Status == steps.StatusOK || e.Status == steps.StatusProgress) && e.Detail != "" && e.Detail != "verified":
			h := host(e.Host)
			ev := e.Step + ": " + e.Detail
			if !slices.Contains(h.Evidence, ev) {
				h.Evidence = append(h.Evidence, ev)
			}
		}
		if e.Status == steps.StatusWarn && e.Detail != "" {
			h := host(e.Host)
			w := e.Step + ": " + e.Detail
			if !slices.Contains(h.Warnings, w) {
				h.Warnings = append(h.Warnings, w)
			}
		}
	}
	// The original config.ini of an agent is kept once, before cmtls
	// first edits it (rollback restores from it).
	for _, name := range order {
		h := hosts[name]
		for _, ch := range h.Changes {
			if ch.Kind == steps.KindINI && ch.State == StateDone {
				if p, _, ok := strings.Cut(ch.Target, " ["); ok {
					o := agentcfg.OrigPath(p) + " (the original, from before cmtls first changed it)"
					if !slices.Contains(h.Backups, o) {
						h.Backups = append(h.Backups, o)
					}
				}
			}
		}
	}
	if len(in.ServerEvidence) > 0 {
		h := host("")
		h.Evidence = append(h.Evidence, in.ServerEvidence...)
	}
	if len(in.ServerBackups) > 0 {
		h := host("")
		for _, p := range in.ServerBackups {
			if !slices.Contains(h.Backups, p) {
				h.Backups = append(h.Backups, p)
			}
		}
	}
	// the server first, then the agents in the runner's order
	if hosts[ServerName] != nil {
		r.Hosts = append(r.Hosts, *hosts[ServerName])
	}
	for _, name := range order {
		if name != ServerName {
			r.Hosts = append(r.Hosts, *hosts[name])
		}
	}
	return r
}

func changeState(res *steps.Result, stepStatus map[string]steps.Status, hostRes map[string]steps.HostResult,
	changedEv map[[2]string]bool, anyHostEv map[string]bool, step, host string) string {
	if res.DryRun {
		return StateWouldDo
	}
	if !res.Applied {
		return StateNotApplied
	}
	st, ok := stepStatus[step]
	if !ok {
		return StateNotDone
	}
	hr, isAgent := hostRes[host]
	failedHere := isAgent && hr.Status == steps.HostFailed && hr.Step == step
	switch st {
	case steps.StatusSkipped:
		return StateSkipped
	case steps.StatusChanged:
		switch {
		case failedHere:
			return StateFailed
		case host == "" || changedEv[[2]string{step, host}] || !anyHostEv[step]:
			return StateDone
		case isAgent && (hr.Status == steps.HostFailed || hr.Status == steps.HostNotStarted):
			return StateNotDone
		}
		return StateDone
	case steps.StatusFailed:
		switch {
		case failedHere:
			return StateFailed
		case host != "" && changedEv[[2]string{step, host}]:
			return StateDone
		case host == "":
			return StateFailed
		}
		return StateNotDone
	case steps.StatusStopped:
		if host != "" && changedEv[[2]string{step, host}] {
			return StateDone
		}
		return StateNotDone
	}
	return StateNotDone
}

func outcome(r *Report, res *steps.Result) string {
	switch {
	case r.DryRun && r.ExitCode == 0:
		return "dry run: nothing was changed"
	case r.DryRun:
		return fmt.Sprintf("dry run that could not plan everything (exit %d): nothing was changed", r.ExitCode)
	case r.Interrupted && res.Applied:
		return "interrupted: changes were under way; the hosts below say what was done"
	case r.Interrupted:
		return "interrupted before any change: nothing was changed"
	case r.ExitCode == 2:
		return "bad input: nothing was changed"
	case !res.Applied && r.ExitCode == 0:
		return "nothing to do: nothing was changed"
	case !res.Applied:
		return fmt.Sprintf("failed before any change (exit %d): nothing was changed", r.ExitCode)
	case r.ExitCode == 0:
		return "done and verified"
	case r.ExitCode == 3:
		return "partly done: some hosts failed, the rest are done and verified"
	}
	return fmt.Sprintf("failed (exit %d): the hosts below say what was done", r.ExitCode)
}

// Who is the user@host running this process.
func Who(lookupEnv func(string) (string, bool)) string {
	u := ""
	for _, k := range []string{"USER", "LOGNAME"} {
		if v, ok := lookupEnv(k); ok && v != "" {
			u = v
			break
		}
	}
	if u == "" {
		if cu, err := user.Current(); err == nil && cu.Username != "" {
			u = cu.Username
		} else {
			u = fmt.Sprintf("uid%d", os.Getuid())
		}
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	if ip := net.ParseIP(h); ip != nil {
		h = ip.String()
	}
	return u + "@" + h
}
