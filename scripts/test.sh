#!/usr/bin/env bash
# Installs what the tests need and runs every test: state machines and the store, the
# HTTP API in-process, agents, the real `baton` binary (signals, exit codes), the real
# systemd user manager (restarts, socket handoff, crashes), the Matrix bot against a real
# Synapse homeserver (installed into .venv-synapse/, started per test) and the web page
# in a real headless Chromium (screenshots under test-artifacts/browser/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh python3 util-linux procps curl
scripts/browser-setup.sh
scripts/synapse.sh >/dev/null
swift build --build-tests
swift test --skip-build --no-parallel "$@"
