package saml

// This file is the one place the SAML steps reach the SAML parsing and the
// headless browser they share with the service provider; when those move
// to their own packages only the imports below change.

import (
	"context"
	"net/http"

	"github.com/cmtls/cmtls/daemon/samlsp"
	"github.com/cmtls/cmtls/daemon/samlsp/browser"
)

// SP endpoints (CM's paths), defaults and the API-name keys the settings
// reader of the SP takes.
const (
	pathMetadata = samlsp.PathMetadata
	pathLogin    = samlsp.PathLogin

	defaultEntityID      = samlsp.DefaultEntityID
	defaultUserAttribute = samlsp.DefaultUserAttribute
	defaultRoleAttribute = samlsp.DefaultRoleAttribute

	keyExternalAuthType = samlsp.SettingExternalAuthType
	keyIdPMetadataPath  = samlsp.SettingIdPMetadataPath
	keyKeystorePath     = samlsp.SettingKeystorePath
	keyKeystorePassword = samlsp.SettingKeystorePassword
	keyKeyAlias         = samlsp.SettingKeyAlias
	keyKeyPassword      = samlsp.SettingKeyPassword
	keyEntityID         = samlsp.SettingEntityID
	keyEntityBaseURL    = samlsp.SettingEntityBaseURL
	keyUserIDSource     = samlsp.SettingUserIDSource
	keyUserIDAttribute  = samlsp.SettingUserIDAttribute
	keyRoleMechanism    = samlsp.SettingRoleMechanism
	keyRoleAttribute    = samlsp.SettingRoleAttribute
	keyRoleAdminValues  = samlsp.SettingRoleAdminValues
	keyRoleUserValues   = samlsp.SettingRoleUserValues
	keyScriptPath       = samlsp.SettingScriptPath
	// keyResponseBinding has no constant in the SP, which reads only the
	// HTTP-POST binding's responses.
	keyResponseBinding = "SAML_RESPONSE_BINDING"
)

// IdP is what the IdP's metadata says.
type IdP = samlsp.IdP

// settingsError is a setting CM would refuse on save.
type settingsError = samlsp.SettingsError

var (
	parseIdPMetadata = samlsp.ParseIdPMetadata
	checkXML         = samlsp.CheckXML
	signingCerts     = samlsp.SigningCerts
	decodeRedirect   = samlsp.DecodeRedirect
)

// spConfig runs the SP's own settings reader over the wanted settings: it
// opens the keystore, finds the key and reads the metadata as CM does when
// the settings are saved.
func spConfig(m mapSettings, baseURL string) (samlsp.Config, error) {
	return samlsp.ConfigFromSettings(m, baseURL, nil)
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
