package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cmtls/cmtls/daemon/cmserver"
	"github.com/cmtls/cmtls/pki"
)

// Version is what the agent reports.
const Version = "7.11.3-cmtls"

// DefaultInterval is CM's "Send Agent Heartbeat Every" default.
const DefaultInterval = 15 * time.Second

// Options are what New needs besides config.ini.
type Options struct {
	Config Config
	// Interval between heartbeats; 0 follows the server's answer, then
	// DefaultInterval.
	Interval time.Duration
	// Log receives the agent's log lines (cloudera-scm-agent.log).
	Log io.Writer
	// LibDir holds uuid and cm_guid; "" keeps them in memory.
	LibDir string
	// IPAddress reported; "" lets the server take the peer address.
	IPAddress string
	Now       func() time.Time
	PID       int
	// Timeout bounds one heartbeat (default 30 s).
	Timeout time.Duration
}

// Agent heartbeats to one server.
type Agent struct {
	opts     Options
	cfg      Config
	client   *http.Client
	url      string
	hostID   string
	roots    *x509.CertPool // from verify_cert_file, loaded once
	rootsErr error

	logMu     sync.Mutex
	mu        sync.Mutex
	interval  time.Duration
	guid      string // the CM GUID last seen (lib_dir/cm_guid)
	ok, fails int
	lastErr   error
}

