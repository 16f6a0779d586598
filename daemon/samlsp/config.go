package samlsp

import (
	"crypto"
	"crypto/x509"
	"log/slog"
	"time"

	"github.com/cmtls/cmtls/pki/samlxml"
)

// Defaults from Cloudera Manager's SAML settings.
const (
	DefaultEntityID      = samlxml.DefaultEntityID
	DefaultUserAttribute = samlxml.DefaultUserAttribute
	DefaultRoleAttribute = samlxml.DefaultRoleAttribute
)

// Other defaults.
const (
	// DefaultClockSkew is the tolerance on every time check, like
	// Shibboleth's 3 minutes (Entra/ADFS stamp NotBefore to the ms).
	DefaultClockSkew = 3 * time.Minute
	// DefaultMaxMessageAge bounds how old an IssueInstant may be.
	DefaultMaxMessageAge = 5 * time.Minute
	// DefaultSessionLifetime caps a session when the IdP sets no
	// SessionNotOnOrAfter.
	DefaultSessionLifetime = 8 * time.Hour
	// DefaultScriptTimeout bounds the role script.
	DefaultScriptTimeout = 10 * time.Second
)

// UserIDSource says where the user ID comes from.
type UserIDSource string

// RoleSource says how the role is decided.
type RoleSource string

const (
	FromNameID    UserIDSource = "nameid"
	FromAttribute UserIDSource = "attribute"

	RoleFromAttribute RoleSource = "attribute"
	RoleFromScript    RoleSource = "script"
)

// Config builds an SP. Key material is passed in already loaded; see
// NewFromSettings for the keystore path CM uses.
type Config struct {
	// IdPMetadata is the IdP's metadata XML.
	IdPMetadata []byte
	// Key and Certificate sign our requests and decrypt assertions; the
	// certificate is published in /saml/metadata for both uses.
	Key         crypto.Signer
	Certificate *x509.Certificate

	// EntityID defaults to DefaultEntityID.
	EntityID string
	// BaseURL is how browsers reach us, e.g. https://cm1.example.com:7183
	// (CM's "SAML Entity Base URL"). Endpoint URLs are BaseURL + /saml/...
	BaseURL string

	UserIDFrom      UserIDSource // default FromAttribute
	UserIDAttribute string       // default DefaultUserAttribute

	RoleFrom      RoleSource // default RoleFromAttribute
	RoleAttribute string     // default DefaultRoleAttribute
	// AdminValues and UserValues are compared exactly (no case folding,
	// no trimming): "Admins" is not "admins".
	AdminValues, UserValues []string
	// RoleScript gets the user ID as $1, run without a shell; exit 0 is
	// admin, 1 regular user, anything else (or any error) not authorized
	// (CM 5), unless ScriptRoles is set.
	RoleScript string
	// ScriptRoles maps the role script's exit code to a role, as a CM with
	// external user mappings does (a SAML_SCRIPT mapping is named by the
	// exit code and gives the roles); an exit code it lacks is not
	// authorized. nil keeps CM 5's fixed rule.
	ScriptRoles       map[int]Role
	RoleScriptTimeout time.Duration // default DefaultScriptTimeout
	// RoleScriptEnv is the script's environment; nil inherits ours.
	RoleScriptEnv []string

	ClockSkew       time.Duration // default DefaultClockSkew
	MaxMessageAge   time.Duration // default DefaultMaxMessageAge
	SessionLifetime time.Duration // default DefaultSessionLifetime

	// AllowSHA1 accepts rsa-sha1/ecdsa-sha1 signatures and sha1 digests
	// (old ADFS farms). Off by default.
	AllowSHA1 bool
	// ResponseBinding is how the IdP returns the Response (CM's "SAML
	// Response Binding"): BindingPost (default) or BindingArtifact, which
	// fetches it over a TLS back channel from the IdP's
	// ArtifactResolutionService.
	ResponseBinding string
	// ArtifactRootCAs verifies the ArtifactResolutionService's TLS
	// certificate; nil means the system roots. Verification is never
	// skipped.
	ArtifactRootCAs *x509.CertPool

	// AllowRSA15 accepts encrypted assertions whose key is wrapped with RSA
	// PKCS#1 v1.5 (xmlenc#rsa-1_5), which the metadata never offers: an
	// IdP that uses it anyway exposes the key to Bleichenbacher-style
	// attacks (Jager, Schinzel, Somorovsky, ESORICS 2012). Off by default.
	AllowRSA15 bool
	// DisableIdPInitiated refuses unsolicited responses. CM supports
	// IdP-initiated SSO, so it is allowed by default.
	DisableIdPInitiated bool

	// SecureCookies forces the Secure flag; it is also set when BaseURL is
	// https.
	SecureCookies bool

	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}
