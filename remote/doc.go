// Package remote runs commands and moves files on agent and server hosts.
//
// What belongs here:
//   - Host, the small interface every step uses (Run, ReadFile, Stat,
//     PutFile, Close), with a local implementation (NewLocal) and an SSH one
//     (Dial / Dialer on golang.org/x/crypto/ssh): ssh-agent, identity files
//     with a passphrase callback, ~/.ssh/config (HostName, User, Port,
//     IdentityFile, UserKnownHostsFile, ProxyJump, ConnectTimeout),
//     known_hosts through skeema/knownhosts (an unknown key refused unless
//     accepted, a changed key always refused), and become=sudo with the
//     password on stdin only (requiretty handled with a pty).
//   - Batch and Read: several file writes plus commands, or several reads,
//     in ONE remote command. Writes are staged beside their target, checked,
//     backed up and renamed, so a file is the old one or the new one, never
//     a mix, whatever happens to the connection.
//   - Chainer/Next: read, decide, then write on the same SSH session, which
//     halves the sessions per host (what a fleet of hundreds pays for).
//   - History (journal.go, restore.go): a journaled write records, beside
//     the file, its before-image and the SHA-256 of what cmtls wrote;
//     PlanRestore/ApplyRestore undo the most recent run (or all of them),
//     refuse a file edited since (DriftError, with a diff) unless forced,
//     and remove directories cmtls made. Backups and the pristine .orig are
//     made exclusively, never written through an existing hard link.
//   - Lock (lock.go): an exclusive lock file on the host naming its holder,
//     waited on for a bounded time; stale ones are taken over.
//   - Stopping commands (interrupt.go): SIGTERM, then SIGKILL after a grace;
//     InFlight lets running work finish after a first interrupt.
//
// The file operations are small POSIX sh scripts shared by the local and
// SSH hosts; they need sh and GNU coreutils, present on every distribution
// Cloudera Manager supports. The login shell must accept POSIX sh syntax
// (bash, dash, ksh, zsh do).
//
// Not here: what to write (steps/agentcfg, steps), the CM API (remote/cmapi),
// inventories' formats beyond hosts (remote/inventory).
package remote
