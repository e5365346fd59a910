#!/usr/bin/env bash
# Installs what building and testing Ariadne need on a fresh machine, and nothing that is there:
#   - zlib, zstd and NATS client headers (Debian zlib1g-dev, libzstd-dev, libnats-dev) and
#     pkg-config, for gzip bodies, block compression and the JetStream buffer of the cluster roles;
#   - with --python: a Python venv in .venv with the real OpenTelemetry clients and selenium used
#     by the end-to-end tests, and headless Chromium with its driver (Debian chromium,
#     chromium-driver) for the web UI test, and Prometheus (Debian prometheus: promtool and a
#     server that scrapes /metrics in the analytics test), and clickhouse-server (Debian's 18.16)
#     for the ClickHouse store's tests, and nats-server (Debian's 2.9, with JetStream) for the
#     cluster's tests; and a second venv, .venv-legacy, with
#     the legacy Jaeger clients (jaeger-client, the OTel Jaeger Thrift exporter), which need an
#     older OpenTelemetry SDK;
#   - with --demo: the NATS server and demo/.venv with Flask and OpenTelemetry's zero-code instrumentation, for the demo application.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

missing=()
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
[ -f /usr/include/zstd.h ] || missing+=(libzstd-dev)
[ -f /usr/include/nats/nats.h ] || missing+=(libnats-dev)
command -v pkg-config >/dev/null || missing+=(pkg-config)
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]} with apt-get"
    apt_install "${missing[@]}"
fi

if [ "${1:-}" = "--python" ]; then
    if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
        echo "setup: installing chromium and chromium-driver with apt-get (web UI test)"
        apt_install chromium chromium-driver
    fi
    if ! command -v clickhouse-server >/dev/null; then
        echo "setup: installing clickhouse-server with apt-get (the ClickHouse store's tests start it on loopback)"
        apt_install --no-install-recommends clickhouse-server
    fi
    if ! command -v nats-server >/dev/null; then
        echo "setup: installing nats-server with apt-get (the cluster tests start JetStream on loopback)"
        apt_install --no-install-recommends nats-server
    fi
    if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
        echo "setup: installing prometheus with apt-get (promtool and a real scrape in the analytics test)"
        apt_install --no-install-recommends prometheus
    fi
    stamp=.venv/.requirements-installed
    if [ ! -f "$stamp" ] || ! cmp -s Tests/e2e/requirements.txt "$stamp"; then
        echo "setup: installing Python test clients into .venv"
        python3 -m venv .venv
        .venv/bin/pip install -q --disable-pip-version-check -r Tests/e2e/requirements.txt
        cp Tests/e2e/requirements.txt "$stamp"
    fi
    stamp=.venv-legacy/.requirements-installed
    if [ ! -f "$stamp" ] || ! cmp -s Tests/e2e/requirements-legacy.txt "$stamp"; then
        echo "setup: installing legacy Jaeger clients into .venv-legacy"
        python3 -m venv .venv-legacy
        .venv-legacy/bin/pip install -q --disable-pip-version-check -r Tests/e2e/requirements-legacy.txt
        cp Tests/e2e/requirements-legacy.txt "$stamp"
    fi
fi

if [ "${1:-}" = "--demo" ]; then
    if ! command -v nats-server >/dev/null; then
        echo "setup: installing nats-server with apt-get (the demo's queue)"
        apt_install nats-server
    fi
    stamp=demo/.venv/.requirements-installed
    if [ ! -f "$stamp" ] || ! cmp -s demo/requirements.txt "$stamp"; then
        echo "setup: installing the demo's Python service into demo/.venv"
        python3 -m venv demo/.venv
        demo/.venv/bin/pip install -q --disable-pip-version-check -r demo/requirements.txt
        cp demo/requirements.txt "$stamp"
    fi
fi
