package pki

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// Resolver looks host names up; *net.Resolver satisfies it, tests pass a map.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Severity of a Finding.
type Severity string

const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Finding is one result of CheckServerName.
type Finding struct {
	Severity Severity `json:"severity"`
	Code     string   `json:"code"` // stable id: "unresolvable", "not-this-host", "bare-ip", "short-name", "localhost", "loopback-only"
	Message  string   `json:"message"`
	Hint     string   `json:"hint,omitempty"`
}

// NameCheck is the outcome of CheckServerName.
type NameCheck struct {
	Name     string    `json:"name"`
	Addrs    []string  `json:"addresses,omitempty"` // what the name resolved to
	Findings []Finding `json:"findings,omitempty"`
}

// OK reports whether no finding is an error.
func (c NameCheck) OK() bool {
	for _, f := range c.Findings {
		if f.Severity == SeverityError {
			return false
		}
	}
	return true
}

// Err returns the findings that are errors as one InputError (exit 2), or nil.
func (c NameCheck) Err() error {
	var msgs []string
	hint := ""
	for _, f := range c.Findings {
		if f.Severity == SeverityError {
			msgs = append(msgs, f.Message)
			if hint == "" {
				hint = f.Hint
			}
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return inputErr(hint, "%w: %s", ErrBadArgument, strings.Join(msgs, "; "))
}

// CheckServerName is the CN/FQDN check of Step 2.3: the CN must be the name
// (FQDN, or a static IP) agents use to reach the server. The name must
// resolve, and to one of hostAddrs, the addresses of the server host (this
// machine, or the remote server as the caller found them). A bare IP draws
// a warning (it may change, e.g. under DHCP) and so does a short name
// without dots (agents in other domains cannot resolve it). "localhost" is
// allowed with a warning: it only works when every agent runs on the server
// host, as in the sandbox.
func CheckServerName(ctx context.Context, r Resolver, name string, hostAddrs []net.IP) NameCheck {
	c := NameCheck{Name: name}
	add := func(sev Severity, code, hint, format string, args ...any) {
		c.Findings = append(c.Findings, Finding{Severity: sev, Code: code, Message: fmt.Sprintf(format, args...), Hint: hint})
	}
	name = strings.TrimSpace(name)
	if name == "" {
		add(SeverityError, "empty", "give the server host's FQDN", "the server name is empty")
		return c
	}
	local := func(ip net.IP) bool {
		for _, h := range hostAddrs {
			if h.Equal(ip) || (ip.IsLoopback() && h.IsLoopback()) {
				return true
			}
		}
		return false
	}
	if ip := net.ParseIP(name); ip != nil {
		c.Addrs = []string{ip.String()}
		add(SeverityWarning, "bare-ip", "use the server's FQDN, or make sure this IP is static (not handed out by DHCP)",
			"%s is an IP address: if it changes (DHCP), agents stop trusting the server", name)
		if !local(ip) {
			add(SeverityError, "not-this-host", "give an address of the CM server host",
				"%s is not an address of the server host (it has %s)", name, ipList(hostAddrs))
		}
		return c
	}
	isLocalhost := strings.EqualFold(strings.TrimSuffix(name, "."), "localhost")
	if isLocalhost {
		add(SeverityWarning, "localhost", "use the server's FQDN unless every agent runs on the server host",
			"localhost only works for agents on the server host itself")
	} else if !strings.Contains(strings.TrimSuffix(name, "."), ".") {
		add(SeverityWarning, "short-name", "use the fully-qualified name (hostname -f)",
			"%s is a short name; agents in other domains cannot resolve it, and CM's docs ask for the FQDN", name)
	}
	addrs, err := r.LookupHost(ctx, name)
	if err != nil || len(addrs) == 0 {
		reason := "no addresses"
		if err != nil {
			reason = err.Error()
		}
		add(SeverityError, "unresolvable", "add the name to DNS or /etc/hosts on the server and on every agent",
			"%s does not resolve: %s", name, reason)
		return c
	}
	c.Addrs = addrs
	matched, allLoop := false, true
	for _, a := range addrs {
		ip := net.ParseIP(a)
		if ip == nil {
			continue
		}
		if !ip.IsLoopback() {
			allLoop = false
		}
		if local(ip) {
			matched = true
		}
	}
	if !matched {
		add(SeverityError, "not-this-host", "give the name of the CM server host (hostname -f), or fix its DNS record",
			"%s resolves to %s, which is not an address of the server host (it has %s)", name, strings.Join(addrs, ", "), ipList(hostAddrs))
	}
	if allLoop && !isLocalhost {
		add(SeverityWarning, "loopback-only", "map the name to the host's network address in DNS or /etc/hosts",
			"%s resolves only to loopback (%s); agents on other hosts cannot reach the server by it", name, strings.Join(addrs, ", "))
	}
	return c
}

func ipList(ips []net.IP) string {
	if len(ips) == 0 {
		return "none known"
	}
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ", ")
}

// MapResolver is a Resolver over a fixed table, for tests and dry runs.
type MapResolver map[string][]string

// LookupHost implements Resolver.
func (m MapResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if a, ok := m[strings.ToLower(host)]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}
