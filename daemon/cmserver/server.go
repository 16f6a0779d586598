package cmserver

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	defaultAlias   = "jetty"
	sessionCookie  = "SESSION"
	sessionTimeout = 30 * time.Minute
	maxSessions    = 10000
)

// SAMLFactory builds the SAML service provider from the settings. baseURL
// is the console's external URL (e.g. https://localhost:7183). The handler
// is mounted under /saml/. When it also has the method
//
//	SessionUser(r *http.Request) (user, role string, ok bool)
//
// the console home accepts its sessions; otherwise home sends the browser
// to /saml/login.
type SAMLFactory func(s Settings, baseURL string, logger *slog.Logger) (http.Handler, error)

type samlSessioner interface {
	SessionUser(r *http.Request) (user, role string, ok bool)
}

// HostRecord is what the server keeps about a host (and persists).
type HostRecord struct {
	HostID        string    `json:"hostId"`
	Hostname      string    `json:"hostname"`
	IPAddress     string    `json:"ipAddress"`
	AgentVersion  string    `json:"agentVersion,omitempty"`
	LastHeartbeat time.Time `json:"lastHeartbeat"`
	TLS           TLSState  `json:"tls"`
}

// Config is what New needs. Zero values are usable defaults except the
// admin credentials.
type Config struct {
	// Host is the name agents and browsers use for this server (redirects,
	// SAML base URL). Default "localhost".
	Host string
	// BaseURL is the console's external URL (https://host:7183 with
	// WEB_TLS, else http://host:7180); the SAML SP's default base URL.
	BaseURL       string
	AdminUser     string
	AdminPassword []byte
	// Settings are the settings in effect; SettingsPath is where PUTs are
	// saved ("" keeps them in memory).
	Settings     Settings
	SettingsPath string
	// GUID is the server's identity echoed to agents.
	GUID string
	// Hosts restores hosts known before a restart.
	Hosts []HostRecord
	// Log receives CM-style log lines (cloudera-scm-server.log).
	Log io.Writer
	Now func() time.Time
	// SAML builds the SP when External Authentication Type is SAML.
	SAML SAMLFactory
	// OnHostAdded is called (outside locks) when a new host first heartbeats.
	OnHostAdded func()
	// Profile is the CM release imitated (zero: LegacyVersion's).
	Profile Profile
	// CommandDuration is how long a command stays active (zero:
	// DefaultCommandDuration).
	CommandDuration time.Duration
	// Mappings are the external user mappings known at start; MappingsPath
	// is where changes are saved ("" keeps them in memory).
	Mappings     []ExternalUserMapping
	MappingsPath string
	// NoManagementService imitates a cluster without the Cloudera
	// Management Service: its API answers 404.
	NoManagementService bool
	// ServiceConfig are the Management Service settings at start;
	// ServiceConfigPath is where changes are saved.
	ServiceConfig     map[string]string
	ServiceConfigPath string
	// Middleware, when set, wraps the console and API handlers.
	Middleware func(http.Handler) http.Handler
}

// Listeners are the server's sockets. HTTPS is required when WEB_TLS is on
// and must be nil otherwise.
type Listeners struct {
	HTTP, HTTPS, Agent net.Listener
}

// Server is one embedded CM server.
type Server struct {
	cfg      Config
	log      *cmLog
	settings Settings // in effect since start
	profile  Profile
	rule     HealthRule
	cert     *tls.Certificate
	samlOK   bool                         // SAML on and the SP built
	saml     atomic.Pointer[http.Handler] // rebuilt when mappings change

	mu           sync.Mutex
	saved        Settings // latest saved (PUT), effective after restart
	hosts        map[string]*HostRecord
	sessions     map[string]session
	cmdID        int64
	commands     map[int64]*command
	restarts     int
	mappings     []ExternalUserMapping
	users        map[string]*user
	userSessions map[string]*userSession
	mgmtConfig   map[string]string

	mappingsMu sync.Mutex // serialises mapping changes

	srvMu    sync.Mutex
	servers  []*http.Server
	shutdown bool
	https    string // host:port of the HTTPS console once serving
}

type session struct {
	user, role string
	expires    time.Time
}

