#!/usr/bin/env bash
# Installs what building and testing Ariadne need on a fresh machine, and nothing that is there:
#   - zlib and zstd headers (Debian zlib1g-dev, libzstd-dev) and pkg-config, for gzip bodies
#     and block compression;
#   - a Python venv in .venv with the real OpenTelemetry clients used by the end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
[ -f /usr/include/zstd.h ] || missing+=(libzstd-dev)
command -v pkg-config >/dev/null || missing+=(pkg-config)
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]} with apt-get"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

if [ "${1:-}" = "--python" ]; then
    stamp=.venv/.requirements-installed
    if [ ! -f "$stamp" ] || ! cmp -s Tests/e2e/requirements.txt "$stamp"; then
        echo "setup: installing Python test clients into .venv"
        python3 -m venv .venv
        .venv/bin/pip install -q --disable-pip-version-check -r Tests/e2e/requirements.txt
        cp Tests/e2e/requirements.txt "$stamp"
    fi
fi
