package samlsp

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/cmtls/cmtls/pki/samlxml"
)

// Settings is how NewFromSettings reads CM's settings (samlxml.Settings).
type Settings = samlxml.Settings

// SettingScriptRoles is not a CM setting: an embedded server with
// external user mappings (CM 6/7) sets it, among the settings it builds the
// SP from, to its SAML_SCRIPT mappings as "code=admin" and "code=user"
// entries separated by commas ("-" for none). Unset, the role script's exit
// code means what it does in CM 5 (0 admin, 1 regular user).
const SettingScriptRoles = "CMTLS_SAML_SCRIPT_ROLES"

// parseScriptRoles reads SettingScriptRoles; nil when unset.
func parseScriptRoles(v string) (map[int]Role, error) {
	if v == "" {
		return nil, nil
	}
	out := map[int]Role{}
	if v == "-" {
		return out, nil
	}
	for _, e := range samlxml.SplitValues(v) {
		code, role, ok := strings.Cut(e, "=")
		n, err := strconv.Atoi(code)
		if !ok || err != nil || (role != string(RoleAdmin) && role != string(RoleUser)) {
			return nil, fmt.Errorf("%s: bad entry %q (want code=admin or code=user)", SettingScriptRoles, e)
		}
		if out[n] != RoleAdmin {
			out[n] = Role(role)
		}
	}
	return out, nil
}

// ConfigFromSettings builds an SP Config from CM's SAML settings, read and
// checked as CM does when they are saved (samlxml.ReadSettings). baseURL is
// used when SAML Entity Base URL is empty.
func ConfigFromSettings(s Settings, baseURL string, logger *slog.Logger) (Config, error) {
	cfg := Config{Logger: logger}
	st, err := samlxml.ReadSettings(s, baseURL)
	if err != nil {
		return cfg, err
	}
	cfg.IdPMetadata, cfg.Key, cfg.Certificate = st.IdPMetadata, st.Key, st.Certificate
	cfg.EntityID, cfg.BaseURL, cfg.ResponseBinding = st.EntityID, st.BaseURL, st.ResponseBinding
	cfg.UserIDFrom, cfg.UserIDAttribute = FromAttribute, st.UserIDAttribute
	if st.UserIDFromNameID {
		cfg.UserIDFrom = FromNameID
	}
	cfg.RoleFrom, cfg.RoleAttribute, cfg.AdminValues, cfg.UserValues = RoleFromAttribute, st.RoleAttribute, st.AdminValues, st.UserValues
	if st.RoleFromScript {
		cfg.RoleFrom, cfg.RoleScript = RoleFromScript, st.RoleScript
		if cfg.ScriptRoles, err = parseScriptRoles(s.Get(SettingScriptRoles)); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// NewFromSettings is ConfigFromSettings followed by New: the embedded CM
// server's SAML factory.
func NewFromSettings(s Settings, baseURL string, logger *slog.Logger) (*SP, error) {
	cfg, err := ConfigFromSettings(s, baseURL, logger)
	if err != nil {
		return nil, err
	}
	return New(cfg)
}

// SessionUser reports the caller's SAML session with CM's role names
// (ROLE_ADMIN, ROLE_USER), for the embedded server's console.
func (sp *SP) SessionUser(r *http.Request) (user, role string, ok bool) {
	sess, ok := sp.Session(r)
	if !ok {
		return "", "", false
	}
	switch sess.Role {
	case RoleAdmin:
		role = "ROLE_ADMIN"
	case RoleUser:
		role = "ROLE_USER"
	}
	return sess.UserID, role, true
}
