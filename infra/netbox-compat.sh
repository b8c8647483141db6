#!/usr/bin/env bash
# netbox-compat.sh SOURCE... - the product's tests against a real NetBox (setup and --check, write-back,
# the webhook loop guard, journal, the bulk write of 1,000 devices, both token styles) run against
# other NetBox versions than the 4.7 of `make test`: each SOURCE is a NetBox source tree at a release
# tag, for example `git clone --depth 1 --branch v4.2.9 https://github.com/netbox-community/netbox`.
# PyPI carries NetBox 4.7 only, so these versions cannot be part of `make test` on a machine that
# reaches nothing but the package registries; `make netbox-compat NETBOX_SOURCES="..."` runs this
# inside infra/with-peers.sh (Zabbix 7.0, moto). Each NetBox gets a root of its own with fresh ports,
# runs every migration for real (a few minutes), and is stopped and removed after its tests.
# Ends with one line per version: passed or failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -gt 0 ] || { echo "usage: $0 NETBOX_SOURCE_TREE..." >&2; exit 2; }
: "${ZBX70_API_URL:?run inside infra/with-peers.sh (make netbox-compat)}"

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
summary=()
status=0
for src in "$@"; do
  root="$(mktemp -d /var/tmp/nzj-netbox-compat.XXXXXX)"
  chmod 755 "$root"
  started=$SECONDS
  up() {
    NB_SOURCE="$src" NB_ROOT="$root" NB_PORT="$port" NB_PGPORT="$pgport" NB_REDIS_PORT="$redisport" \
      NB_WEBHOOK_SETUP=0 NB_DUMP="$dump" "$@" infra/netbox-up.sh >>"$root/up.out" 2>>"$root/up.err"
  }
  port="$(infra/free-port.sh)" pgport="$(infra/free-port.sh)" redisport="$(infra/free-port.sh)"
  tree_version="$(sed -n 's/^version: *"\{0,1\}\([0-9.]*\)"\{0,1\}.*/\1/p' "$src/netbox/release.yaml" 2>/dev/null)"
  # The first run of a version migrates for real and keeps a dump of the fresh database in .infra/;
  # later runs restore it in seconds (as make test does for 4.7 with infra/netbox-4.7.3.dump).
  dump="$PWD/.infra/netbox-$tree_version.dump"
  if [ -n "$tree_version" ] && [ ! -s "$dump" ] && up env NB_MIGRATE_ONLY=1 NB_RESTORE=0; then
    as_pg pg_dump -Fc -Z 9 --no-owner --no-privileges -h "$root/pg" -p "$pgport" -U postgres netbox >"$dump.tmp" \
      && mv "$dump.tmp" "$dump"
  fi
  if up env; then
    version="$(sed -n 's/^NetBox \([0-9.]*\) is up/\1/p' "$root/up.out")"
    echo "netbox-compat: NetBox $version up in $((SECONDS - started)) s" >&2
    NB_URL="$(sed -n 's/^NB_URL=//p' "$root/up.out")" NB_TOKEN="$(sed -n 's/^NB_TOKEN=//p' "$root/up.out")" \
    NB_TOKEN_V1="$(cat "$root/run/api_token_v1")" NZJ_E2E_PORT="${NZJ_E2E_PORT:-$(infra/free-port.sh)}" \
      cargo test --locked --no-fail-fast -p nzj --test e2e --test netbox_bulk --test netbox_precondition -- --ignored 2>&1 | tee "$root/tests.log"
    if [ "${PIPESTATUS[0]}" -eq 0 ]; then
      summary+=("NetBox $version: passed ($(grep -h '^test result' "$root/tests.log" | awk '{s += $4} END {print s}') tests)")
    else
      summary+=("NetBox $version: FAILED (logs kept in $root)")
      status=1
    fi
  else
    cat "$root/up.err" >&2
    summary+=("NetBox from $src: did not start (logs kept in $root)")
    status=1
  fi
  NB_ROOT="$root" infra/netbox-down.sh >/dev/null 2>&1 || true
  # NetBox's own files are large; the logs stay only where something failed.
  case "${summary[-1]}" in *passed*) rm -rf "$root" ;; *) rm -rf "$root/pg" ;; esac
done
printf '%s\n' "${summary[@]}"
exit "$status"
