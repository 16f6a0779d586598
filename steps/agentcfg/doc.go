// Package agentcfg is the per-agent-host unit of Steps 3 and 5 of the TLS
// procedure: put the server's PEM certificate on the host, set [Security]
// use_tls and verify_cert_file in the agent's config.ini (changing only
// those lines), restart the agent when something changed, and check it.
//
// Plan is read-only (one remote command, which also takes the host's lock
// when Spec.Lock is set); Apply does the writes, the restart, the check and
// the unlock in one more remote command, journaling every file it writes;
// Restore/RestoreWith undo the most recent run (or all) from the journal,
// refusing files edited since unless forced. Fan-out over many hosts, canaries and
// reporting belong to the caller (cmd/agents.go, the init runner).
package agentcfg
