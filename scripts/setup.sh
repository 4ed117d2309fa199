#!/usr/bin/env bash
# Installs what building Baton needs on a Debian 12 machine: libsystemd-dev and
# pkg-config (for the CSystemd module) and libsqlite3-dev (for GRDB). Extra Debian
# package names can be given as arguments. Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(libsystemd-dev pkg-config libsqlite3-dev "$@")
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
