// Package sandbox starts and stops a whole local Cloudera Manager cluster
// on 127.0.0.1: the embedded server, N agent hosts (each with its own root
// holding etc/cloudera-scm-agent/config.ini, log and pid) and one SSH
// endpoint per host, and writes the answers file `cmtls init` accepts as
// it is. It also holds the service-script process control (start detached,
// pid files, stop only what is ours) that `cmtls daemon` uses.
package sandbox
