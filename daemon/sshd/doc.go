// Package sshd is a small embedded SSH server for sandbox hosts: public-key
// authentication against one authorised key, `exec` requests run with
// /bin/sh -c (stdin, stdout, stderr and the exit status carried over the
// channel) and the "sftp" subsystem served by pkg/sftp. One process serves
// every sandbox host, each on its own 127.0.0.1 port with its own host key
// and working directory. It is a test stand-in, not a hardened sshd: no
// pty, no shell, no forwarding.
package sshd