// New prepares an agent: it reads or creates lib_dir/uuid and builds the
// HTTP(S) client the config asks for.
func New(opts Options) (*Agent, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.PID == 0 {
		opts.PID = os.Getpid()
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	a := &Agent{opts: opts, cfg: opts.Config, interval: opts.Interval}
	if a.interval == 0 {
		a.interval = DefaultInterval
	}
	id, err := a.loadOrCreate("uuid", newUUID)
	if err != nil {
		return nil, err
	}
	a.hostID = id
	a.guid, _ = a.loadOrCreate("cm_guid", nil)
	scheme := "http"
	tr := &http.Transport{
		// The real agent opens a new connection per heartbeat (M2Crypto
		// HTTPSConnection); TLS sessions are resumed from the cache.
		DisableKeepAlives:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	}
	if a.cfg.UseTLS {
		scheme = "https"
		tr.TLSClientConfig = a.tlsConfig()
	}
	a.client = &http.Client{Transport: tr, Timeout: opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	a.url = scheme + "://" + net.JoinHostPort(a.cfg.ServerHost, strconv.Itoa(a.cfg.ServerPort)) + cmserver.HeartbeatPath
	if a.cfg.VerifyCertFile != "" {
		// "The file is loaded once, the first time an HTTPS connection is
		// attempted" (config.ini); loading at start is the same for us.
		a.roots, a.rootsErr = loadPEMFile(a.cfg.VerifyCertFile)
	}
	return a, nil
}

// HostID is the agent's lib_dir/uuid.
func (a *Agent) HostID() string { return a.hostID }

func (a *Agent) loadOrCreate(name string, gen func() string) (string, error) {
	if a.opts.LibDir == "" {
		if gen != nil {
			return gen(), nil
		}
		return "", nil
	}
	p := filepath.Join(a.opts.LibDir, name)
	if b, err := os.ReadFile(p); err == nil && len(bytes.TrimSpace(b)) > 0 {
		return string(bytes.TrimSpace(b)), nil
	}
	if gen == nil {
		return "", nil
	}
	v := gen()
	if err := os.MkdirAll(a.opts.LibDir, 0o755); err != nil {
		return "", fmt.Errorf("lib_dir: %w", err)
	}
	if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("lib_dir: %w", err)
	}
	return v, nil
}

// verifyError is a chain failure: the agent's "certificate verify failed".
type verifyError struct{ err error }

func (e *verifyError) Error() string { return "certificate verify failed: " + e.err.Error() }
func (e *verifyError) Unwrap() error { return e.err }

func (a *Agent) tlsConfig() *tls.Config {
	cfg := &tls.Config{
		// Go's own check is replaced by the agent's (below): hostname
		// against server_host as written, SAN then CN, and no check at all
		// without a CA file or directory.
		InsecureSkipVerify: true, //nolint:gosec // the agent's own check runs in VerifyConnection
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
	}
	if net.ParseIP(a.cfg.ServerHost) == nil {
		cfg.ServerName = a.cfg.ServerHost
	}
	if !a.cfg.Verifies() {
		return cfg
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return &verifyError{errors.New("no peer certificate")}
		}
		roots, err := a.rootPool()
		if err != nil {
			return &verifyError{err}
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		chains, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
			Roots: roots, Intermediates: inter, CurrentTime: a.opts.Now(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err != nil {
			return &verifyError{err}
		}
		// OpenSSL's verify depth counts the certificates above the leaf.
		shortest := len(chains[0])
		for _, ch := range chains[1:] {
			shortest = min(shortest, len(ch))
		}
		if shortest-1 > a.cfg.MaxCertDepth {
			return &verifyError{fmt.Errorf("certificate chain too long (depth %d > max_cert_depth %d)", shortest-1, a.cfg.MaxCertDepth)}
		}
		return pki.MatchHostname(cs.PeerCertificates[0], a.cfg.ServerHost)
	}
	return cfg
}

// rootPool is verify_cert_file (loaded once) plus, looked up each time as
// OpenSSL's capath is, every certificate in verify_cert_dir.
func (a *Agent) rootPool() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	if a.cfg.VerifyCertFile != "" {
		if a.rootsErr != nil {
			return nil, a.rootsErr
		}
		pool = a.roots.Clone()
		n++
	}
	if d := a.cfg.VerifyCertDir; d != "" {
		entries, err := os.ReadDir(d)
		if err != nil && n == 0 {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			if b, err := os.ReadFile(filepath.Join(d, e.Name())); err == nil && pool.AppendCertsFromPEM(b) {
				n++
			}
		}
	}
	return pool, nil
}

func loadPEMFile(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := pki.ParseCertificates(b)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// Result is the outcome of one heartbeat.
type Result struct {
	OK       bool
	Reason   string // the agent's exception line on failure
	Err      error
	Response cmserver.HeartbeatResponse
}

// Heartbeat sends one heartbeat and logs a failure the way the agent does.
func (a *Agent) Heartbeat(ctx context.Context) Result {
	hb := cmserver.Heartbeat{
		HostID: a.hostID, Hostname: a.cfg.Hostname(), IPAddress: a.opts.IPAddress,
		AgentVersion: Version,
		TLS:          cmserver.TLSState{Enabled: a.cfg.UseTLS, Verified: a.cfg.UseTLS && a.cfg.Verifies()},
	}
	a.mu.Lock()
	hb.CMGUID = a.guid
	a.mu.Unlock()
	body, _ := json.Marshal(hb)
	res := a.send(ctx, body)
	if res.OK {
		a.mu.Lock()
		first := a.ok == 0
		if a.guid != "" && a.guid != res.Response.ServerGUID {
			res.OK = false
			res.Reason = ""
			res.Err = fmt.Errorf("cm server guid updated, expected %s, received %s", a.guid, res.Response.ServerGUID)
			a.fails++
			a.lastErr = res.Err
			a.mu.Unlock()
			a.logf("ERROR", "Error, CM server guid updated, expected %s, received %s", a.guid, res.Response.ServerGUID)
			return res
		}
		if a.guid == "" {
			a.guid = res.Response.ServerGUID
			_ = a.saveLib("cm_guid", a.guid)
		}
		if a.opts.Interval == 0 && res.Response.IntervalSeconds > 0 {
			a.interval = time.Duration(res.Response.IntervalSeconds) * time.Second
		}
		recovered := a.fails > 0
		a.ok++
		a.fails = 0
		a.lastErr = nil
		a.mu.Unlock()
		if first {
			a.logf("INFO", "CM server guid: %s", res.Response.ServerGUID)
		}
		if first || recovered {
			a.logf("INFO", "Heartbeating to %s:%d succeeded.", a.cfg.ServerHost, a.cfg.ServerPort)
		}
		return res
	}
	a.mu.Lock()
	a.fails++
	a.lastErr = res.Err
	a.mu.Unlock()
	a.logf("ERROR", "Heartbeating to %s:%d failed.", a.cfg.ServerHost, a.cfg.ServerPort)
	a.raw("Traceback (most recent call last):\n" +
		"  File \"/opt/cloudera/cm-agent/lib/python2.7/site-packages/cmf/agent.py\", line 1565, in _send_heartbeat\n" +
		"    response = self.requestor.request('heartbeat', {'request': heartbeat})\n" +
		"  File \"/opt/cloudera/cm-agent/lib/python2.7/site-packages/cmf/https.py\", line 175, in __init__\n" +
		"    self.conn.connect()\n" + res.Reason)
	return res
}

func (a *Agent) saveLib(name, v string) error {
	if a.opts.LibDir == "" {
		return nil
	}
	return os.WriteFile(filepath.Join(a.opts.LibDir, name), []byte(v+"\n"), 0o644)
}

func (a *Agent) send(ctx context.Context, body []byte) Result {
	ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, bytes.NewReader(body))
	if err != nil {
		return Result{Err: err, Reason: "error: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return Result{Err: err, Reason: Reason(err)}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusBadRequest && bytes.Contains(b, []byte("HTTP request to an HTTPS server")) {
		// A plain agent at a TLS port: the server drops the connection
		// (Go answers a 400 first); the real agent's Avro reader sees nothing.
		err := errors.New("server speaks TLS on this port")
		return Result{Err: err, Reason: "ConnectionClosedException: Reader read 0 bytes."}
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("server answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
		return Result{Err: err, Reason: "AvroRemoteException: " + err.Error()}
	}
	var r cmserver.HeartbeatResponse
	if err := json.Unmarshal(b, &r); err != nil || r.ServerGUID == "" {
		err := fmt.Errorf("bad heartbeat response: %q", truncate(string(b), 80))
		return Result{Err: err, Reason: "AvroTypeException: " + err.Error()}
	}
	return Result{OK: true, Response: r}
}

// Reason renders a connection error as the last line of the real agent's
// traceback.
func Reason(err error) string {
	var hm *pki.HostMismatchError
	var ve *verifyError
	var rhe tls.RecordHeaderError
	var cve *tls.CertificateVerificationError
	switch {
	case errors.As(err, &hm):
		return "WrongHost: " + hm.Error()
	case errors.As(err, &ve), errors.As(err, &cve):
		return "SSLError: certificate verify failed"
	case errors.As(err, &rhe), strings.Contains(err.Error(), "first record does not look like a TLS handshake"),
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "SSLError: unknown protocol"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "error: [Errno 111] Connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "error: [Errno 104] Connection reset by peer"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "ConnectionClosedException: Reader read 0 bytes."
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "timeout: timed out"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "gaierror: [Errno -2] Name or service not known"
	}
	if strings.Contains(err.Error(), "remote error: tls:") {
		return "SSLError: " + err.Error()[strings.Index(err.Error(), "remote error: tls:"):]
	}
	return "error: " + err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Run heartbeats until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	a.logf("INFO", "SCM Agent Version: %s", Version)
	a.logf("INFO", "Agent Logging Level: INFO")
	if a.cfg.UseTLS {
		a.logf("INFO", "Using TLS for heartbeats to %s:%d (verify: %v)", a.cfg.ServerHost, a.cfg.ServerPort, a.cfg.Verifies())
	}
	for {
		a.Heartbeat(ctx)
		a.mu.Lock()
		d := a.interval
		a.mu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			a.logf("INFO", "Stopping agent.")
			return nil
		case <-t.C:
		}
	}
}

// Stats reports successes since start, consecutive failures and the last error.
func (a *Agent) Stats() (ok, fails int, last error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ok, a.fails, a.lastErr
}

// logf writes "[23/Nov/2026 18:40:01 +0000] 1234 MainThread agent        ERROR    msg",
// the layout of cloudera-scm-agent.log.
func (a *Agent) logf(level, format string, args ...any) {
	t := a.opts.Now().UTC()
	a.raw(fmt.Sprintf("[%s] %d MainThread agent        %-8s %s", t.Format("02/Jan/2006 15:04:05 +0000"), a.opts.PID, level, fmt.Sprintf(format, args...)))
}

func (a *Agent) raw(s string) {
	a.logMu.Lock()
	defer a.logMu.Unlock()
	_, _ = io.WriteString(a.opts.Log, s+"\n")
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
