// Package cmapi is a small client of the Cloudera Manager REST API subset
// cmtls needs: the API version, the CM version, the hosts list with their
// last heartbeat and health, the CM configuration (read, update) and the
// management service restart command. It speaks to a real CM and to the
// embedded server in daemon/cmserver alike.
//
// It does not log and never prints the password; the SESSION cookie the
// server sets is kept in the client's cookie jar.
package cmapi
