#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster on a loopback port, then removes it.
# The command sees QN_BOT_TEST_POSTGRES_URL (a superuser URL on which tests create their own
# databases). initdb refuses to run as root, so as root the cluster belongs to a dedicated
# unprivileged user.
set -euo pipefail
bindir=$(dirname "$(ls -1 /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
owner=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
  owner=qnbot-pg
  id -u "$owner" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$owner"
fi
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u "$owner" -- "$@"; else "$@"; fi; }

dir=$(mktemp -d /tmp/qn-pg.XXXXXX)
chown "$owner" "$dir"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
  as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
# fsync off: a test cluster need not survive a power cut, and it makes the suite faster.
as_owner "$bindir/pg_ctl" -D "$dir/data" -w -l "$dir/log" \
  -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
  start >/dev/null

export QN_BOT_TEST_POSTGRES_URL="postgresql+asyncpg://postgres@127.0.0.1:$port/postgres"
"$@"