// New checks the settings (refusing a bad keystore when TLS is on, the way
// CM refuses to start) and returns a server ready to Serve.
func New(cfg Config) (*Server, error) {
	if cfg.Host == "" {
		cfg.Host = "localhost"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.AdminUser == "" || len(cfg.AdminPassword) == 0 {
		return nil, errors.New("cm server: admin user and password are required")
	}
	if cfg.GUID == "" {
		cfg.GUID = newID()
	}
	if cfg.Profile.Version == "" {
		cfg.Profile, _ = LookupProfile(LegacyVersion)
	}
	if cfg.CommandDuration <= 0 {
		cfg.CommandDuration = DefaultCommandDuration
	}
	s := &Server{
		profile:    cfg.Profile,
		mappings:   append([]ExternalUserMapping(nil), cfg.Mappings...),
		mgmtConfig: map[string]string{},
		cfg:        cfg,
		log:        &cmLog{w: cfg.Log, now: cfg.Now},
		settings:   cfg.Settings.Clone(),
		saved:      cfg.Settings.Clone(),
		hosts:      map[string]*HostRecord{},
		sessions:   map[string]session{},
	}
	s.rule = ruleFrom(s.settings)
	for k, v := range cfg.ServiceConfig {
		s.mgmtConfig[k] = v
	}
	for _, h := range cfg.Hosts {
		h := h
		s.hosts[h.HostID] = &h
	}
	s.log.info("main:com.cloudera.server.cmf.Main", fmt.Sprintf("Starting SCM Server %s (API %s). JVM Args: [-Dcmtls=embedded]", s.profile.Version, s.profile.APIVersion()))
	if s.settings.Bool(AgentTLS) || s.settings.Bool(WebTLS) {
		alias := s.settings.Get(KeystoreAlias)
		if alias == "" {
			alias = defaultAlias
		}
		cert, err := loadKeystoreCert(s.settings.Get(KeystorePath), []byte(s.settings.Get(KeystorePassword)), alias)
		if err != nil {
			var ke *KeystoreError
			if errors.As(err, &ke) {
				s.log.error("main:com.cloudera.server.cmf.Main", "Server failed.")
				s.log.raw("org.apache.avro.AvroRuntimeException: " + ke.Java)
				s.log.raw("\tat com.cloudera.server.cmf.HttpConnectorServer.start(HttpConnectorServer.java)")
				s.log.raw("\tat com.cloudera.server.cmf.Main.startAgentServer(Main.java)")
				s.log.raw("Caused by: " + ke.Java)
			}
			return nil, err
		}
		s.cert = &cert
	}
	if s.samlOn() {
		if cfg.SAML == nil {
			s.log.warn("main:com.cloudera.server.cmf.Main", "External Authentication Type is SAML but this server has no SAML support; using local login")
		} else {
			h, err := cfg.SAML(s.samlSettings(s.settings), s.baseURL(""), slog.New(slog.NewTextHandler(cfg.Log, nil)))
			if err != nil {
				s.log.error("main:com.cloudera.server.cmf.Main", "Server failed.")
				s.log.raw("org.springframework.beans.factory.BeanCreationException: SAML configuration: " + err.Error())
				return nil, fmt.Errorf("saml configuration: %w", err)
			}
			s.saml.Store(&h)
			s.samlOK = true
		}
	}
	return s, nil
}

// samlHandler is the SAML service provider in effect, nil without SAML.
func (s *Server) samlHandler() http.Handler {
	if p := s.saml.Load(); p != nil {
		return *p
	}
	return nil
}

// rebuildSAML builds the service provider again from the settings in
// effect and the current mappings; on failure the old one stays.
func (s *Server) rebuildSAML() {
	if !s.samlOK || s.cfg.SAML == nil {
		return
	}
	h, err := s.cfg.SAML(s.samlSettings(s.settings), s.baseURL(""), slog.New(slog.NewTextHandler(s.cfg.Log, nil)))
	if err != nil {
		s.log.error("qtp-api:com.cloudera.server.cmf.UserMappings", "SAML service provider not rebuilt: "+err.Error())
		return
	}
	s.saml.Store(&h)
}

// Profile is the CM release the server imitates.
func (s *Server) Profile() Profile { return s.profile }

// NeedsHTTPS reports whether Serve needs Listeners.HTTPS (WEB_TLS on).
func (s *Server) NeedsHTTPS() bool { return s.settings.Bool(WebTLS) }

// AgentTLS reports whether the agent port speaks TLS.
func (s *Server) AgentTLS() bool { return s.settings.Bool(AgentTLS) }

// GUID is the server's identity.
func (s *Server) GUID() string { return s.cfg.GUID }

func (s *Server) samlOn() bool {
	return strings.EqualFold(s.settings.Get(ExternalAuthType), "SAML")
}

func (s *Server) tlsConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{*s.cert},
		MinVersion:   tls.VersionTLS12,
	}
}

