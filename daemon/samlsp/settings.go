package samlsp

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/cmtls/cmtls/pki"
)

// API names of CM's SAML settings as the embedded server stores them
// (real CM's API names are not confirmed; clients look the settings up by
// display name, given in the comments).
const (
	SettingExternalAuthType = "EXTERNAL_AUTH_TYPE"       // External Authentication Type
	SettingIdPMetadataPath  = "SAML_IDP_METADATA_PATH"   // Path to SAML IDP Metadata File
	SettingKeystorePath     = "SAML_KEYSTORE_PATH"       // Path to SAML Keystore File
	SettingKeystorePassword = "SAML_KEYSTORE_PASSWORD"   // SAML Keystore Password
	SettingKeyAlias         = "SAML_KEY_ALIAS"           // Alias of SAML Sign/Encrypt Private Key
	SettingKeyPassword      = "SAML_KEY_PASSWORD"        // SAML Sign/Encrypt Private Key Password
	SettingEntityID         = "SAML_ENTITY_ID"           // SAML Entity ID
	SettingEntityBaseURL    = "SAML_ENTITY_BASE_URL"     // SAML Entity Base URL
	SettingUserIDSource     = "SAML_USERID_SOURCE"       // Source of User ID in SAML Response (ATTRIBUTE | NAMEID)
	SettingUserIDAttribute  = "SAML_ATTRIBUTE_ID_USERID" // SAML Attribute Identifier for User ID
	SettingRoleMechanism    = "SAML_ROLE_ASSIGNMENT"     // SAML Role Assignment Mechanism (ATTRIBUTE | SCRIPT)
	SettingRoleAttribute    = "SAML_ATTRIBUTE_ID_ROLE"   // SAML Attribute Identifier for User Role
	SettingRoleAdminValues  = "SAML_ROLE_VALUES_ADMIN"   // SAML Attribute Values for ROLE_ADMIN (comma-separated)
	SettingRoleUserValues   = "SAML_ROLE_VALUES_USER"    // SAML Attribute Values for ROLE_USER (comma-separated)
	SettingScriptPath       = "SAML_SCRIPT_PATH"         // Path to SAML Script
)

// Settings is how NewFromSettings reads CM's settings; the embedded
// server's Settings type (Get returns the value or its default) fits.
type Settings interface {
	Get(name string) string
}

// SettingsError is a SAML setting CM would refuse at save time (seed step
// 13): bad input, exit code 2, with a hint naming the setting to fix.
type SettingsError struct {
	Setting string // display name
	Err     error
	hint    string
}

func (e *SettingsError) Error() string { return e.Setting + ": " + e.Err.Error() }
func (e *SettingsError) Unwrap() error { return e.Err }

// BadInput marks bad input.
func (e *SettingsError) BadInput() bool { return true }

// Hint names the fix.
func (e *SettingsError) Hint() string {
	type hinter interface{ Hint() string }
	var h hinter
	if errors.As(e.Err, &h) {
		return h.Hint()
	}
	return e.hint
}

// Config builds an SP Config from CM's SAML settings: it reads the IdP
// metadata file and opens the keystore with the given passwords, which are
// the validations CM runs when the settings are saved (seed step 13: it can
// find the metadata XML and the keystore, and the passwords are correct),
// plus: the metadata has signing certificates and an SSO URL, and a role
// script exists and is executable. baseURL is used when SAML Entity Base
// URL is empty.
func ConfigFromSettings(s Settings, baseURL string, logger *slog.Logger) (Config, error) {
	cfg := Config{Logger: logger}
	mdPath := s.Get(SettingIdPMetadataPath)
	if mdPath == "" {
		return cfg, &SettingsError{Setting: "Path to SAML IDP Metadata File", Err: errors.New("not set"), hint: "set it to the IdP's metadata XML file"}
	}
	md, err := os.ReadFile(mdPath)
	if err != nil {
		return cfg, &SettingsError{Setting: "Path to SAML IDP Metadata File", Err: err, hint: "download the metadata XML from your IdP to that path"}
	}
	if _, err := ParseIdPMetadata(md); err != nil {
		return cfg, &SettingsError{Setting: "Path to SAML IDP Metadata File", Err: err}
	}
	cfg.IdPMetadata = md

	ksPath := s.Get(SettingKeystorePath)
	if ksPath == "" {
		return cfg, &SettingsError{Setting: "Path to SAML Keystore File", Err: errors.New("not set"), hint: "set it to the Java keystore holding CM's SAML key"}
	}
	ksData, err := os.ReadFile(ksPath)
	if err != nil {
		return cfg, &SettingsError{Setting: "Path to SAML Keystore File", Err: err, hint: "check the keystore path and that the server can read it"}
	}
	ks, err := pki.ReadKeystore(ksData, []byte(s.Get(SettingKeystorePassword)))
	if err != nil {
		return cfg, &SettingsError{Setting: "SAML Keystore Password", Err: err, hint: "give the keystore's password"}
	}
	alias := s.Get(SettingKeyAlias)
	if alias == "" {
		return cfg, &SettingsError{Setting: "Alias of SAML Sign/Encrypt Private Key", Err: errors.New("not set"), hint: "keytool -list -keystore FILE shows the aliases"}
	}
	var keyPass []byte
	if v := s.Get(SettingKeyPassword); v != "" {
		keyPass = []byte(v)
	}
	key, chain, err := ks.PrivateKeyEntry(alias, keyPass)
	if err != nil {
		setting := "SAML Sign/Encrypt Private Key Password"
		if errors.Is(err, pki.ErrNoSuchAlias) || errors.Is(err, pki.ErrNotKeyEntry) {
			setting = "Alias of SAML Sign/Encrypt Private Key"
		}
		return cfg, &SettingsError{Setting: setting, Err: err}
	}
	cfg.Key, cfg.Certificate = key, chain[0]

	cfg.EntityID = s.Get(SettingEntityID)
	cfg.BaseURL = strings.TrimRight(cmp.Or(s.Get(SettingEntityBaseURL), baseURL), "/")
	if strings.EqualFold(s.Get(SettingUserIDSource), "NAMEID") {
		cfg.UserIDFrom = FromNameID
	} else {
		cfg.UserIDFrom = FromAttribute
		cfg.UserIDAttribute = s.Get(SettingUserIDAttribute)
	}
	if strings.EqualFold(s.Get(SettingRoleMechanism), "SCRIPT") {
		cfg.RoleFrom = RoleFromScript
		cfg.RoleScript = s.Get(SettingScriptPath)
		if err := CheckScript(cfg.RoleScript); err != nil {
			return cfg, &SettingsError{Setting: "Path to SAML Script", Err: err, hint: "chmod +x the script (an executable binary is fine too)"}
		}
	} else {
		cfg.RoleFrom = RoleFromAttribute
		cfg.RoleAttribute = s.Get(SettingRoleAttribute)
		cfg.AdminValues = splitValues(s.Get(SettingRoleAdminValues))
		cfg.UserValues = splitValues(s.Get(SettingRoleUserValues))
		if len(cfg.AdminValues)+len(cfg.UserValues) == 0 {
			return cfg, &SettingsError{Setting: "SAML Attribute Values for Roles", Err: errors.New("no admin or user values"), hint: "list the attribute values that mean admin and regular user"}
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

// CheckScript checks that the role script exists, is a regular file and
// is executable (seed step 12).
func CheckScript(path string) error {
	if path == "" {
		return errors.New("no script path")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not executable", path)
	}
	return nil
}

// splitValues reads a comma-separated list of role values. Entries are
// trimmed here (configuration), never when matching (assertion values).
func splitValues(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
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
