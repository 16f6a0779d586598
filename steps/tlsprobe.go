package steps

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/cmtls/cmtls/remote"
)

// TLSProbe is what an agent host found when it opened a TLS connection to
// server_host:server_port trusting only the pushed PEM and checking the
// certificate's name against server_host as config.ini writes it: the
// check the agent itself makes (Cloudera "Configuring TLS Encryption for
// Cloudera Manager Agents", verify_cert_file), made from the same host,
// because a real CM does not say how a heartbeat arrived.
type TLSProbe struct {
	Verified bool
	// Tool is what checked: the agent's Python ssl module or openssl.
	Tool string
	// Reason is the line that says why not (certificate verify failed,
	// host name mismatch, connection refused), or the success line.
	Reason string
}

// probeTimeout bounds one probe on the host.
const probeTimeout = 20 * time.Second

// pythonProbe connects the way the agent does: ssl.create_default_context
// with the PEM as its only trust, CERT_REQUIRED and check_hostname (Python
// docs, "ssl - TLS/SSL wrapper for socket objects", Security
// considerations). It prints one line and exits 0 only when verified.
//
// It runs with -E -s -S (no environment, user site or site module: the
// same flags Python 2.7 and 3 know) so that one probe costs one short
// interpreter start, and exits 42 when this Python has no usable ssl,
// for the script to try the next one.
const pythonProbe = `import sys
try:
    import socket, ssl
    ssl.create_default_context
except Exception:
    sys.exit(42)
host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
print("tool: " + sys.argv[4] + " ssl")
try:
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    sock = socket.create_connection((host, port), timeout=10)
    try:
        tls = ctx.wrap_socket(sock, server_hostname=host)
        print("verified: " + str(tls.version()))
        tls.close()
    finally:
        sock.close()
except Exception as e:
    print("not verified: " + type(e).__name__ + ": " + " ".join(str(e).split()))
    sys.exit(1)
`

// agentPythons are the Python the CM agent ships with (CM 7 installs it
// under /opt/cloudera/cm-agent): its ssl module is what the agent itself
// verifies with. Without it, openssl s_client (the same OpenSSL library
// the agent's Python links against, and one short process), then the
// system's Python.
var (
	agentPythons  = []string{"/opt/cloudera/cm-agent/bin/python3", "/opt/cloudera/cm-agent/bin/python"}
	systemPythons = []string{"python3", "python"}
)

// exit statuses of the probe script that are not the TLS answer.
const (
	probeNoTool = 127
)