// Serve serves the listeners until Shutdown. It returns nil after Shutdown
// and the first serving error otherwise.
func (s *Server) Serve(l Listeners) error {
	if l.HTTP == nil || l.Agent == nil {
		return errors.New("cm server: http and agent listeners are required")
	}
	if s.NeedsHTTPS() != (l.HTTPS != nil) {
		return fmt.Errorf("cm server: WEB_TLS is %v but the https listener is %v", s.NeedsHTTPS(), l.HTTPS != nil)
	}
	type job struct {
		srv *http.Server
		ln  net.Listener
		tls bool
	}
	var jobs []job
	newSrv := func(h http.Handler) *http.Server {
		return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			ErrorLog: log.New(&logLines{l: s.log, logger: "qtp-http:org.eclipse.jetty.server.HttpChannel"}, "", 0)}
	}
	agent := newSrv(s.agentHandler())
	jobs = append(jobs, job{agent, l.Agent, s.AgentTLS()})
	if l.HTTPS != nil {
		s.srvMu.Lock()
		s.https = l.HTTPS.Addr().String()
		s.srvMu.Unlock()
		jobs = append(jobs, job{newSrv(s.consoleHandler(true)), l.HTTPS, true})
		jobs = append(jobs, job{newSrv(s.redirectHandler()), l.HTTP, false})
	} else {
		jobs = append(jobs, job{newSrv(s.consoleHandler(false)), l.HTTP, false})
	}
	s.srvMu.Lock()
	if s.shutdown {
		// Shutdown came first: serve nothing.
		s.srvMu.Unlock()
		for _, j := range jobs {
			j.ln.Close()
		}
		return nil
	}
	for _, j := range jobs {
		s.servers = append(s.servers, j.srv)
	}
	s.srvMu.Unlock()
	mode := "plain"
	if s.AgentTLS() {
		mode = "TLS"
	}
	s.log.info("main:com.cloudera.server.cmf.HttpConnectorServer", fmt.Sprintf("Agent server listening on %s (%s)", l.Agent.Addr(), mode))
	s.log.info("WebServerImpl:com.cloudera.server.cmf.WebServerImpl", fmt.Sprintf("Admin Console listening on %s", l.HTTP.Addr()))
	if l.HTTPS != nil {
		s.log.info("WebServerImpl:com.cloudera.server.cmf.WebServerImpl", fmt.Sprintf("Admin Console TLS listening on %s", l.HTTPS.Addr()))
	}
	s.log.info("main:com.cloudera.server.cmf.Main", "Started SCM Server.")
	errc := make(chan error, len(jobs))
	for _, j := range jobs {
		go func(j job) {
			ln := j.ln
			if j.tls {
				ln = tls.NewListener(ln, s.tlsConfig())
			}
			err := j.srv.Serve(ln)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}(j)
	}
	var first error
	for range jobs {
		if err := <-errc; err != nil && first == nil {
			first = err
			go s.Shutdown(context.Background())
		}
	}
	return first
}

// Shutdown stops serving; in-flight requests get until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.srvMu.Lock()
	s.shutdown = true
	servers := s.servers
	s.srvMu.Unlock()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Hosts returns the known hosts, sorted by name.
func (s *Server) Hosts() []HostRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]HostRecord, 0, len(s.hosts))
	for _, h := range s.hosts {
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Hostname != out[j].Hostname {
			return out[i].Hostname < out[j].Hostname
		}
		return out[i].HostID < out[j].HostID
	})
	return out
}

// Restarts counts management service restarts (for tests and status).
func (s *Server) Restarts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

// baseURL is the console's external URL: https when WEB_TLS is on.
func (s *Server) baseURL(fallbackHTTP string) string {
	if v := s.settings.Get(SAMLEntityBaseURL); v != "" {
		return strings.TrimRight(v, "/")
	}
	if s.cfg.BaseURL != "" {
		return strings.TrimRight(s.cfg.BaseURL, "/")
	}
	s.srvMu.Lock()
	httpsAddr := s.https
	s.srvMu.Unlock()
	if httpsAddr != "" {
		_, port, _ := net.SplitHostPort(httpsAddr)
		return "https://" + net.JoinHostPort(s.cfg.Host, port)
	}
	if fallbackHTTP != "" {
		return fallbackHTTP
	}
	return "http://" + s.cfg.Host
}

// --- agent port ---

func (s *Server) agentHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+HeartbeatPath, s.handleHeartbeat)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "heartbeats are POSTed to "+HeartbeatPath)
	})
	return mux
}

func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxHeartbeatBody+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "read heartbeat: "+err.Error())
		return
	}
	hb, err := ParseHeartbeat(b)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if hb.IPAddress == "" {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			hb.IPAddress = host
		}
	}
	now := s.cfg.Now().UTC()
	tlsState := TLSState{Enabled: r.TLS != nil, Verified: r.TLS != nil && hb.TLS.Verified}
	s.mu.Lock()
	h, known := s.hosts[hb.HostID]
	if !known {
		h = &HostRecord{HostID: hb.HostID}
		s.hosts[hb.HostID] = h
	}
	h.Hostname, h.IPAddress, h.AgentVersion = hb.Hostname, hb.IPAddress, hb.AgentVersion
	h.LastHeartbeat, h.TLS = now, tlsState
	s.mu.Unlock()
	if !known {
		s.log.info("agentServer-0:com.cloudera.server.cmf.AgentProtocolImpl", fmt.Sprintf("New host: %s (%s, %s)", hb.Hostname, hb.HostID, hb.IPAddress))
		if s.cfg.OnHostAdded != nil {
			s.cfg.OnHostAdded()
		}
	}
	writeJSON(w, http.StatusOK, HeartbeatResponse{ServerGUID: s.cfg.GUID, IntervalSeconds: int(s.rule.Interval / time.Second)})
}

// --- helpers ---

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := jsonEncoder(w)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

func newID() string {
	var b [16]byte
	// crypto/rand.Read never returns an error (Go 1.24+).
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func constantTimeEq(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}

func (s *Server) parseAPIVersion(v string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(v, "v"))
	if err != nil || !strings.HasPrefix(v, "v") || n < 1 || n > s.profile.API {
		return 0, false
	}
	return n, true
}
