package cmserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Setting describes one CM configuration item the server knows.
type Setting struct {
	Name        string // API name (upper case; lookups fold case as CM does)
	DisplayName string // the label in CM's UI, as view=full gives it
	Default     string
	Sensitive   bool // value never returned by the API, never logged
}

// API names of the TLS settings (real CM names, notes section 3).
const (
	AgentTLS          = "AGENT_TLS"
	WebTLS            = "WEB_TLS"
	KeystorePath      = "KEYSTORE_PATH"
	KeystorePassword  = "KEYSTORE_PASSWORD"
	KeystoreAlias     = "KEYSTORE_ALIAS" // not a CM setting: CM's Jetty takes alias jetty
	HeartbeatInterval = "HEARTBEAT_INTERVAL"
	MissedHBConcern   = "MISSED_HB_CONCERNING"
	MissedHBBad       = "MISSED_HB_BAD"
	ExternalAuthType  = "EXTERNAL_AUTH_TYPE"
)

// API names of the SAML settings. CM's own API names are not confirmed;
// clients look SAML settings up by display name (CONTRACT "CM REST API
// subset"), so these names are ours.
const (
	SAMLIdPMetadataPath  = "SAML_IDP_METADATA_PATH"
	SAMLKeystorePath     = "SAML_KEYSTORE_PATH"
	SAMLKeystorePassword = "SAML_KEYSTORE_PASSWORD"
	SAMLKeyAlias         = "SAML_KEY_ALIAS"
	SAMLKeyPassword      = "SAML_KEY_PASSWORD"
	SAMLEntityID         = "SAML_ENTITY_ID"
	SAMLEntityBaseURL    = "SAML_ENTITY_BASE_URL"
	SAMLResponseBinding  = "SAML_RESPONSE_BINDING"
	SAMLUserIDSource     = "SAML_USERID_SOURCE"
	SAMLUserIDAttribute  = "SAML_ATTRIBUTE_ID_USERID"
	SAMLRoleMechanism    = "SAML_ROLE_ASSIGNMENT"
	SAMLRoleAttribute    = "SAML_ATTRIBUTE_ID_ROLE"
	SAMLRoleAdminValues  = "SAML_ROLE_VALUES_ADMIN"
	SAMLRoleUserValues   = "SAML_ROLE_VALUES_USER"
	SAMLScriptPath       = "SAML_SCRIPT_PATH"
	// SAMLScriptRoles is not a CM setting and is never served: on a
	// release with external user mappings the server hands its SAML_SCRIPT
	// mappings to the SP under this name (daemon/samlsp's
	// SettingScriptRoles) as "code=admin"/"code=user" entries, "-" for none.
	SAMLScriptRoles = "CMTLS_SAML_SCRIPT_ROLES"
)

// Catalog lists every setting the server serves, in API order.
var catalog = []Setting{
	{Name: AgentTLS, DisplayName: "Use TLS Encryption for Agents", Default: "false"},
	{Name: WebTLS, DisplayName: "Use TLS Encryption for Admin Console", Default: "false"},
	{Name: KeystorePath, DisplayName: "Cloudera Manager TLS/SSL Server JKS Keystore File Location"},
	{Name: KeystorePassword, DisplayName: "Cloudera Manager TLS/SSL Server JKS Keystore File Password", Sensitive: true},
	{Name: KeystoreAlias, DisplayName: "Cloudera Manager TLS/SSL Server Keystore Alias", Default: "jetty"},
	{Name: "TRUSTSTORE_PATH", DisplayName: "Cloudera Manager TLS/SSL Client Trust Store File"},
	{Name: "TRUSTSTORE_PASSWORD", DisplayName: "Cloudera Manager TLS/SSL Client Trust Store Password", Sensitive: true},
	{Name: "NEED_AGENT_VALIDATION", DisplayName: "Use TLS Authentication of Agents to Server", Default: "false"},
	{Name: HeartbeatInterval, DisplayName: "Send Agent Heartbeat Every", Default: "15"},
	{Name: MissedHBConcern, DisplayName: "Set health status to Concerning if the Agent heartbeats fail", Default: "5"},
	{Name: MissedHBBad, DisplayName: "Set health status to Bad if the Agent heartbeats fail", Default: "10"},
	{Name: ExternalAuthType, DisplayName: "External Authentication Type", Default: "NONE"},
	// Auto-TLS (CM 7): NONE unless CM manages the certificates itself;
	// manual TLS tools must then leave them alone.
	{Name: "AUTO_TLS_TYPE", DisplayName: "Auto-TLS Type", Default: "NONE"},
	{Name: SAMLIdPMetadataPath, DisplayName: "Path to SAML IDP Metadata File"},
	{Name: SAMLKeystorePath, DisplayName: "Path to SAML Keystore File"},
	{Name: SAMLKeystorePassword, DisplayName: "SAML Keystore Password", Sensitive: true},
	{Name: SAMLKeyAlias, DisplayName: "Alias of SAML Sign/Encrypt Private Key"},
	{Name: SAMLKeyPassword, DisplayName: "SAML Sign/Encrypt Private Key Password", Sensitive: true},
	{Name: SAMLEntityID, DisplayName: "SAML Entity ID", Default: "clouderaManager"},
	{Name: SAMLEntityBaseURL, DisplayName: "SAML Entity Base URL"},
	{Name: SAMLResponseBinding, DisplayName: "SAML Response Binding", Default: "HTTP-POST"},
	{Name: SAMLUserIDSource, DisplayName: "Source of User ID in SAML Response", Default: "ATTRIBUTE"},
	{Name: SAMLUserIDAttribute, DisplayName: "SAML Attribute Identifier for User ID", Default: "urn:oid:0.9.2342.19200300.100.1.1"},
	{Name: SAMLRoleMechanism, DisplayName: "SAML Role Assignment Mechanism", Default: "ATTRIBUTE"},
	// The role default is ou (the seed: "the normal OID used for
	// OrganizationalUnits"), not CM 7's eduPersonAffiliation.
	{Name: SAMLRoleAttribute, DisplayName: "SAML Attribute Identifier for User Role", Default: "urn:oid:2.5.4.11"},
	{Name: SAMLRoleAdminValues, DisplayName: "SAML Attribute Values for ROLE_ADMIN"},
	{Name: SAMLRoleUserValues, DisplayName: "SAML Attribute Values for ROLE_USER"},
	{Name: SAMLScriptPath, DisplayName: "Path to SAML Script"},
}

