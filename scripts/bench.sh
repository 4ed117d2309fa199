#!/usr/bin/env bash
# Runs Baton's benchmarks (bench/README.md): restart under load under a real systemd user
# manager, drain exit latency, throughput and latency against a bare Hummingbird
# endpoint, 10,000 sessions in flight, and startup with a 100,000-message store.
# Installs what it needs, release-builds `baton` and `bare-server`, prints a table of
# figures and writes it under bench/results/ (git-ignored).
#
#   scripts/bench.sh                      # everything (about 10 minutes on 2 cores)
#   scripts/bench.sh throughput startup   # some of them
#   scripts/bench.sh --quick              # fewer runs, to try things out
#
# Needs root: the restart benchmark runs systemd --user in a private mount namespace.
# All load goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh wrk python3 util-linux procps systemd strace
if [ "$(id -u)" -ne 0 ]; then
    echo "bench: needs root (a private mount namespace for the systemd user manager)" >&2
    exit 1
fi

echo "bench: release build of baton and bare-server (SwiftPM may wait for a lock)" >&2
swift build -c release --product baton
swift build -c release --product bare-server

export BENCH_BATON="$PWD/.build/release/baton" BENCH_BARE="$PWD/.build/release/bare-server"
# Debian's python3, installed above; the benchmarks use its standard library only.
exec /usr/bin/python3 bench/run.py "$@"
