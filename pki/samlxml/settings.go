package samlxml

import (
	"cmp"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
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
	SettingResponseBinding  = "SAML_RESPONSE_BINDING"    // SAML Response Binding (HTTP-POST | HTTP-Artifact)
)

// Settings is how ReadSettings reads CM's settings; the embedded server's
// Settings type (Get returns the value or its default) and a plain map fit.
type Settings interface {
	Get(name string) string
}

// SettingsError is a SAML setting CM would refuse at save time: bad input,
// with a hint naming the setting to fix.
type SettingsError struct {
	Setting string // display name
	Err     error
	hint    string
}

func (e *SettingsError) Error() string { return e.Setting + ": " + e.Err.Error() }
func (e *SettingsError) Unwrap() error { return e.Err }

// BadInput marks the error as the operator's input to fix.
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

// SPSettings is CM's SAML settings read and checked: the files they name
// are loaded.
type SPSettings struct {
	// IdPMetadata is the metadata file's content; IdP is it parsed.
	IdPMetadata []byte
	IdP         *IdP
	// Key and Certificate come from the keystore entry.
	Key         crypto.Signer
	Certificate *x509.Certificate
	// EntityID is the setting as given ("" means DefaultEntityID).
	EntityID string
	// BaseURL is the entity base URL without a trailing slash.
	BaseURL string
	// UserIDFromNameID is "Source of User ID" NAMEID; else UserIDAttribute.
	UserIDFromNameID bool
	UserIDAttribute  string
	// RoleFromScript is "Role Assignment Mechanism" SCRIPT (RoleScript);
	// else RoleAttribute with AdminValues and UserValues.
	RoleFromScript          bool
	RoleScript              string
	RoleAttribute           string
	AdminValues, UserValues []string
	// ResponseBinding is "HTTP-POST" (also when unset) or "HTTP-Artifact".
	ResponseBinding string
}

// ReadSettings reads CM's SAML settings: it reads the IdP metadata file and
// opens the keystore with the given passwords, which are the validations CM
// runs when the settings are saved (it can find the metadata XML and the
// keystore, and the passwords are correct), plus: the metadata has signing
// certificates and an SSO URL, and a role script exists and is executable.
// baseURL is used when SAML Entity Base URL is empty.
func ReadSettings(s Settings, baseURL string) (*SPSettings, error) {
	cfg := &SPSettings{}
	mdPath := s.Get(SettingIdPMetadataPath)
	if mdPath == "" {
		return cfg, &SettingsError{Setting: "Path to SAML IDP Metadata File", Err: errors.New("not set"), hint: "set it to the IdP's metadata XML file"}
	}
	md, err := os.ReadFile(mdPath)
	if err != nil {
		return cfg, &SettingsError{Setting: "Path to SAML IDP Metadata File", Err: err, hint: "download the metadata XML from your IdP to that path"}
	}
	if cfg.IdP, err = ParseIdPMetadata(md); err != nil {
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
		cfg.UserIDFromNameID = true
	} else {
		cfg.UserIDAttribute = s.Get(SettingUserIDAttribute)
	}
	switch cfg.ResponseBinding = cmp.Or(s.Get(SettingResponseBinding), "HTTP-POST"); cfg.ResponseBinding {
	case "HTTP-POST":
	case "HTTP-Artifact":
		if len(cfg.IdP.ArtifactResolution) == 0 {
			return cfg, &SettingsError{Setting: "SAML Response Binding", Err: errors.New("HTTP-Artifact needs an ArtifactResolutionService in the IdP metadata"), hint: "use HTTP-POST, or turn on the IdP's artifact binding and download its metadata again"}
		}
	default:
		return cfg, &SettingsError{Setting: "SAML Response Binding", Err: fmt.Errorf("%q; options are HTTP-POST, HTTP-Artifact", cfg.ResponseBinding), hint: "set SAML Response Binding to HTTP-POST or HTTP-Artifact"}
	}
	if strings.EqualFold(s.Get(SettingRoleMechanism), "SCRIPT") {
		cfg.RoleFromScript = true
		cfg.RoleScript = s.Get(SettingScriptPath)
		if err := CheckScript(cfg.RoleScript); err != nil {
			return cfg, &SettingsError{Setting: "Path to SAML Script", Err: err, hint: "chmod +x the script (an executable binary is fine too)"}
		}
	} else {
		cfg.RoleAttribute = s.Get(SettingRoleAttribute)
		cfg.AdminValues = SplitValues(s.Get(SettingRoleAdminValues))
		cfg.UserValues = SplitValues(s.Get(SettingRoleUserValues))
		if len(cfg.AdminValues)+len(cfg.UserValues) == 0 {
			return cfg, &SettingsError{Setting: "SAML Attribute Values for Roles", Err: errors.New("no admin or user values"), hint: "list the attribute values that mean admin and regular user"}
		}
	}
	return cfg, nil
}

// CheckScript checks that the role script exists, is a regular file and
// is executable (CM runs it with the user ID as $1).
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

// SplitValues reads a comma-separated list of role values. Entries are
// trimmed here (configuration), never when matching (assertion values).
func SplitValues(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Defaults of Cloudera Manager's SAML settings.
const (
	DefaultEntityID      = "clouderaManager"
	DefaultUserAttribute = "urn:oid:0.9.2342.19200300.100.1.1" // uid
	DefaultRoleAttribute = "urn:oid:2.5.4.11"                  // ou
)

// Paths the SP serves (Spring Security SAML's, as CM uses).
const (
	PathMetadata = "/saml/metadata"
	PathLogin    = "/saml/login"
	PathACS      = "/saml/SSO"
	PathLogout   = "/saml/logout"
	PathSLO      = "/saml/SingleLogout"
)
