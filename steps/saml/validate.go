package saml

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
)

// mapSettings lets the SP's own settings reader run the step 13 checks on
// the answers before anything is written.
type mapSettings map[string]string

func (m mapSettings) Get(n string) string { return m[n] }

// wanted lists the settings by display name, with the key the SP's
// settings reader takes, from the answers. The role values are settings
// only in the CM 5 model (roleSettings); CM 6/7 map roles with external
// user mappings instead.
func wanted(f *answers.File, roleSettings bool) ([]Setting, mapSettings) {
	s := f.SAML
	ks := s.Keystore
	keyPass := ks.KeyPassword.Value()
	if len(keyPass) == 0 {
		keyPass = ks.Password.Value()
	}
	userFrom, userAttr := "ATTRIBUTE", defaultUserAttribute
	if s.UserID != nil {
		if strings.EqualFold(s.UserID.From, "nameid") {
			userFrom = "NAMEID"
		}
		if s.UserID.Attribute != "" {
			userAttr = s.UserID.Attribute
		}
	}
	roleFrom, roleAttr, admin, user, script := "ATTRIBUTE", defaultRoleAttribute, "", "", ""
	if r := s.Role; r != nil {
		if strings.EqualFold(r.From, "script") {
			roleFrom = "SCRIPT"
			script = f.ExpandPath(r.Script)
		}
		if r.Attribute != "" {
			roleAttr = r.Attribute
		}
		admin, user = strings.Join(r.AdminValues, ","), strings.Join(r.UserValues, ",")
	}
	list := []struct {
		key, display, value string
		sensitive           bool
	}{
		{keyExternalAuthType, "External Authentication Type", "SAML", false},
		{keyIdPMetadataPath, "Path to SAML IDP Metadata File", f.ExpandPath(s.IdPMetadata), false},
		{keyKeystorePath, "Path to SAML Keystore File", f.ExpandPath(ks.Path), false},
		{keyKeystorePassword, "SAML Keystore Password", string(ks.Password.Value()), true},
		{keyKeyAlias, "Alias of SAML Sign/Encrypt Private Key", ks.Alias, false},
		{keyKeyPassword, "SAML Sign/Encrypt Private Key Password", string(keyPass), true},
		{keyEntityID, "SAML Entity ID", cmp.Or(s.EntityID, defaultEntityID), false},
		{keyEntityBaseURL, "SAML Entity Base URL", strings.TrimRight(s.EntityBaseURL, "/"), false},
		// Written explicitly: CM offers HTTP-POST and HTTP-Artifact and
		// its default is not documented; many IdPs (Okta, Entra ID) have
		// no artifact binding.
		{keyResponseBinding, "SAML Response Binding", cmp.Or(s.ResponseBinding, "HTTP-POST"), false},
		{keyUserIDSource, "Source of User ID in SAML Response", userFrom, false},
		{keyUserIDAttribute, "SAML Attribute Identifier for User ID", userAttr, false},
		{keyRoleMechanism, "SAML Role Assignment Mechanism", roleFrom, false},
		{keyRoleAttribute, "SAML Attribute Identifier for User Role", roleAttr, false},
		{keyRoleAdminValues, "SAML Attribute Values for ROLE_ADMIN", admin, false},
		{keyRoleUserValues, "SAML Attribute Values for ROLE_USER", user, false},
		{keyScriptPath, "Path to SAML Script", script, false},
	}
	var out []Setting
	m := mapSettings{}
	for _, it := range list {
		m[it.key] = it.value
		if it.value == "" && it.key == keyEntityBaseURL {
			continue // empty: CM derives it; leave the server's value alone
		}
		if !roleSettings && (it.key == keyRoleAdminValues || it.key == keyRoleUserValues) {
			continue
		}
		out = append(out, Setting{DisplayName: it.display, New: it.value, Sensitive: it.sensitive})
	}
	return out, m
}

// Validate runs the seed's step 13 checks on the answers, before anything
// changes: the metadata parses and has signing certificates and an SSO URL,
// the keystore opens with its password, the alias is a private key, the key
// password is right, and a role script exists and is executable.
func Validate(f *answers.File) (*IdP, error) {
	_, m := wanted(f, true)
	base := cmp.Or(m[keyEntityBaseURL], consoleBase(f))
	cfg, err := spConfig(m, base)
	if err != nil {
		return nil, validationError(m, err)
	}
	idp, err := parseIdPMetadata(cfg.IdPMetadata)
	if err != nil {
		return nil, validationError(m, &settingsError{Setting: "Path to SAML IDP Metadata File", Err: err})
	}
	return idp, nil
}

// validationError turns a setting CM would refuse into the error the
// operator reads: it names the answers key that set it and, for the two
// files, says whether the file is missing, not metadata or not executable,
// with the fix for that case.
func validationError(m map[string]string, err error) error {
	e := inputErr(StepValidate, err, "")
	var se *settingsError
	if !errors.As(err, &se) {
		return e
	}
	missing := errors.Is(err, os.ErrNotExist)
	switch se.Setting {
	case "Path to SAML IDP Metadata File":
		p := m[keyIdPMetadataPath]
		e.Err = fmt.Errorf("saml.idp_metadata: %w", err)
		if missing {
			e.Fix = fmt.Sprintf("%s does not exist: download the IdP's SAML metadata XML there, or correct saml.idp_metadata", p)
		} else {
			e.Fix = fmt.Sprintf("%s is not usable IdP metadata: download the metadata XML again from the IdP (one IdPSSODescriptor with a signing certificate and a SingleSignOnService) and point saml.idp_metadata at it", p)
		}
	case "Path to SAML Script":
		p := m[keyScriptPath]
		e.Err = fmt.Errorf("saml.role.script: %w", err)
		if missing {
			e.Fix = fmt.Sprintf("%s does not exist: install the role script there, or correct saml.role.script", p)
		} else {
			e.Fix = fmt.Sprintf("chmod +x %s (CM runs it with the user ID as $1: exit 0 admin, 1 user)", p)
		}
	}
	return e
}

// consoleBase is the console URL browsers use: the entity base URL, else
// the API URL's origin.
func consoleBase(f *answers.File) string {
	if f.SAML != nil && f.SAML.EntityBaseURL != "" {
		return strings.TrimRight(f.SAML.EntityBaseURL, "/")
	}
	return apiOrigin(f)
}

// apiOrigin is server.api.url's scheme and host.
func apiOrigin(f *answers.File) string {
	if f.Server == nil || f.Server.API == nil {
		return ""
	}
	u, err := url.Parse(f.Server.API.URL)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func (p *Procedure) planValidate(_ context.Context, env *steps.Env) (steps.Change, error) {
	idp, err := Validate(env.Answers)
	if err != nil {
		return steps.Change{}, err
	}
	p.mu.Lock()
	p.idp = idp
	p.mu.Unlock()
	return steps.Change{Notes: []string{validated(idp)}}, nil
}

func validated(idp *IdP) string {
	return fmt.Sprintf("IdP %s: %d signing certificate(s), SSO %s", idp.EntityID, len(idp.SigningCerts), cmp.Or(idp.SSORedirect, idp.SSOPost))
}

// verifyValidate says what was validated; the checks ran in the plan,
// before anything changed.
func (p *Procedure) verifyValidate(_ context.Context, env *steps.Env) error {
	p.mu.Lock()
	idp := p.idp
	p.mu.Unlock()
	if idp == nil {
		var err error
		if idp, err = Validate(env.Answers); err != nil {
			return err
		}
	}
	progress(env, StepValidate, validated(idp))
	return nil
}
