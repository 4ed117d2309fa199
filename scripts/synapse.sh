#!/usr/bin/env bash
# Installs Synapse, the Matrix homeserver the Matrix tests and benchmark talk to, into a
# virtual environment under .venv-synapse/ (git-ignored), at the version pinned in
# scripts/synapse-requirements.txt; reused while the pin is unchanged. Prints the
# environment's python path. The tests start their own Synapse from it.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=scripts/synapse-requirements.txt
venv=.venv-synapse
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
    echo "synapse: installing $(grep -v '^#' "$requirements") into $venv" >&2
    scripts/setup.sh python3 python3-venv >&2
    rm -rf "$venv"
    # Debian's python3, whatever python3 comes first in PATH.
    /usr/bin/python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2
    cp "$requirements" "$venv/requirements.txt"
fi
echo "$PWD/$venv/bin/python"
