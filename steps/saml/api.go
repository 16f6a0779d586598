package saml

import (
	"context"
	"errors"
	"net/http"

	"github.com/cmtls/cmtls/remote/cmapi"
)

// API is the part of the CM REST API the SAML steps use. Shapes and paths
// are CM's own (API v45 definition): /cm/config, /externalUserMappings,
// /users/{userName} and /users/sessions.
type API interface {
	// Config is GET /cm/config?view=full.
	Config(ctx context.Context) ([]cmapi.ConfigItem, error)
	// SetConfig is PUT /cm/config; an empty value resets to the default.
	SetConfig(ctx context.Context, items map[string]string) error

	// ExternalUserMappings is GET /externalUserMappings; a CM without
	// them answers 404 (*cmapi.APIError).
	ExternalUserMappings(ctx context.Context) ([]ExternalUserMapping, error)
	// CreateExternalUserMappings is POST /externalUserMappings; it
	// returns the mappings as CM stored them (with their uuids).
	CreateExternalUserMappings(ctx context.Context, ms []ExternalUserMapping) ([]ExternalUserMapping, error)
	// UpdateExternalUserMapping is PUT /externalUserMappings/{m.UUID}.
	UpdateExternalUserMapping(ctx context.Context, m ExternalUserMapping) error
	// DeleteExternalUserMapping is DELETE /externalUserMappings/{uuid}.
	DeleteExternalUserMapping(ctx context.Context, uuid string) error

	// User is GET /users/{userName}; an unknown user is a 404.
	User(ctx context.Context, name string) (User, error)
	// Sessions is GET /users/sessions: the interactive sessions CM has.
	Sessions(ctx context.Context) ([]Session, error)
}

// CM's own shapes, as the API client reads and writes them.
type (
	ExternalUserMapping = cmapi.ExternalUserMapping
	AuthRoleRef         = cmapi.AuthRoleRef
	User                = cmapi.User
	Session             = cmapi.Session
)

// Mapping types of the SAML role models (ApiExternalUserMappingType) and
// the built-in roles they grant.
const (
	MappingSAMLAttribute = cmapi.MappingSAMLAttribute // name = an attribute value
	MappingSAMLScript    = cmapi.MappingSAMLScript    // name = the script's exit code
	RoleAdmin            = "ROLE_ADMIN"
	RoleUser             = "ROLE_USER"
)

// isNotFound reports whether err is CM answering 404: the endpoint or the
// object is not there.
func isNotFound(err error) bool {
	var ae *cmapi.APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

func roleNames(rs []AuthRoleRef) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}
