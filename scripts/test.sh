#!/usr/bin/env bash
# Installs what the tests need and runs every test: state machines and the store, the
# HTTP API in-process, agents, the real `baton` binary (signals, exit codes) and the
# real systemd user manager (restarts, socket handoff, crashes).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh python3 util-linux procps curl
swift build --build-tests
swift test --skip-build --no-parallel "$@"
