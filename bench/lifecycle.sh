#!/bin/sh
# Times the TLS lifecycle of cmtls on a local sandbox of N agents:
#
#   init (first, level 0 -> 2), init again (nothing to do), status,
#   rollback (level 2 -> 0), and rollback again (nothing to do).
#
# usage: bench/lifecycle.sh N [CMTLS]
#   N      agents in the sandbox (e.g. 50, 200)
#   CMTLS  the binary to time (default: built from this tree into $TMPDIR)
#
# Every command must exit 0 (status after rollback exits 1: the agents are
# plain then, and status is a health check). The sandbox is stopped and
# removed at the end, also on Ctrl-C. Wall time, user and system CPU of the
# cmtls process are printed as a Markdown table. Other load on the machine
# shows in the wall times: compare rows of one run.
set -eu
n=${1:?usage: bench/lifecycle.sh N [CMTLS]}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cmtls-lifecycle.XXXXXX")
bin=${2:-}
if [ -z "$bin" ]; then
    bin=$work/cmtls
    (cd "$here" && go build -o "$bin" ./cmd/cmtls)
fi
sb=$work/sb
cleanup() { "$bin" sandbox down --dir "$sb" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM
"$bin" sandbox up --dir "$sb" --agents "$n" >"$work/up.log" 2>&1
ans=$sb/answers.yaml

row() { # name, expected exit code, args...
    name=$1 want=$2
    shift 2
    set +e
    /usr/bin/time -f "%e %U %S" -o "$work/time" "$bin" "$@" >"$work/out" 2>"$work/err"
    code=$?
    set -e
    if [ "$code" != "$want" ]; then
        echo "$name: exit $code, want $want" >&2
        tail -20 "$work/err" "$work/out" >&2
        exit 1
    fi
    read -r wall user sys <<EOT
$(tail -n 1 "$work/time")
EOT
    printf '| %s | %s | %s | %s |\n' "$name" "$wall" "$user" "$sys"
}

echo "N=$n agents, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| command | wall s | user CPU s | sys CPU s |"
echo "|---|---|---|---|"
row "init (first)" 0 init --answers "$ans" --yes
row "init (nothing to do)" 0 init --answers "$ans" --yes
row "status" 0 status --answers "$ans"
row "rollback" 0 rollback --answers "$ans" --yes
row "rollback (nothing to do)" 0 rollback --answers "$ans" --yes
row "status (plain)" 1 status --answers "$ans"
