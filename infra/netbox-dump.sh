#!/usr/bin/env bash
# netbox-dump.sh [OUT] - the database of a freshly migrated NetBox, as a compressed PostgreSQL dump
# (default infra/netbox-<version>.dump), so `make test` restores it in seconds instead of running
# NetBox's migrations (10-15 minutes on a 2-core machine). Run it again for a new NetBox version
# (NB_VERSION): it brings up a NetBox of its own with infra/netbox-up.sh in a temporary root, lets
# `netbox upgrade` run every migration for real, dumps the database before any user, token or
# object exists, and stops what it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
NB_VERSION="${NB_VERSION:-4.7.3}"
OUT="${1:-infra/netbox-$NB_VERSION.dump}"
ROOT="$(mktemp -d /var/tmp/nzj-netbox-dump.XXXXXX)"
chmod 755 "$ROOT"
trap 'NB_ROOT="$ROOT" infra/netbox-down.sh >/dev/null 2>&1 || true; rm -rf "$ROOT"' EXIT

start=$SECONDS
# Migrations only: NB_MIGRATE_ONLY stops netbox-up.sh after `netbox upgrade` (no users, no servers).
NB_VERSION="$NB_VERSION" NB_ROOT="$ROOT" NB_PGPORT="$(infra/free-port.sh)" NB_REDIS_PORT="$(infra/free-port.sh)" \
  NB_PORT="$(infra/free-port.sh)" NB_MIGRATE_ONLY=1 NB_RESTORE=0 infra/netbox-up.sh >&2
port="$(cat "$ROOT/run/pgport")"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg pg_dump -Fc -Z 9 --no-owner --no-privileges -h "$ROOT/pg" -p "$port" -U postgres netbox > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "netbox-dump: $OUT ($(du -h "$OUT" | cut -f1)) from NetBox $NB_VERSION's migrations in $((SECONDS - start)) s" >&2
