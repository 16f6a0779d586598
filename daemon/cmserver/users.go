package cmserver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// authRole is one of CM's built-in roles (Cloudera Manager Security,
// "Cloudera Manager User Roles"); ROLE_USER is the Read-Only role.
type authRole struct{ name, display string }

var builtinRoles = []authRole{
	{"ROLE_ADMIN", "Full Administrator"},
	{"ROLE_AUDITOR", "Auditor"},
	{"ROLE_BDR_ADMIN", "Replication Administrator"},
	{"ROLE_CLUSTER_ADMIN", "Cluster Administrator"},
	{"ROLE_CONFIGURATOR", "Configurator"},
	{"ROLE_DASHBOARD_USER", "Dashboard User"},
	{"ROLE_KEY_ADMIN", "Key Administrator"},
	{"ROLE_LIMITED", "Limited Operator"},
	{"ROLE_NAVIGATOR_ADMIN", "Navigator Administrator"},
	{"ROLE_OPERATOR", "Operator"},
	{"ROLE_USER", "Read-Only"},
	{"ROLE_USER_ADMIN", "User Administrator"},
}

// roleUUID is a stable UUID for a built-in role (the same on every start,
// as CM's are in its database).
func roleUUID(name string) string {
	h := sha256.Sum256([]byte("cmtls-auth-role:" + name))
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// apiAuthRoleRef is ApiAuthRoleRef.
type apiAuthRoleRef struct {
	DisplayName string `json:"displayName,omitempty"`
	Name        string `json:"name,omitempty"`
	UUID        string `json:"uuid,omitempty"`
}

func roleRef(name string) (apiAuthRoleRef, bool) {
	for _, r := range builtinRoles {
		if r.name == name {
			return apiAuthRoleRef{DisplayName: r.display, Name: r.name, UUID: roleUUID(r.name)}, true
		}
	}
	return apiAuthRoleRef{}, false
}

// resolveRole finds a role by name (which takes precedence, as CM's
// definition says) or uuid.
func resolveRole(ref apiAuthRoleRef) (apiAuthRoleRef, bool) {
	for _, r := range builtinRoles {
		if (ref.Name != "" && strings.EqualFold(ref.Name, r.name)) || (ref.Name == "" && ref.UUID == roleUUID(r.name)) {
			return roleRef(r.name)
		}
	}
	return apiAuthRoleRef{}, false
}

func (s *Server) handleAuthRoles(w http.ResponseWriter, _ *http.Request) {
	type apiAuthRole struct {
		DisplayName string `json:"displayName"`
		Name        string `json:"name"`
		UUID        string `json:"uuid"`
		IsCustom    bool   `json:"isCustom"`
	}
	items := []apiAuthRole{}
	for _, r := range builtinRoles {
		items = append(items, apiAuthRole{DisplayName: r.display, Name: r.name, UUID: roleUUID(r.name)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// ExternalUserMapping is CM's ApiExternalUserMapping: for type
// SAML_ATTRIBUTE the name is a value of the SAML role attribute, for
// SAML_SCRIPT an exit code of the role script; AuthRoles are role names.
type ExternalUserMapping struct {
	UUID      string   `json:"uuid"`
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	AuthRoles []string `json:"authRoles"`
}

// mappingTypes are ApiExternalUserMappingType's values.
var mappingTypes = []string{"LDAP", "SAML_SCRIPT", "SAML_ATTRIBUTE", "EXTERNAL_PROGRAM"}

type apiMapping struct {
	Name      string           `json:"name"`
	Type      string           `json:"type,omitempty"`
	UUID      string           `json:"uuid,omitempty"`
	AuthRoles []apiAuthRoleRef `json:"authRoles"`
}

func (m ExternalUserMapping) api() apiMapping {
	a := apiMapping{Name: m.Name, Type: m.Type, UUID: m.UUID, AuthRoles: []apiAuthRoleRef{}}
	for _, r := range m.AuthRoles {
		if ref, ok := roleRef(r); ok {
			a.AuthRoles = append(a.AuthRoles, ref)
		}
	}
	return a
}

// fromAPI checks a mapping as sent and turns it into ours.
func mappingFromAPI(a apiMapping) (ExternalUserMapping, error) {
	m := ExternalUserMapping{Name: a.Name, Type: a.Type}
	if strings.TrimSpace(a.Name) == "" || strings.ContainsAny(a.Name, "\x00\r\n") || len(a.Name) > 256 {
		return m, errors.New("an external user mapping needs a name (one line, at most 256 bytes)")
	}
	ok := false
	for _, t := range mappingTypes {
		ok = ok || t == a.Type
	}
	if !ok {
		return m, fmt.Errorf("invalid external user mapping type %q; options are %s", a.Type, strings.Join(mappingTypes, ", "))
	}
	for _, ref := range a.AuthRoles {
		r, ok := resolveRole(ref)
		if !ok {
			return m, fmt.Errorf("no auth role named %q (uuid %q)", ref.Name, ref.UUID)
		}
		m.AuthRoles = append(m.AuthRoles, r.Name)
	}
	return m, nil
}

// mappingsFile is the on-disk form of the mappings (CM keeps them in its
// database).
type mappingsFile struct {
	Version  int                   `json:"version"`
	Mappings []ExternalUserMapping `json:"mappings"`
}

// LoadMappings reads a mappings file; missing is none.
func LoadMappings(path string) ([]ExternalUserMapping, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f mappingsFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != 1 {
		return nil, fmt.Errorf("external user mappings file %s: version 1 JSON expected (%v)", path, err)
	}
	return f.Mappings, nil
}

func (s *Server) saveMappings(ms []ExternalUserMapping) error {
	if s.cfg.MappingsPath == "" {
		return nil
	}
	b, _ := json.MarshalIndent(mappingsFile{Version: 1, Mappings: ms}, "", "  ")
	return writeFileAtomic(s.cfg.MappingsPath, append(b, '\n'), 0o600)
}

// Mappings returns the external user mappings (a copy).
func (s *Server) Mappings() []ExternalUserMapping {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ExternalUserMapping(nil), s.mappings...)
}

// handleMappings serves /externalUserMappings[/{uuid}]. A change takes
// effect at the next SAML login, without a restart.
func (s *Server) handleMappings(w http.ResponseWriter, r *http.Request, uuid string) {
	if !s.profile.ExternalUserMappings {
		writeError(w, http.StatusNotFound, fmt.Sprintf("No resource for %s %s", r.Method, r.URL.Path))
		return
	}
	switch {
	case uuid == "" && r.Method == http.MethodGet:
		items := []apiMapping{}
		for _, m := range s.Mappings() {
			items = append(items, m.api())
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items})
	case uuid == "" && r.Method == http.MethodPost:
		var body struct {
			Items []apiMapping `json:"items"`
		}
		if !readJSON(w, r, &body) {
			return
		}
		s.changeMappings(w, func(ms []ExternalUserMapping) ([]ExternalUserMapping, int, any, error) {
			out := []apiMapping{}
			for _, a := range body.Items {
				m, err := mappingFromAPI(a)
				if err != nil {
					return nil, http.StatusBadRequest, nil, err
				}
				for _, o := range ms {
					if o.Name == m.Name && o.Type == m.Type {
						return nil, http.StatusBadRequest, nil, fmt.Errorf("an external user mapping %q of type %s exists already", m.Name, m.Type)
					}
				}
				m.UUID = newID()
				ms = append(ms, m)
				out = append(out, m.api())
			}
			return ms, http.StatusCreated, map[string]any{"items": out}, nil
		})
	case uuid != "" && r.Method == http.MethodGet:
		for _, m := range s.Mappings() {
			if m.UUID == uuid {
				writeJSON(w, http.StatusOK, m.api())
				return
			}
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("External user mapping '%s' not found.", sanitizeLog(uuid)))
	case uuid != "" && r.Method == http.MethodPut:
		var body apiMapping
		if !readJSON(w, r, &body) {
			return
		}
		s.changeMappings(w, func(ms []ExternalUserMapping) ([]ExternalUserMapping, int, any, error) {
			m, err := mappingFromAPI(body)
			if err != nil {
				return nil, http.StatusBadRequest, nil, err
			}
			for i := range ms {
				if ms[i].UUID == uuid {
					m.UUID = uuid
					ms[i] = m
					return ms, http.StatusNoContent, nil, nil
				}
			}
			return nil, http.StatusNotFound, nil, fmt.Errorf("external user mapping '%s' not found", sanitizeLog(uuid))
		})
	case uuid != "" && r.Method == http.MethodDelete:
		s.changeMappings(w, func(ms []ExternalUserMapping) ([]ExternalUserMapping, int, any, error) {
			for i := range ms {
				if ms[i].UUID == uuid {
					return append(ms[:i:i], ms[i+1:]...), http.StatusNoContent, nil, nil
				}
			}
			return nil, http.StatusNotFound, nil, fmt.Errorf("external user mapping '%s' not found", sanitizeLog(uuid))
		})
	default:
		writeError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
	}
}

// changeMappings applies f to a copy of the mappings, saves the result and
// rebuilds the SAML service provider so the next login sees it.
func (s *Server) changeMappings(w http.ResponseWriter, f func([]ExternalUserMapping) ([]ExternalUserMapping, int, any, error)) {
	s.mappingsMu.Lock()
	defer s.mappingsMu.Unlock()
	next, status, body, err := f(s.Mappings())
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	if err := s.saveMappings(next); err != nil {
		writeError(w, http.StatusInternalServerError, "could not save external user mappings: "+err.Error())
		return
	}
	s.mu.Lock()
	s.mappings = next
	s.mu.Unlock()
	s.log.info("qtp-api:com.cloudera.server.cmf.UserMappings", fmt.Sprintf("External user mappings updated (%d)", len(next)))
	s.rebuildSAML()
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

// noMatch is a role attribute value no SAML assertion can carry: U+0000 is
// not an XML character (XML 1.0, section 2.2), so with it the SP maps
// nobody, as CM 7 does before any mapping exists.
const noMatch = "\x00"

// samlSettings are the settings the SAML service provider is built from.
// On a release with external user mappings, the role values come from the
// SAML_ATTRIBUTE mappings, and the role script's exit codes from the
// SAML_SCRIPT ones (named by the exit code): ROLE_ADMIN ones are admin,
// any other role maps to the SP's regular user.
func (s *Server) samlSettings(base Settings) Settings {
	eff := base.Clone()
	if !s.profile.ExternalUserMappings {
		return eff
	}
	var admin, user, script []string
	for _, m := range s.Mappings() {
		if (m.Type != "SAML_ATTRIBUTE" && m.Type != "SAML_SCRIPT") || len(m.AuthRoles) == 0 {
			continue
		}
		isAdmin := false
		for _, r := range m.AuthRoles {
			isAdmin = isAdmin || r == "ROLE_ADMIN"
		}
		switch {
		case m.Type == "SAML_SCRIPT":
			// A name that is not an exit code matches no script run.
			if n, err := strconv.Atoi(m.Name); err == nil && n >= 0 && n <= 255 {
				role := "user"
				if isAdmin {
					role = "admin"
				}
				script = append(script, fmt.Sprintf("%d=%s", n, role))
			}
		case isAdmin:
			admin = append(admin, m.Name)
		default:
			user = append(user, m.Name)
		}
	}
	eff[SAMLScriptRoles] = "-"
	if len(script) > 0 {
		eff[SAMLScriptRoles] = strings.Join(script, ",")
	}
	join := func(v []string) string {
		if len(v) == 0 {
			return noMatch
		}
		return strings.Join(v, ",")
	}
	eff[SAMLRoleAdminValues], eff[SAMLRoleUserValues] = join(admin), join(user)
	return eff
}

// user is what the server knows of a user who logged in.
type user struct {
	name  string
	roles []string
}

// userSession is one interactive session (ApiUserSession).
type userSession struct {
	name, remoteAddr string
	last             time.Time
}

// maxUserSessions bounds the sessions kept.
const maxUserSessions = 1000

// recordLogin notes an interactive (console) request of a user: CM creates
// the user on its first external login and lists its sessions.
func (s *Server) recordLogin(name, role string, r *http.Request) {
	if name == "" || role == "" {
		return
	}
	addr := r.RemoteAddr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		addr = h
	}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users == nil {
		s.users = map[string]*user{}
	}
	if _, ok := s.users[name]; !ok && len(s.users) < maxUserSessions {
		s.users[name] = &user{name: name, roles: []string{role}}
	}
	key := name + "\x00" + addr
	if s.userSessions == nil {
		s.userSessions = map[string]*userSession{}
	}
	if se, ok := s.userSessions[key]; ok {
		se.last = now
	} else if len(s.userSessions) < maxUserSessions {
		s.userSessions[key] = &userSession{name: name, remoteAddr: addr, last: now}
	}
}

func (s *Server) handleUser(w http.ResponseWriter, _ *http.Request, name string) {
	s.mu.Lock()
	u, ok := s.users[name]
	var roles []string
	if ok {
		roles = append(roles, u.roles...)
	}
	s.mu.Unlock()
	if !ok && name == s.cfg.AdminUser {
		ok, roles = true, []string{"ROLE_ADMIN"}
	}
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("User '%s' does not exist.", sanitizeLog(name)))
		return
	}
	refs := []apiAuthRoleRef{}
	for _, r := range roles {
		if ref, ok := roleRef(r); ok {
			refs = append(refs, ref)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "authRoles": refs})
}

func (s *Server) handleSessions(w http.ResponseWriter, _ *http.Request) {
	type apiSession struct {
		Name        string `json:"name"`
		RemoteAddr  string `json:"remoteAddr"`
		LastRequest string `json:"lastRequest"`
	}
	s.mu.Lock()
	items := []apiSession{}
	for _, se := range s.userSessions {
		items = append(items, apiSession{Name: se.name, RemoteAddr: se.remoteAddr, LastRequest: fmtTime(se.last)})
	}
	s.mu.Unlock()
	sort.Slice(items, func(i, j int) bool { return items[i].LastRequest > items[j].LastRequest })
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// readJSON decodes a bounded JSON request body or answers 400.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid JSON: "+err.Error())
		return false
	}
	return true
}
