package cmserver

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// redacted is what CM answers for a sensitive value.
const redacted = "REDACTED"

// apiHost is ApiHost as CM v45 defines it: how a heartbeat arrived is not
// part of it (a real CM does not say), so cmtls proves TLS from the agent
// host instead.
type apiHost struct {
	HostID          string `json:"hostId"`
	Hostname        string `json:"hostname"`
	IPAddress       string `json:"ipAddress"`
	RackID          string `json:"rackId"`
	LastHeartbeat   string `json:"lastHeartbeat,omitempty"`
	HealthSummary   string `json:"healthSummary,omitempty"`
	MaintenanceMode bool   `json:"maintenanceMode"`
	CommissionState string `json:"commissionState"`
	HostURL         string `json:"hostUrl,omitempty"`
}

type apiConfigItem struct {
	Name        string  `json:"name"`
	Value       *string `json:"value,omitempty"`
	DisplayName string  `json:"displayName,omitempty"`
	Default     *string `json:"default,omitempty"`
	Sensitive   *bool   `json:"sensitive,omitempty"`
	Description string  `json:"description,omitempty"`
}

// handleAPI serves /api/... after authentication: /api/version, then
// /api/vN/<path> for every N from 1 up to the profile's version.
func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	if !s.apiAuth(w, r) {
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/api")
	if p == "/version" {
		if r.Method != http.MethodGet {
			writeError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, s.profile.APIVersion())
		return
	}
	parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 2)
	if len(parts) != 2 {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	if _, ok := s.parseAPIVersion(parts[0]); !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Unsupported API version %q; this server offers up to %s", parts[0], s.profile.APIVersion()))
		return
	}
	s.route(w, r, "/"+strings.TrimRight(parts[1], "/"))
}

// route dispatches one API path (after /api/vN).
func (s *Server) route(w http.ResponseWriter, r *http.Request, rest string) {
	get, put, post := r.Method == http.MethodGet, r.Method == http.MethodPut, r.Method == http.MethodPost
	tail := func(prefix string) (string, bool) {
		v, ok := strings.CutPrefix(rest, prefix)
		return v, ok && v != "" && !strings.Contains(v, "/")
	}
	switch {
	case rest == "/cm/version" && get:
		writeJSON(w, http.StatusOK, map[string]any{"version": s.profile.Version, "buildUser": "cmtls", "buildTimestamp": "", "gitHash": "", "snapshot": false})
	case rest == "/hosts" && get:
		s.handleHosts(w, r, "")
	case rest == "/cm/config" && get:
		s.handleGetConfig(w, r)
	case rest == "/cm/config" && put:
		s.handlePutConfig(w, r)
	case rest == "/cm/service" && get:
		s.handleMgmtService(w, r)
	case rest == "/cm/service/config" && (get || put):
		s.handleServiceConfig(w, r)
	case rest == "/cm/service/commands/restart" && post:
		s.handleRestartMgmt(w, r)
	case rest == "/externalUserMappings":
		s.handleMappings(w, r, "")
	case rest == "/authRoles" && get && s.profile.ExternalUserMappings:
		s.handleAuthRoles(w, r)
	case rest == "/users/sessions" && get:
		s.handleSessions(w, r)
	default:
		if id, ok := tail("/hosts/"); ok && get {
			s.handleHosts(w, r, id)
		} else if id, ok := tail("/commands/"); ok && get {
			s.handleCommand(w, r, id)
		} else if id, ok := tail("/externalUserMappings/"); ok {
			s.handleMappings(w, r, id)
		} else if name, ok := tail("/users/"); ok && get {
			s.handleUser(w, r, name)
		} else {
			writeError(w, http.StatusNotFound, fmt.Sprintf("No resource for %s %s", r.Method, r.URL.Path))
		}
	}
}

// handleMgmtService is GET /cm/service: the Cloudera Management Service, or
// 404 on a cluster without one.
func (s *Server) handleMgmtService(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.NoManagementService {
		writeError(w, http.StatusNotFound, "Cloudera Management Service does not exist.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": "mgmt", "type": "MGMT", "displayName": "Cloudera Management Service",
		"serviceState": "STARTED", "healthSummary": "GOOD"})
}

