package cmserver

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Profile is the Cloudera Manager release the server imitates: its version,
// the highest REST API version it serves, and the models that differ
// between releases.
type Profile struct {
	// Version is the CM release (GET /api/vN/cm/version).
	Version string
	// API is the highest API version served (/api/version); every version
	// from v1 up to it answers, as in CM.
	API int
	// ExternalUserMappings: SAML roles are mapped by /externalUserMappings
	// (API v19 and later, "This is the model for external user mapping
	// information in the API, v19 and beyond" in CM's API definition);
	// false keeps the older settings "SAML Attribute Values for ROLE_ADMIN"
	// and "... ROLE_USER".
	ExternalUserMappings bool
	// CommandStatus is the status of a command POST and ConfigPutStatus
	// the one of PUT /cm/config (v45: 201 and 204; the latter then has no
	// body, where older releases answer 200 with the updated list).
	CommandStatus, ConfigPutStatus int
}

// DefaultVersion is the profile `cmtls sandbox up` uses unless told.
const DefaultVersion = "7.5.3"

// LegacyVersion is the profile of a Config or server config file that
// names none: the CM 5 settings model the server served before profiles.
const LegacyVersion = "5.13.0"

// profiles are the releases served. Sources: Cloudera's "Using the Cloudera
// Manager API" page of the CM 7.5.2 documentation ("Current API version:
// v45", the 7.5 line), CM's own v45 definition for the statuses; the
// Cloudera Manager API 5.16.2 Java client reference ("API version 18,
// introduced in Cloudera Manager 5.13.0"; v19 in 5.14.0 brought external
// user mappings).
var profiles = []Profile{
	{Version: "7.5.3", API: 45, ExternalUserMappings: true, CommandStatus: http.StatusCreated, ConfigPutStatus: http.StatusNoContent},
	{Version: "5.13.0", API: 18, CommandStatus: http.StatusOK, ConfigPutStatus: http.StatusOK},
}

// Profiles lists the releases the server imitates.
func Profiles() []Profile { return append([]Profile(nil), profiles...) }

// ProfileError is an unknown --cm-version: bad input.
type ProfileError struct{ Version string }

func (e *ProfileError) Error() string {
	return fmt.Sprintf("no emulator profile for Cloudera Manager %q", e.Version)
}

// BadInput marks the error as bad input.
func (e *ProfileError) BadInput() bool { return true }

// Hint names the profiles there are.
func (e *ProfileError) Hint() string { return "use one of " + ProfileNames() }

// ProfileNames lists the profile versions, comma-separated.
func ProfileNames() string {
	var names []string
	for _, p := range profiles {
		names = append(names, p.Version)
	}
	return strings.Join(names, ", ")
}

// LookupProfile returns the profile of CM release v ("" is LegacyVersion).
func LookupProfile(v string) (Profile, error) {
	if v == "" {
		v = LegacyVersion
	}
	for _, p := range profiles {
		if p.Version == v {
			return p, nil
		}
	}
	return Profile{}, &ProfileError{Version: v}
}

// APIVersion is the profile's highest API version ("v45").
func (p Profile) APIVersion() string { return fmt.Sprintf("v%d", p.API) }

// hasSetting reports whether the release has the setting: CM 6/7 map SAML
// roles with external user mappings and have no "SAML Attribute Values for
// ROLE_*" settings.
func (p Profile) hasSetting(name string) bool {
	if !p.ExternalUserMappings {
		return true
	}
	n := strings.ToUpper(name)
	return n != SAMLRoleAdminValues && n != SAMLRoleUserValues
}

// DefaultCommandDuration is how long a command stays active before it ends.
const DefaultCommandDuration = 300 * time.Millisecond
