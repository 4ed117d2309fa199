#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: Debian's `postgresql` package, a cluster
# made by initdb in a temporary folder and run by pg_ctl as the unprivileged user
# `nobody`, on a free port of 127.0.0.1, its socket in the same folder. Trust auth, user
# `baton`; each test creates a database of its own.
#
#   eval "$(scripts/postgres.sh up)"   # starts one; exports BATON_TEST_POSTGRES_URL and _DIR
#   scripts/postgres.sh stop|start     # stops/starts it again (BATON_TEST_POSTGRES_DIR)
#   scripts/postgres.sh down           # stops it and removes the folder
#
# The tests' cluster runs with fsync=off; BATON_POSTGRES_DURABLE=yes at `up` keeps
# fsync on (the benchmarks: a commit then costs what it costs in production).
set -euo pipefail
cd "$(dirname "$0")/.."

bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
as_owner() { runuser -u nobody -- "$@"; }

case "${1:-}" in
up)
    scripts/setup.sh postgresql util-linux >&2
    # Debian's package starts a cluster of its own; the tests do not use it.
    dir=$(mktemp -d /tmp/baton-postgres.XXXXXX)
    chown nobody:nogroup "$dir"
    chmod 700 "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$(bin)/initdb" --pgdata="$dir/data" --username=baton --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
    echo "$port" >"$dir/port"
    if [ "${BATON_POSTGRES_DURABLE:-no}" = yes ]; then echo "" >"$dir/options"; else echo "-c fsync=off" >"$dir/options"; fi
    export BATON_TEST_POSTGRES_DIR="$dir"
    "$0" start >&2
    echo "export BATON_TEST_POSTGRES_DIR=$dir"
    echo "export BATON_TEST_POSTGRES_URL=postgres://baton@127.0.0.1:$port/postgres"
    ;;
start)
    dir=${BATON_TEST_POSTGRES_DIR:?}
    as_owner "$(bin)/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait \
        --options="-p $(cat "$dir/port") -k $dir -c listen_addresses=127.0.0.1 $(cat "$dir/options") -c max_connections=300" start >/dev/null
    ;;
stop)
    dir=${BATON_TEST_POSTGRES_DIR:?}
    as_owner "$(bin)/pg_ctl" --pgdata="$dir/data" --mode=fast --wait stop >/dev/null
    ;;
down)
    dir=${BATON_TEST_POSTGRES_DIR:?}
    as_owner "$(bin)/pg_ctl" --pgdata="$dir/data" --mode=immediate --wait stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 up|start|stop|down" >&2
    exit 2
    ;;
esac
