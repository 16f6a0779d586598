// Package remotetest gives tests SSH hosts on 127.0.0.1: an in-process
// x/crypto/ssh server that runs commands with /bin/sh (unit tests), and a
// real OpenSSH sshd started with its own config, host key and port (the
// integration tests), plus keys and known_hosts files for them. Everything
// a test starts is stopped by t.Cleanup.
package remotetest
