#!/usr/bin/env bash
# with-peers.sh CMD... - start every local peer the tests need, each on free ports with private
# state, run CMD with their addresses in the environment, then stop them (only what this started).
#
# Peers: moto (DynamoDB/SQS, serialized; infra/aws-local.sh), Zabbix 6.0 and 7.0 (infra/zabbix.sh),
# and with NZJ_PEERS_NETBOX=1 a real NetBox 4.7 (infra/netbox-up.sh) without a webhook: the e2e
# test makes it with `nzj netbox setup`, pointing at http://127.0.0.1:$NZJ_E2E_PORT/webhook/netbox.
# Installs what is missing first.
# A new NetBox database is restored from infra/netbox-<version>.dump (infra/netbox-dump.sh made it
# from the real migrations) in seconds; NZJ_NETBOX_ROOT=<dir> keeps NetBox's data between runs.
# NZJ_PEERS_ZABBIX="6.0" starts only those Zabbix versions (default "6.0 7.0"); NZJ_PEERS_AWS=0
# leaves moto out (`make bench` needs only Zabbix 6.0).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Under /var/tmp: PostgreSQL (user postgres) must be able to enter the Zabbix data dirs.
STATE="$(mktemp -d /var/tmp/nzj-peers.XXXXXX)"
chmod 755 "$STATE"
export AWS_LOCAL_STATE="$STATE/aws"
export AWS_LOCAL_PORT="$(infra/free-port.sh)"

zabbix() {  # zabbix VERSION up|down
  local name="zbx${1/./}"
  ZBX_VERSION=$1 ZBX_DATA_DIR="$STATE/$name" ZBX_PORT="$(cat "$STATE/$name.port" 2>/dev/null || true)" \
    ZBX_PG_PORT="$(cat "$STATE/$name.pgport" 2>/dev/null || true)" infra/zabbix.sh "$2"
}

NETBOX_ROOT="${NZJ_NETBOX_ROOT:-$STATE/netbox}"
cleanup() {
  [ -n "${netbox_up:-}" ] && kill "$netbox_up" 2>/dev/null || true
  if [ "${NZJ_PEERS_NETBOX:-0}" = 1 ]; then NB_ROOT="$NETBOX_ROOT" infra/netbox-down.sh >/dev/null 2>&1 || true; fi
  infra/aws-local.sh down >/dev/null 2>&1 || true
  zabbix 6.0 down >/dev/null 2>&1 || true
  zabbix 7.0 down >/dev/null 2>&1 || true
  rm -rf "$STATE"
}
trap cleanup EXIT

# NetBox comes up beside the others (its venv and database restore take minutes on a fresh
# machine); only its apt packages go first, as apt-get takes one lock at a time.
if [ "${NZJ_PEERS_NETBOX:-0}" = 1 ]; then
  export NZJ_E2E_PORT="$(infra/free-port.sh)"
  NB_ROOT="$NETBOX_ROOT" NB_PACKAGES_ONLY=1 infra/netbox-up.sh
  NB_ROOT="$NETBOX_ROOT" NB_PORT="$(infra/free-port.sh)" NB_PGPORT="$(infra/free-port.sh)" \
    NB_REDIS_PORT="$(infra/free-port.sh)" NB_WEBHOOK_SETUP=0 \
    infra/netbox-up.sh > "$STATE/netbox-up.out" 2> "$STATE/netbox-up.err" &
  netbox_up=$!
  netbox_started=$SECONDS
fi

if [ "${NZJ_PEERS_AWS:-1}" = 1 ]; then
  infra/aws-local.sh up
  eval "$(infra/aws-local.sh env)"
fi

for version in ${NZJ_PEERS_ZABBIX:-6.0 7.0}; do
  name="zbx${version/./}"
  infra/free-port.sh > "$STATE/$name.port"
  infra/free-port.sh > "$STATE/$name.pgport"
  zabbix "$version" up
  prefix="ZBX${version/./}"
  # shellcheck disable=SC1090
  . "$STATE/$name/env"
  export "${prefix}_API_URL=$ZBX_API_URL" "${prefix}_TOKEN=$ZBX_TOKEN" "${prefix}_VERSION=$ZBX_VERSION"
done
unset ZBX_API_URL ZBX_TOKEN ZBX_VERSION ZBX_USER ZBX_PASSWORD

if [ "${NZJ_PEERS_NETBOX:-0}" = 1 ]; then
  if ! wait "$netbox_up"; then
    cat "$STATE/netbox-up.err" >&2
    echo "with-peers: NetBox did not come up" >&2
    exit 1
  fi
  echo "with-peers: NetBox up $((SECONDS - netbox_started)) s after it was started (beside the other peers)" >&2
  NB_URL="$(sed -n 's/^NB_URL=//p' "$STATE/netbox-up.out")"
  NB_TOKEN="$(sed -n 's/^NB_TOKEN=//p' "$STATE/netbox-up.out")"
  NB_TOKEN_V1="$(cat "$NETBOX_ROOT/run/api_token_v1")"
  export NB_URL NB_TOKEN NB_TOKEN_V1
fi

"$@"