// ProbeAgentTLS checks from host h that serverHost:serverPort verifies with
// the PEM at caFile (a path on h) and serverHost as written: with the
// agent's own Python ssl where present, else `openssl s_client
// -verify_return_error -verify_hostname`. An error means the check could
// not run (no tool, the host unreachable); a TLSProbe with Verified false
// carries the reason line.
func ProbeAgentTLS(ctx context.Context, h remote.Host, serverHost string, serverPort int, caFile string) (TLSProbe, error) {
	if serverHost == "" || serverPort <= 0 || serverPort > 65535 || caFile == "" {
		return TLSProbe{}, fmt.Errorf("tls probe on %s: server host, port and CA file are required", h.Name())
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	res, err := h.Run(ctx, probeScript(serverHost, serverPort, caFile), nil)
	if err != nil {
		return TLSProbe{}, fmt.Errorf("tls probe on %s: %w", h.Name(), err)
	}
	p, err := parseProbe(h.Name(), res)
	if err == nil && p.Reason == "cannot read the CA file" {
		p.Reason += " " + caFile
	}
	return p, err
}

// probeScript is the shell text run on the host: the first Python found,
// else openssl; its first output line says which ran.
func probeScript(host string, port int, caFile string) string {
	q, p, ca := remote.Quote(host), strconv.Itoa(port), remote.Quote(caFile)
	var b strings.Builder
	pythons := func(list []string) {
		fmt.Fprintf(&b, "for py in %s; do\n", strings.Join(list, " "))
		b.WriteString("  if command -v \"$py\" >/dev/null 2>&1; then\n")
		fmt.Fprintf(&b, "    \"$py\" -E -s -S -c %s %s %s %s \"$py\"; rc=$?\n", remote.Quote(pythonProbe), q, p, ca)
		b.WriteString("    [ $rc -eq 42 ] || exit $rc\n")
		b.WriteString("  fi\ndone\n")
	}
	// an IP in server_host is checked against the certificate's IP SANs,
	// a name against its DNS names (OpenSSL's -verify_ip / -verify_hostname)
	name := "-servername " + q + " -verify_hostname " + q
	if net.ParseIP(host) != nil {
		name = "-verify_ip " + q
	}
	fmt.Fprintf(&b, "if [ ! -r %s ]; then echo 'tool: none'; echo 'not verified: cannot read the CA file'; exit 1; fi\n", ca)
	pythons(agentPythons)
	b.WriteString("if command -v openssl >/dev/null 2>&1; then\n")
	b.WriteString("  echo 'tool: openssl s_client'\n")
	fmt.Fprintf(&b, "  out=$(openssl s_client -connect %s %s -verify_return_error -CAfile %s </dev/null 2>&1); rc=$?\n",
		remote.Quote(joinHostPort(host, p)), name, ca)
	b.WriteString("  if [ $rc -eq 0 ] && printf '%s\\n' \"$out\" | grep -q 'Verify return code: 0 (ok)'; then echo 'verified: openssl'; exit 0; fi\n")
	b.WriteString("  reason=$(printf '%s\\n' \"$out\" | grep -E 'verify error|Verify return code|error|errno|refused' | head -n 1)\n")
	b.WriteString("  echo \"not verified: ${reason:-openssl exit $rc}\"; exit 1\n")
	b.WriteString("fi\n")
	pythons(systemPythons)
	fmt.Fprintf(&b, "echo 'tool: none'; exit %d\n", probeNoTool)
	return b.String()
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// parseProbe reads the probe's output: "tool: X", then "verified: ..." or
// "not verified: reason".
func parseProbe(name string, res *remote.Result) (TLSProbe, error) {
	var p TLSProbe
	var ok, notOK string
	for _, ln := range strings.Split(string(res.Stdout), "\n") {
		ln = strings.TrimSpace(ln)
		switch {
		case strings.HasPrefix(ln, "tool: ") && p.Tool == "":
			p.Tool = strings.TrimPrefix(ln, "tool: ")
		case strings.HasPrefix(ln, "verified: ") && ok == "":
			ok = ln
		case strings.HasPrefix(ln, "not verified: ") && notOK == "":
			notOK = strings.TrimPrefix(ln, "not verified: ")
		}
	}
	switch {
	case res.Code == probeNoTool && p.Tool == "none":
		return p, fmt.Errorf("tls probe on %s: neither Python with ssl nor openssl found", name)
	case ok != "" && notOK == "" && res.Code == 0:
		p.Verified, p.Reason = true, ok
		return p, nil
	case notOK != "" && ok == "" && res.Code != 0:
		p.Reason = notOK
		return p, nil
	}
	return TLSProbe{}, fmt.Errorf("tls probe on %s: unexpected answer (exit %d): %s", name, res.Code, truncateLine(string(res.Stdout)+string(res.Stderr), 200))
}

func truncateLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// probeTLS runs e.ProbeTLS (or ProbeAgentTLS over a's connection) for an
// agent whose config.ini asks for verified TLS.
func (e *Env) probeTLS(ctx context.Context, a *Agent, ini *AgentINI) (TLSProbe, error) {
	if e.ProbeTLS != nil {
		return e.ProbeTLS(ctx, a, ini)
	}
	if a.Host == nil {
		return TLSProbe{}, fmt.Errorf("tls probe on %s: no connection", a.Name)
	}
	// parseAgentINI fills the agent's default port (7182) when unset
	port, err := strconv.Atoi(ini.ServerPort)
	if err != nil {
		return TLSProbe{}, fmt.Errorf("tls probe on %s: server_port %q is not a port", a.Name, ini.ServerPort)
	}
	return ProbeAgentTLS(ctx, a.Host, ini.ServerHost, port, ini.VerifyCertFile)
}
