#!/usr/bin/env bash
# Runs Baton's benchmarks (bench/README.md): restart under load and a SIGKILL loop under a
# real systemd user manager, drain exit latency, throughput and latency against a bare
# Hummingbird endpoint, the SQLite store alone against python's sqlite3 doing the same
# writes, the gateway alone over a store that keeps nothing, 10,000 sessions in flight,
# startup with a 100,000-message store, and Matrix (a person's message to the reply in their room, against a bare echo bot on a
# real Synapse; nothing lost or doubled over restarts and SIGKILLs), and three processes on
# PostgreSQL behind HAProxy, each restarted in turn and one SIGKILLed.
# Installs what it needs, release-builds `baton`, `bare-server`, `store-bench` and `gateway-bench`, prints a table of
# figures and writes it under bench/results/ (git-ignored).
#
#   scripts/bench.sh                      # everything (about 7 minutes on 2 cores, and the build)
#   scripts/bench.sh throughput startup   # some of them
#   scripts/bench.sh --quick              # fewer runs, to try things out
#   scripts/bench.sh --smoke              # every benchmark once, tiny loads, debug build (CI)
#
# Exits non-zero when a benchmark cannot run or a correctness figure (unanswered, lost,
# duplicated, refused, failed…) is not 0; never because of a speed figure.
# With BENCH_BATON and BENCH_BARE both set, those binaries are used and nothing is built
# (`store-bench` and `gateway-bench` are taken from BENCH_BATON's folder, or BENCH_STORE and BENCH_GATEWAY).
#
# Needs root: the restart and killloop benchmarks run systemd --user in a private mount
# namespace. All load goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh wrk python3 util-linux procps systemd strace haproxy postgresql
if [ "$(id -u)" -ne 0 ]; then
    echo "bench: needs root (a private mount namespace for the systemd user manager)" >&2
    exit 1
fi

smoke=no
for argument in "$@"; do
    [ "$argument" = "--smoke" ] && smoke=yes
done
if [ -n "${BENCH_BATON:-}" ] && [ -n "${BENCH_BARE:-}" ]; then
    echo "bench: using BENCH_BATON=$BENCH_BATON and BENCH_BARE=$BENCH_BARE (no build)" >&2
elif [ "$smoke" = yes ]; then
    # Correctness only: the debug build the tests use is enough. The same command as
    # scripts/test.sh, so that after the tests (CI) it builds nothing: `--product baton`
    # would build the dependencies again without testability.
    echo "bench: debug build, as scripts/test.sh does (SwiftPM may wait for a lock)" >&2
    swift build --build-tests
    export BENCH_BATON="$PWD/.build/debug/baton" BENCH_BARE="$PWD/.build/debug/bare-server"
else
    echo "bench: release build of baton, bare-server, store-bench and gateway-bench (SwiftPM may wait for a lock)" >&2
    swift build -c release --product baton
    swift build -c release --product bare-server
    swift build -c release --product store-bench
    swift build -c release --product gateway-bench
    export BENCH_BATON="$PWD/.build/release/baton" BENCH_BARE="$PWD/.build/release/bare-server"
fi
# Synapse for the Matrix benchmark (a virtual environment under .venv-synapse/, reused).
export BENCH_SYNAPSE_PYTHON="${BENCH_SYNAPSE_PYTHON:-$(scripts/synapse.sh)}"
# Debian's python3, installed above; the benchmarks use its standard library only.
exec /usr/bin/python3 bench/run.py "$@"
