package saml

// This file is the one place the SAML steps reach the SAML parsing they
// share with the service provider (pki/samlxml) and the headless browser
// that verifies logins (remote/browser).

import (
	"context"
	"net/http"

	"github.com/cmtls/cmtls/pki/samlxml"
	"github.com/cmtls/cmtls/remote/browser"
)

// SP endpoints (CM's paths), defaults and the API-name keys the settings
// reader of the SP takes.
const (
	pathMetadata = samlxml.PathMetadata
	pathLogin    = samlxml.PathLogin

	defaultEntityID      = samlxml.DefaultEntityID
	defaultUserAttribute = samlxml.DefaultUserAttribute
	defaultRoleAttribute = samlxml.DefaultRoleAttribute

	keyExternalAuthType = samlxml.SettingExternalAuthType
	keyIdPMetadataPath  = samlxml.SettingIdPMetadataPath
	keyKeystorePath     = samlxml.SettingKeystorePath
	keyKeystorePassword = samlxml.SettingKeystorePassword
	keyKeyAlias         = samlxml.SettingKeyAlias
	keyKeyPassword      = samlxml.SettingKeyPassword
	keyEntityID         = samlxml.SettingEntityID
	keyEntityBaseURL    = samlxml.SettingEntityBaseURL
	keyUserIDSource     = samlxml.SettingUserIDSource
	keyUserIDAttribute  = samlxml.SettingUserIDAttribute
	keyRoleMechanism    = samlxml.SettingRoleMechanism
	keyRoleAttribute    = samlxml.SettingRoleAttribute
	keyRoleAdminValues  = samlxml.SettingRoleAdminValues
	keyRoleUserValues   = samlxml.SettingRoleUserValues
	keyScriptPath       = samlxml.SettingScriptPath
	keyResponseBinding  = samlxml.SettingResponseBinding
)

// IdP is what the IdP's metadata says.
type IdP = samlxml.IdP

// settingsError is a setting CM would refuse on save.
type settingsError = samlxml.SettingsError

var (
	parseIdPMetadata = samlxml.ParseIdPMetadata
	checkXML         = samlxml.CheckXML
	signingCerts     = samlxml.SigningCerts
	decodeRedirect   = samlxml.DecodeRedirect
)

// spConfig runs the SP's own settings reader over the wanted settings: it
// opens the keystore, finds the key and reads the metadata as CM does when
// the settings are saved.
func spConfig(m mapSettings, baseURL string) (*samlxml.SPSettings, error) {
	return samlxml.ReadSettings(m, baseURL)
}

// page is where a browser ended.
type page = browser.Page

// newBrowser returns a cookie-keeping client that follows redirects.
func newBrowser(rt http.RoundTripper) interface {
	Get(ctx context.Context, u string) (*page, error)
	Login(ctx context.Context, p *page, user, password string) (*page, error)
	Post(ctx context.Context, u string, v map[string][]string) (*page, error)
} {
	return browserAdapter{browser.NewBrowser(rt)}
}

type browserAdapter struct{ *browser.Browser }

func (b browserAdapter) Post(ctx context.Context, u string, v map[string][]string) (*page, error) {
	return b.Browser.Post(ctx, u, v)
}
