package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path"
	"strings"

	"github.com/cmtls/cmtls/remote/cmapi"
)

// How a step ended when the run was interrupted during it.
const StatusStopped Status = "stopped"

// How one agent host ended (HostResult.Status).
const (
	HostVerified     Status = "verified"       // changed in this run, done and verified
	HostUnchanged    Status = "unchanged"      // already done, verified in this run (dry run: nothing to do)
	HostDone         Status = "done"           // changed, not verified (the run stopped first)
	HostNotStarted   Status = "not-started"    // nothing was changed on it
	HostFailed       Status = "failed"         // Error says why, Hint names the fix
	HostWouldChange  Status = "would-change"   // dry run: the plan changes it
	HostCouldNotPlan Status = "could-not-plan" // dry run: it could not be read
)

// HostResult is how one agent host ended.
type HostResult struct {
	Host   string `json:"host"`
	Status Status `json:"status"`
	Step   string `json:"step,omitempty"`
	Error  string `json:"error,omitempty"`
	Hint   string `json:"hint,omitempty"`
	Log    string `json:"log,omitempty"`
	// Note says why a host was not started (e.g. its canary failed).
	Note string `json:"note,omitempty"`
}

// Done reports whether the host ended done and verified.
func (h HostResult) Done() bool { return h.Status == HostVerified || h.Status == HostUnchanged }

// hostResults says per agent host how the run left it. complete is true
// when every selected step was applied and verified.
func (e *Env) hostResults(res *Result, complete bool) []HostResult {
	planned := map[string]bool{}
	for _, c := range res.Plan {
		for _, h := range c.Hosts() {
			planned[h] = true
		}
	}
	done := e.Done()
	out := make([]HostResult, 0, len(e.Agents))
	for _, a := range e.Agents {
		hr := HostResult{Host: a.Name}
		he := e.failure(a.Name)
		e.run.mu.Lock()
		hr.Note = e.run.notes[a.Name]
		e.run.mu.Unlock()
		if he != nil {
			hr.Step, hr.Error, hr.Hint, hr.Log = he.Step, strings.TrimPrefix(he.Err.Error(), "host "+a.Name+": "), he.Fix, he.Log
			if errors.Is(he.Err, context.Canceled) {
				// the second Ctrl-C stopped work in flight on this host
				hr.Error = "stopped while it ran (interrupted): " + hr.Error
				hr.Hint = "re-run the same command to finish it"
			}
		}
		switch {
		case res.DryRun && he != nil:
			hr.Status = HostCouldNotPlan
		case res.DryRun && planned[a.Name]:
			hr.Status = HostWouldChange
		case res.DryRun:
			hr.Status = HostUnchanged
		case he != nil:
			hr.Status = HostFailed
		case complete && done.touched(a.Name):
			hr.Status = HostVerified
		case complete:
			hr.Status = HostUnchanged
		case done.IsVerified(a.Name) && done.touched(a.Name):
			hr.Status = HostVerified
		case done.IsVerified(a.Name):
			hr.Status = HostUnchanged
		case done.touched(a.Name):
			hr.Status = HostDone
		default:
			hr.Status = HostNotStarted
		}
		out = append(out, hr)
	}
	return out
}

// HostCounts counts hosts by status.
func HostCounts(hosts []HostResult) map[string]int {
	out := map[string]int{}
	for _, h := range hosts {
		out[string(h.Status)]++
	}
	return out
}

