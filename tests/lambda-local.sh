#!/usr/bin/env bash
# lambda-local.sh - the local loop of the Lambda functions (`make invoke`), tested: import-settings,
# webhook and host-worker run on their sample events (events/) through cargo-lambda's emulator of
# the Lambda runtime API, against moto (a table and FIFO queues of this run's own) and Zabbix 7.0.
# Expects the peers of infra/with-peers.sh in the environment; prints one line per function.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

run="nzj-local-$(date +%s)-$$"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export NZJ_DYNAMODB_TABLE="$run"
export NZJ_ZABBIX_URL="$ZBX70_API_URL" NZJ_ZABBIX_TOKEN="$ZBX70_TOKEN"
# The secret events/webhook.json was signed with.
export NZJ_WEBHOOK_SECRET=s3cret
queues="$(infra/aws-tools.sh python - "$run" <<'PY'
import os, sys, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "false"}
dlq = sqs.create_queue(QueueName=f"{sys.argv[1]}-dlq.fifo", Attributes=fifo)["QueueUrl"]
queue = sqs.create_queue(QueueName=f"{sys.argv[1]}.fifo", Attributes=fifo)["QueueUrl"]
print(queue, dlq)
PY
)"
read -r NZJ_HOST_QUEUE_URL NZJ_HOST_DLQ_URL <<< "$queues"
export NZJ_HOST_QUEUE_URL NZJ_HOST_DLQ_URL

fail=0
check() { # check NAME EVENT PYTHON-CONDITION-ON-answer
  local answer
  if ! answer="$(infra/lambda-local.sh invoke "$1" "$2")"; then
    echo "lambda-local: $1 did not answer" >&2
    fail=1
    return
  fi
  if python3 -c "import json, sys; answer = json.loads(sys.argv[1]); sys.exit(0 if ($3) else 1)" "$answer"; then
    echo "lambda-local: $1 ok: $(echo "$answer" | cut -c1-160)"
  else
    echo "lambda-local: $1 answered unexpectedly: $answer" >&2
    fail=1
  fi
}
check import-settings events/import-settings.json 'answer["status"] == "completed"'
check webhook events/webhook.json 'answer["statusCode"] == 202 and json.loads(answer["body"])["status"] == "queued"'
check host-worker events/host-worker.json 'answer["batchItemFailures"] == []'
exit "$fail"
