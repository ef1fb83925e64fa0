#!/usr/bin/env bash
# Install the third-party servers the tests run against: Prometheus (Debian's
# package) for tests/observability/test_prometheus_server.py. Needs root and
# apt-get; elsewhere it says so and leaves the test to skip (or to fail where
# SMG_REQUIRE_PROMETHEUS=1, as in CI).
set -euo pipefail

if command -v prometheus >/dev/null; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
    echo "install-test-services: prometheus missing and apt-get unavailable as root;" \
        "its tests will skip" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# --no-install-recommends keeps the node exporter and web assets out; the
# package's service is not started inside containers without an init system.
apt-get install -y -q --no-install-recommends prometheus >/dev/null
prometheus --version 2>&1 | head -1