// WriteSummary prints how the run left each agent host, after a headline
// that counts them: one of done and verified, done but not verified, not
// started, failed (with the reason and fix); for a dry run, would change,
// nothing to do, or could not plan. err is the run's error.
func (r *Result) WriteSummary(w io.Writer, err error) error {
	var b strings.Builder
	n := HostCounts(r.Hosts)
	ok := n[string(HostVerified)] + n[string(HostUnchanged)]
	failed := n[string(HostFailed)]
	rest := countParts(n, HostDone, HostNotStarted)
	switch {
	case r.DryRun:
		fmt.Fprintf(&b, "dry run: %s; nothing was changed\n", orNoHost(countParts(n, HostWouldChange, HostUnchanged, HostCouldNotPlan)))
	case r.Interrupted || errors.Is(err, context.Canceled):
		fmt.Fprintf(&b, "interrupted: %s\n", orNoHost(countParts(n, HostVerified, HostUnchanged, HostDone, HostNotStarted, HostFailed)))
	case err == nil:
		fmt.Fprintf(&b, "done: %d agent host(s) verified\n", ok)
	case failed > 0 && ok == 0:
		fmt.Fprintf(&b, "failed: no agent host verified, %d failed%s\n", failed, andMore(rest))
	case failed > 0:
		fmt.Fprintf(&b, "partly done: %d agent host(s) verified, %d failed%s\n", ok, failed, andMore(rest))
	default:
		fmt.Fprintf(&b, "stopped: %s\n", orNoHost(countParts(n, HostVerified, HostUnchanged, HostDone, HostNotStarted, HostFailed)))
	}
	for _, h := range r.Hosts {
		writeHostLine(&b, h, r.DryRun)
	}
	_, werr := io.WriteString(w, b.String())
	return werr
}

func writeHostLine(b *strings.Builder, h HostResult, dryRun bool) {
	const indent = "  %-20s "
	switch h.Status {
	case HostVerified:
		fmt.Fprintf(b, indent+"ok: done and verified\n", h.Host)
	case HostUnchanged:
		if dryRun {
			fmt.Fprintf(b, indent+"nothing to do\n", h.Host)
		} else {
			fmt.Fprintf(b, indent+"ok: already done, verified\n", h.Host)
		}
	case HostDone:
		fmt.Fprintf(b, indent+"done, not verified%s\n", h.Host, withNote(h.Note))
	case HostNotStarted:
		fmt.Fprintf(b, indent+"not started%s\n", h.Host, withNote(h.Note))
	case HostWouldChange:
		fmt.Fprintf(b, indent+"would change\n", h.Host)
	case HostCouldNotPlan, HostFailed:
		what := "FAILED at " + h.Step
		if h.Status == HostCouldNotPlan {
			what = "could not plan (" + h.Step + ")"
		}
		fmt.Fprintf(b, indent+"%s: %s\n", h.Host, what, firstLine(h.Error))
		if h.Log != "" {
			fmt.Fprintf(b, indent+"agent log: %s\n", "", h.Log)
		}
		if h.Hint != "" {
			fmt.Fprintf(b, indent+"fix: %s\n", "", h.Hint)
		}
	}
}

var statusWords = map[Status]string{
	HostVerified: "verified", HostUnchanged: "already done and verified", HostDone: "done but not verified",
	HostNotStarted: "not started", HostFailed: "failed", HostWouldChange: "would change", HostCouldNotPlan: "could not plan",
}

// countParts is "2 verified, 1 not started" for the statuses given, in
// their order, leaving out zeros.
func countParts(n map[string]int, sts ...Status) string {
	var parts []string
	for _, s := range sts {
		if c := n[string(s)]; c > 0 {
			w := statusWords[s]
			if s == HostUnchanged && n[string(HostWouldChange)]+n[string(HostCouldNotPlan)] > 0 || s == HostUnchanged && len(sts) == 3 {
				w = "nothing to do"
			}
			parts = append(parts, fmt.Sprintf("%d %s", c, w))
		}
	}
	return strings.Join(parts, ", ")
}

func andMore(s string) string {
	if s == "" {
		return ""
	}
	return ", " + s
}

func orNoHost(s string) string {
	if s == "" {
		return "no agent host"
	}
	return s + " (agent hosts)"
}

