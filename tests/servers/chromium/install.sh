#!/bin/sh
# Debian's chromium for tests/integration/test_site.py (headless --dump-dom of the static site).
# Idempotent: does nothing when /usr/bin/chromium exists. Needs root or sudo for apt-get.
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y chromium
