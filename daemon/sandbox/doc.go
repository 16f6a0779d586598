// Package sandbox starts and stops a whole local Cloudera Manager cluster
// on 127.0.0.1: the embedded server, N agent hosts (each with its own root
// holding etc/cloudera-scm-agent/config.ini, log and pid), one SSH
// endpoint per host and a test SAML IdP process (daemon/idp) with three
// users, and writes the answers files `cmtls init` and `cmtls saml
// configure` accept as they are (saml-answers.yaml again for the https
// console once init turned console TLS on: WriteSAMLAnswers). It also
// holds the service-script process control (start detached, pid files,
// stop only what is ours) that `cmtls daemon` uses.
package sandbox