func withNote(n string) string {
	if n == "" {
		return ""
	}
	return ": " + n
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// AmbiguousHostError is an agent name that matches more than one host CM
// knows (a short name shared by hosts of two domains, an address used by
// two): cmtls cannot tell which heartbeat is the agent's.
type AmbiguousHostError struct {
	Name       string
	Candidates []string
}

func (e *AmbiguousHostError) Error() string {
	return fmt.Sprintf("%s matches %d hosts CM knows: %s", e.Name, len(e.Candidates), strings.Join(e.Candidates, ", "))
}
func (e *AmbiguousHostError) BadInput() bool { return true }
func (e *AmbiguousHostError) Hint() string {
	return "name the agent host by its fully qualified name as CM lists it (Hosts > All Hosts)"
}

// errNoSuchHost is an agent CM does not list.
var errNoSuchHost = errors.New("CM does not know the host")

// MatchHost finds the host CM knows as the agent given by name (as the
// answers file or the inventory write it) and hostID (the agent's
// lib_dir/uuid, may be ""). The SSH address is not used: it may be a
// jump or NAT address shared by several hosts. CM's ApiHost
// names an agent by its FQDN and identifies it by hostId, which the agent
// keeps in lib_dir/uuid (Cloudera Manager API, ApiHost); a user may write
// a short name or an IP. The first rule that matches decides: hostId,
// then the FQDN (any case), then an IP address, then the short name (the
// first label on either side). A rule matching more than one host is an
// *AmbiguousHostError naming them; none matching is errNoSuchHost.
func MatchHost(hosts []cmapi.Host, name, hostID string) (cmapi.Host, error) {
	name = strings.TrimSuffix(strings.TrimSpace(name), ".")
	rules := []func(h cmapi.Host) bool{
		func(h cmapi.Host) bool { return hostID != "" && h.HostID == hostID },
		func(h cmapi.Host) bool {
			return name != "" && strings.EqualFold(strings.TrimSuffix(h.Hostname, "."), name)
		},
		func(h cmapi.Host) bool {
			return h.IPAddress != "" && sameIP(h.IPAddress, name)
		},
		func(h cmapi.Host) bool {
			short := firstLabel(name)
			return short != "" && net.ParseIP(name) == nil && strings.EqualFold(firstLabel(h.Hostname), short) &&
				// agent1 matches agent1.example.com and agent1.example.com
				// matches agent1, but never two FQDNs of other domains
				(!strings.Contains(name, ".") || !strings.Contains(h.Hostname, "."))
		},
	}
	for _, match := range rules {
		var found []cmapi.Host
		for _, h := range hosts {
			if match(h) {
				found = append(found, h)
			}
		}
		switch {
		case len(found) == 1:
			return found[0], nil
		case len(found) > 1:
			err := &AmbiguousHostError{Name: name}
			for _, h := range found {
				err.Candidates = append(err.Candidates, fmt.Sprintf("%s (%s, hostId %s)", h.Hostname, h.IPAddress, h.HostID))
			}
			return cmapi.Host{}, err
		}
	}
	return cmapi.Host{}, errNoSuchHost
}

func sameIP(a, b string) bool {
	x, y := net.ParseIP(a), net.ParseIP(b)
	return x != nil && y != nil && x.Equal(y)
}

func firstLabel(n string) string {
	if i := strings.IndexByte(n, '.'); i >= 0 {
		return n[:i]
	}
	return n
}

// DefaultAgentLibDir is the agent's lib_dir when config.ini leaves it unset.
const DefaultAgentLibDir = "/var/lib/cloudera-scm-agent"

// agentHostID reads the agent's hostId (lib_dir/uuid) over a's connection.
func agentHostID(ctx context.Context, a *Agent, ini *AgentINI) (string, error) {
	if a.Host == nil {
		return "", errors.New("not connected")
	}
	dir := DefaultAgentLibDir
	if ini != nil && ini.LibDir != "" {
		dir = ini.LibDir
	}
	b, err := a.Host.ReadFile(ctx, path.Join(dir, "uuid"))
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(b))
	if id == "" || len(id) > 256 || strings.ContainsAny(id, " \t\r\n") {
		return "", fmt.Errorf("%s/uuid does not hold a host id", dir)
	}
	return id, nil
}
