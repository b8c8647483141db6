#!/usr/bin/env bash
# lambda-local.sh - the Lambda functions on this machine, through cargo-lambda's emulator of the
# Lambda runtime API (`cargo lambda watch`, from the aws-tools venv; no Docker, no AWS account):
#   lambda-local.sh invoke FN EVENT   invoke functions/FN with the event file EVENT (what
#                                     `make invoke FN=.. EVENT=..` runs); prints the function's answer
# The functions read their usual environment (README, "Local testing of the functions"): on the
# local peers of infra/with-peers.sh, AWS_ENDPOINT_URL is moto's, NZJ_DYNAMODB_TABLE a table there
# (created if missing), NZJ_ZABBIX_URL/NZJ_ZABBIX_TOKEN a Zabbix; every NZJ_* and AWS_* variable
# of the caller is passed on. The emulator is started for the call on a free high port and stopped
# after it; NZJ_LAMBDA_LOCAL_PORT=<port> uses one already running (`cargo lambda watch -P <port>`).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

cmd="${1:-}"
[ "$cmd" = invoke ] && [ $# -eq 3 ] || { echo "usage: lambda-local.sh invoke FN EVENT" >&2; exit 2; }
fn="$2"
event="$3"
[ -f "functions/$fn/Cargo.toml" ] || { echo "lambda-local: no function $fn (one of: $(ls functions | tr '\n' ' '))" >&2; exit 2; }
[ -f "$event" ] || { echo "lambda-local: no event file $event" >&2; exit 2; }
: "${AWS_REGION:=us-east-1}"
export AWS_REGION

work="$(mktemp -d -t nzj-lambda-local.XXXXXX)"
watch_pid=""
cleanup() {
  if [ -n "$watch_pid" ]; then
    kill -- -"$watch_pid" 2>/dev/null || kill "$watch_pid" 2>/dev/null || true
    wait "$watch_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The table, as template.yaml would have created it.
if [ -n "${NZJ_DYNAMODB_TABLE:-}" ] && [ -n "${AWS_ENDPOINT_URL:-}" ]; then
  infra/aws-tools.sh python - "$NZJ_DYNAMODB_TABLE" <<'PY'
import os, sys, boto3
table = sys.argv[1]
client = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
if table not in client.list_tables()["TableNames"]:
    s = lambda n: {"AttributeName": n, "AttributeType": "S"}
    index = lambda name, key: {"IndexName": name, "Projection": {"ProjectionType": "ALL"},
                               "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}, {"AttributeName": "list_sk", "KeyType": "RANGE"}]}
    client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[s("pk"), s("list_pk"), s("list_sk"), s("group_pk")],
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        GlobalSecondaryIndexes=[index("by_list", "list_pk"), index("by_group", "group_pk")])
PY
fi

port="${NZJ_LAMBDA_LOCAL_PORT:-}"
if [ -z "$port" ]; then
  port="$(infra/free-port.sh)"
  env | grep -E '^(NZJ_|AWS_)' | grep -v '^NZJ_LAMBDA_LOCAL_PORT=' > "$work/env" || true
  set -m
  infra/aws-tools.sh cargo-lambda lambda watch -P "$port" -A 127.0.0.1 --ignore-changes --env-file "$work/env" \
    > "$work/watch.log" 2>&1 &
  watch_pid=$!
  set +m
  for _ in $(seq 1 120); do
    grep -q "starting Runtime server" "$work/watch.log" && break
    kill -0 "$watch_pid" 2>/dev/null || { cat "$work/watch.log" >&2; exit 1; }
    sleep 0.5
  done
fi
# The first invoke builds the function (`cargo build`, dev profile): allow for it.
if ! infra/aws-tools.sh cargo-lambda lambda invoke "$fn" --data-file "$event" -P "$port" -A 127.0.0.1 \
  > "$work/answer" 2> "$work/invoke.err"; then
  cat "$work/invoke.err" >&2
  [ -f "$work/watch.log" ] && tail -40 "$work/watch.log" >&2
  exit 1
fi
cat "$work/answer"
