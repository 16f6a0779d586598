// Package remote runs commands and moves files on agent and server hosts:
// a small Host interface with an SSH implementation (known_hosts checked by
// default, ssh-agent, identity files, ~/.ssh/config, sudo) and a local one,
// plus a bounded fan-out that returns per-host results.
package remote
