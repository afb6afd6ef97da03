#!/bin/sh
# systemd-analyze (Debian package systemd) for tests/unit/test_deploy_files.py: it checks the
# unit in deploy/ with `systemd-analyze verify`. Nothing runs systemd; idempotent. Needs root or
# sudo for apt-get.
set -eu
if ! command -v systemd-analyze >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends systemd
fi
