#!/usr/bin/env bash
# Installs Debian's PostgreSQL server when it is missing (idempotent). The tests start their own
# throwaway cluster with with-postgres.sh; the system service is not used.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "PostgreSQL is not installed: run 'apt-get install postgresql' as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