// Catalog returns the settings the server knows (a copy).
func Catalog() []Setting { return append([]Setting(nil), catalog...) }

func lookupSetting(name string) (Setting, bool) {
	for _, s := range catalog {
		if strings.EqualFold(s.Name, name) {
			return s, true
		}
	}
	return Setting{}, false
}

// Settings are the values set away from their defaults, by upper-case API
// name. The zero value is usable.
type Settings map[string]string

// Get returns the value of name, or its default when unset.
func (s Settings) Get(name string) string {
	name = strings.ToUpper(name)
	if v, ok := s[name]; ok {
		return v
	}
	if d, ok := lookupSetting(name); ok {
		return d.Default
	}
	return ""
}

// Bool reads a boolean setting as CM does ("true", case folded).
func (s Settings) Bool(name string) bool { return strings.EqualFold(s.Get(name), "true") }

// Int reads a numeric setting, falling back to def when unset or invalid.
func (s Settings) Int(name string, def int) int {
	n, err := strconv.Atoi(strings.TrimSpace(s.Get(name)))
	if err != nil || n <= 0 {
		return def
	}
	return n
}

// Clone returns an independent copy.
func (s Settings) Clone() Settings {
	c := make(Settings, len(s))
	for k, v := range s {
		c[k] = v
	}
	return c
}

// Set validates and sets name to value; an empty value resets it.
func (s Settings) Set(name, value string) error {
	d, ok := lookupSetting(name)
	if !ok {
		return fmt.Errorf("unknown configuration attribute %q", name)
	}
	if err := validateValue(d, value); err != nil {
		return err
	}
	if value == "" {
		delete(s, d.Name)
		return nil
	}
	s[d.Name] = value
	return nil
}

func validateValue(d Setting, v string) error {
	if v == "" {
		return nil
	}
	switch d.Name {
	case AgentTLS, WebTLS, "NEED_AGENT_VALIDATION":
		if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return fmt.Errorf("invalid value %q for %s; options are true, false", v, d.Name)
		}
	case HeartbeatInterval, MissedHBConcern, MissedHBBad:
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 3600 {
			return fmt.Errorf("invalid value %q for %s; use a whole number 1-3600", v, d.Name)
		}
	case ExternalAuthType:
		switch strings.ToUpper(v) {
		case "NONE", "LDAP", "ACTIVE_DIRECTORY", "SAML":
		default:
			return fmt.Errorf("invalid value %q for %s; options are NONE, LDAP, ACTIVE_DIRECTORY, SAML", v, d.Name)
		}
	case SAMLResponseBinding:
		if v != "HTTP-POST" && v != "HTTP-Artifact" {
			return fmt.Errorf("invalid value %q for %s; options are HTTP-POST, HTTP-Artifact", v, d.Name)
		}
	case SAMLUserIDSource:
		if u := strings.ToUpper(v); u != "ATTRIBUTE" && u != "NAMEID" {
			return fmt.Errorf("invalid value %q for %s; options are ATTRIBUTE, NAMEID", v, d.Name)
		}
	case SAMLRoleMechanism:
		if u := strings.ToUpper(v); u != "ATTRIBUTE" && u != "SCRIPT" {
			return fmt.Errorf("invalid value %q for %s; options are ATTRIBUTE, SCRIPT", v, d.Name)
		}
	}
	if strings.ContainsAny(v, "\x00\n\r") {
		return fmt.Errorf("invalid value for %s: control characters", d.Name)
	}
	return nil
}

// settingsFile is the on-disk form.
type settingsFile struct {
	Version int               `json:"version"`
	Items   map[string]string `json:"items"`
}

// ParseSettings reads the settings file's bytes. Unknown names and bad
// values are errors: the file is written only by the server.
func ParseSettings(b []byte) (Settings, error) {
	var f settingsFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("settings file: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("settings file: trailing data")
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("settings file: unsupported version %d", f.Version)
	}
	s := Settings{}
	for k, v := range f.Items {
		if err := s.Set(k, v); err != nil {
			return nil, fmt.Errorf("settings file: %w", err)
		}
	}
	return s, nil
}

// MarshalSettings is the file form of s, keys sorted.
func MarshalSettings(s Settings) []byte {
	f := settingsFile{Version: 1, Items: map[string]string(s)}
	if f.Items == nil {
		f.Items = map[string]string{}
	}
	b, _ := json.MarshalIndent(f, "", "  ")
	return append(b, '\n')
}

// LoadSettings reads path; a missing file is empty settings (a fresh CM).
func LoadSettings(path string) (Settings, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return Settings{}, nil
	}
	if err != nil {
		return nil, err
	}
	s, err := ParseSettings(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// SaveSettings writes s to path atomically with mode 0600 (it holds the
// keystore password).
func SaveSettings(path string, s Settings) error {
	return writeFileAtomic(path, MarshalSettings(s), 0o600)
}

// writeFileAtomic writes b to a temp file beside path and renames it.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
