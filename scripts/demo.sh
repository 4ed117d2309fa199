#!/usr/bin/env bash
# Installs what is missing, builds Baton and runs the demo gateway on 127.0.0.1:8080
# (state under ./.baton, the demo agent answering after 2 s, "alice" an admin).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --product baton
echo "demo: open http://${BATON_LISTEN:-127.0.0.1:8080}/ in a browser (type alice as the user to get the Restart button)" >&2
exec env BATON_ADMINS="${BATON_ADMINS:-alice}" .build/debug/baton serve "$@"
