#!/bin/sh
# Writes an answers file for `cmtls agents push` from a benchmark fleet's
# description, the way the fleet harness's cmtls contestant does:
#
#   BENCH_HOSTS_FILE   one host name per line
#   BENCH_SSH_CONFIG   OpenSSH client config for those names
#   BENCH_IDENTITY     the client key
#   BENCH_KNOWN_HOSTS  known_hosts with every host's key
#
# usage: bench/answers-from-fleet.sh [PARALLELISM] > answers.yaml
#        cmtls agents push --answers answers.yaml --pem server.pem --yes
set -eu
: "${BENCH_HOSTS_FILE:?} ${BENCH_SSH_CONFIG:?} ${BENCH_IDENTITY:?} ${BENCH_KNOWN_HOSTS:?}"
echo "version: 1"
echo "agents:"
echo "  hosts:"
sed 's/^/    - /' "$BENCH_HOSTS_FILE"
echo "  ssh:"
echo "    user: root"
echo "    config: $BENCH_SSH_CONFIG"
echo "    identity_file: $BENCH_IDENTITY"
echo "    known_hosts: $BENCH_KNOWN_HOSTS"
echo "  pem_dest: /etc/cmf/server.pem"
echo "  config_path: /etc/cloudera-scm-agent/config.ini"
echo "  restart_command: systemctl restart cloudera-scm-agent"
echo "  check_command: systemctl is-active cloudera-scm-agent"
echo "  parallelism: ${1:-50}"
echo "  canary: 0"
echo "tls:"
echo "  agent_encryption: true"
