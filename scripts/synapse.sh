#!/usr/bin/env bash
# Installs Synapse, the Matrix homeserver the Matrix tests and benchmark talk to, into a
# virtual environment under .venv-synapse/ (git-ignored; reused when it is already there).
# Prints the environment's python path. The tests start their own Synapse from it.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-synapse
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import synapse' 2>/dev/null; then
    echo "synapse: installing matrix-synapse into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2 || { scripts/setup.sh python3-venv >&2; python3 -m venv "$venv" >&2; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check matrix-synapse >&2
fi
echo "$PWD/$venv/bin/python"
