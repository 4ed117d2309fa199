#!/usr/bin/env bash
# Installs what the browser test (Tests/Browser/page_test.py) needs: Debian's chromium
# and chromium-driver, and Selenium (pinned in Tests/Browser/requirements.txt) in a
# virtual environment under .venv-test/ (git-ignored). Safe to run again: it installs
# only what is missing, and rebuilds the environment only when the pin changes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh chromium chromium-driver python3-venv

requirements=Tests/Browser/requirements.txt
venv=.venv-test
if [ -x "$venv/bin/python" ] && cmp -s "$requirements" "$venv/requirements.txt"; then
    exit 0
fi
echo "browser-setup: Selenium into $venv"
rm -rf "$venv"
# Debian's python3 (installed above), whatever python3 comes first in PATH.
/usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements"
cp "$requirements" "$venv/requirements.txt"