// apiAuth accepts HTTP Basic with the admin credentials, or a SESSION
// cookie a previous API call set, as CM does.
func (s *Server) apiAuth(w http.ResponseWriter, r *http.Request) bool {
	if u, p, ok := r.BasicAuth(); ok {
		if constantTimeEq([]byte(u), []byte(s.cfg.AdminUser)) && constantTimeEq([]byte(p), s.cfg.AdminPassword) {
			if c, err := r.Cookie(sessionCookie); err != nil || !s.validSession(c.Value) {
				s.newSession(w, r, u, "ROLE_ADMIN")
			}
			return true
		}
		s.log.warn("qtp-api:com.cloudera.server.web.cmf.AuthenticationFailureEventListener", fmt.Sprintf("Authentication failure for user: '%s' from %s", sanitizeLog(u), r.RemoteAddr))
		w.Header().Set("WWW-Authenticate", `Basic realm="Cloudera Manager"`)
		writeError(w, http.StatusUnauthorized, "Bad credentials")
		return false
	}
	if c, err := r.Cookie(sessionCookie); err == nil && s.validSession(c.Value) {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="Cloudera Manager"`)
	writeError(w, http.StatusUnauthorized, "Full authentication is required to access this resource")
	return false
}

func sanitizeLog(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func (s *Server) handleHosts(w http.ResponseWriter, r *http.Request, id string) {
	full := strings.EqualFold(r.URL.Query().Get("view"), "full") || id != ""
	now := s.cfg.Now()
	var items []apiHost
	for _, h := range s.Hosts() {
		if id != "" && h.HostID != id {
			continue
		}
		a := apiHost{HostID: h.HostID, Hostname: h.Hostname, IPAddress: h.IPAddress, RackID: "/default",
			CommissionState: "COMMISSIONED", HostURL: s.baseURL(scheme(r)+"://"+r.Host) + "/cmf/hostRedirect/" + h.HostID}
		if full {
			a.LastHeartbeat = fmtTime(h.LastHeartbeat)
			a.HealthSummary = s.rule.Health(now, h.LastHeartbeat)
		}
		items = append(items, a)
	}
	if id != "" {
		if len(items) == 0 {
			writeError(w, http.StatusNotFound, fmt.Sprintf("Host '%s' not found.", id))
			return
		}
		writeJSON(w, http.StatusOK, items[0])
		return
	}
	if items == nil {
		items = []apiHost{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// configItems renders the saved settings. The summary view lists only set
// values; view=full lists every setting with its display name and default.
// Sensitive values are never returned.
func (s *Server) configItems(full bool) []apiConfigItem {
	s.mu.Lock()
	saved := s.saved.Clone()
	s.mu.Unlock()
	var items []apiConfigItem
	for _, d := range catalog {
		if !s.profile.hasSetting(d.Name) {
			continue
		}
		v, set := saved[d.Name]
		if !full && !set {
			continue
		}
		it := apiConfigItem{Name: d.Name}
		if set {
			if d.Sensitive {
				v = redacted
			}
			it.Value = &v
		}
		if full {
			it.DisplayName = d.DisplayName
			sens := d.Sensitive
			it.Sensitive = &sens
			if d.Default != "" {
				def := d.Default
				it.Default = &def
			}
		}
		items = append(items, it)
	}
	if items == nil {
		items = []apiConfigItem{}
	}
	return items
}

func (s *Server) handleGetConfig(w http.ResponseWriter, r *http.Request) {
	full := strings.EqualFold(r.URL.Query().Get("view"), "full")
	writeJSON(w, http.StatusOK, map[string]any{"items": s.configItems(full)})
}

func (s *Server) handlePutConfig(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Items []struct {
			Name  string  `json:"name"`
			Value *string `json:"value"`
		} `json:"items"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	if err := dec.Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid JSON: "+err.Error())
		return
	}
	s.mu.Lock()
	next := s.saved.Clone()
	s.mu.Unlock()
	var changed []string
	for _, it := range body.Items {
		v := ""
		if it.Value != nil {
			v = *it.Value
		}
		if !s.profile.hasSetting(it.Name) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown configuration attribute %q", it.Name))
			return
		}
		if err := next.Set(it.Name, v); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		d, _ := lookupSetting(it.Name)
		shown := v
		if d.Sensitive {
			shown = redacted
		}
		changed = append(changed, d.Name+"="+shown)
	}
	// CM validates SAML at save time too: build the SP once.
	if strings.EqualFold(next.Get(ExternalAuthType), "SAML") && s.cfg.SAML != nil {
		if _, err := s.cfg.SAML(s.samlSettings(next), s.baseURL(""), slog.New(slog.DiscardHandler)); err != nil {
			writeError(w, http.StatusBadRequest, "SAML configuration is invalid: "+err.Error())
			return
		}
	}
	if s.cfg.SettingsPath != "" {
		if err := SaveSettings(s.cfg.SettingsPath, next); err != nil {
			writeError(w, http.StatusInternalServerError, "could not save configuration: "+err.Error())
			return
		}
	}
	s.mu.Lock()
	s.saved = next
	s.mu.Unlock()
	s.log.info("qtp-api:com.cloudera.server.cmf.ConfigUpdate", "Updated config: "+sanitizeLog(strings.Join(changed, ", ")))
	if s.profile.ConfigPutStatus == http.StatusNoContent {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, s.profile.ConfigPutStatus, map[string]any{"items": s.configItems(false)})
}

// sessions

func (s *Server) newSession(w http.ResponseWriter, r *http.Request, user, role string) {
	tok := newID() + newID()
	now := s.cfg.Now()
	s.mu.Lock()
	if len(s.sessions) >= maxSessions {
		for k, v := range s.sessions {
			if now.After(v.expires) || len(s.sessions) >= maxSessions {
				delete(s.sessions, k)
			}
		}
	}
	s.sessions[tok] = session{user: user, role: role, expires: now.Add(sessionTimeout)}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: tok, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
}

func (s *Server) sessionUser(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.sessions[c.Value]
	if !ok || s.cfg.Now().After(se.expires) {
		return session{}, false
	}
	return se, true
}

func (s *Server) validSession(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.sessions[tok]
	return ok && !s.cfg.Now().After(se.expires)
}

func (s *Server) dropSession(r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.mu.Lock()
		delete(s.sessions, c.Value)
		s.mu.Unlock()
	}
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}
