#!/usr/bin/env bash
# with-peers.sh CMD... - start every local peer the tests need, each on a free port with private
# state, run CMD with their addresses in the environment, then stop them (only what this started).
#
# Peers: moto (DynamoDB/SQS, serialized; infra/aws-local.sh). Installs what is missing first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

STATE="$(mktemp -d -t nzj-peers.XXXXXX)"
export AWS_LOCAL_STATE="$STATE/aws"
export AWS_LOCAL_PORT="$(infra/free-port.sh)"

cleanup() {
  infra/aws-local.sh down >/dev/null 2>&1 || true
  rm -rf "$STATE"
}
trap cleanup EXIT

infra/aws-local.sh up
eval "$(infra/aws-local.sh env)"

"$@"
