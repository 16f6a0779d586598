// Package cmapi is a small client of the Cloudera Manager REST API subset
// cmtls needs: the API version (always asked from /api/version unless
// pinned), the CM version, the hosts with their last heartbeat and health,
// the CM and Management Service configuration (read, update; PUT answers
// 204 in API v45), commands (asynchronous: every command method returns
// once its command ended, WaitCommand polls /commands/{id}), external user
// mappings, auth roles, users and their sessions, and the TLS console URL
// learnt from the redirect CM sends. It speaks to a real CM and to the
// embedded server in daemon/cmserver alike; package cmapitest judges its
// exchanges against CM's published API definition.
//
// It does not log and never prints the password; the SESSION cookie the
// server sets is kept in the client's cookie jar.
package cmapi
