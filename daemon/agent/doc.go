// Package agent is the embedded stand-in for the Cloudera Manager agent:
// it reads the real config.ini layout, heartbeats to
// server_host:server_port on an interval, speaks TLS when use_tls=1 and
// checks the server's certificate exactly as the real agent does (no
// check at all without verify_cert_file/verify_cert_dir; otherwise chain,
// validity, max_cert_depth and server_host as written against the SAN,
// else the CN), and writes the real agent's log lines so that users and
// tests can match them.
//
// Writing config.ini is not here (see steps/ini); this package only reads it.
package agent
