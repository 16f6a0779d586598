package samlsp

import (
	"log/slog"
	"net/http"

	"github.com/cmtls/cmtls/pki/samlxml"
)

// Settings is how NewFromSettings reads CM's settings (samlxml.Settings).
type Settings = samlxml.Settings

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
