#!/usr/bin/env bash
# with-peers.sh CMD... - start every local peer the tests need, each on free ports with private
# state, run CMD with their addresses in the environment, then stop them (only what this started).
#
# Peers: moto (DynamoDB/SQS, serialized; infra/aws-local.sh), Zabbix 6.0 and 7.0 (infra/zabbix.sh).
# Installs what is missing first.
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

cleanup() {
  infra/aws-local.sh down >/dev/null 2>&1 || true
  zabbix 6.0 down >/dev/null 2>&1 || true
  zabbix 7.0 down >/dev/null 2>&1 || true
  rm -rf "$STATE"
}
trap cleanup EXIT

infra/aws-local.sh up
eval "$(infra/aws-local.sh env)"

for version in 6.0 7.0; do
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

"$@"
