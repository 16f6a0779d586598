// Package daemon holds the embedded stand-ins for Cloudera Manager's server
// and agents, which carry the real TLS and SAML traffic on one machine, and
// the sandbox that starts a whole local cluster.
package daemon
