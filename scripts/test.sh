#!/usr/bin/env bash
# Installs what the tests need and runs every test: state machines and the store, the
# HTTP API in-process, agents, the real `baton` binary (signals, exit codes), the real
# systemd user manager (restarts, socket handoff, crashes), the Matrix bot against a real
# Synapse homeserver (installed into .venv-synapse/, started per test) and the web page
# in a real headless Chromium (screenshots under test-artifacts/browser/), and several
# processes on a throwaway PostgreSQL cluster (scripts/postgres.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# systemd: the tests run real user managers (the unit, restarts, socket handoff).
scripts/setup.sh python3 util-linux procps curl systemd
scripts/browser-setup.sh
scripts/synapse.sh >/dev/null
# A throwaway PostgreSQL for the cluster tests, removed when the tests end. Read first,
# then evaluated: a failed start stops the run here (`eval "$(…)"` would carry on).
postgres=$(scripts/postgres.sh up)
eval "$postgres"
trap 'scripts/postgres.sh down' EXIT
swift build --build-tests
swift test --skip-build --no-parallel "$@"
