#!/usr/bin/env bash
# aws-local.sh - a local, offline AWS stand-in (moto server) for DynamoDB + SQS
# (+ EventBridge Scheduler / CloudWatch metrics APIs) on loopback, for tests and `make run` against AWS APIs.
# Adapted from the verified peer script; `make test` starts one on a free port and stops it afterwards.
#
# No Docker, no internet beyond PyPI. Idempotent. State is in memory (lost on stop; `reset` wipes it).
#
#   aws-local.sh [up]   install moto into a venv if missing, start it, wait until it answers
#   aws-local.sh down   stop the server started by this script (by pid file)
#   aws-local.sh status exit 0 if it answers
#   aws-local.sh reset  wipe all in-memory state (tables, queues, ...) without restarting
#   aws-local.sh env    print export lines for the AWS SDKs (eval "$(aws-local.sh env)")
#
# Settings (environment):
#   AWS_LOCAL_HOST=127.0.0.1  AWS_LOCAL_PORT=5055   where to listen
#   AWS_LOCAL_VENV=<repo>/.infra/moto-venv           venv to create/use (python3 -m venv)
#   AWS_LOCAL_STATE=<repo>/.infra/aws-local          pid file + log
#   AWS_LOCAL_MODE=serial|plain                      serial (default): every request runs under one
#        global lock, so conditional writes / transactions are atomic under concurrent clients as in
#        AWS (plain moto_server loses updates under concurrency); SQS long polls still wait outside it.
#   MOTO_SPEC='moto[server]==5.2.5'                  pip requirement to install
set -euo pipefail

HOST="${AWS_LOCAL_HOST:-127.0.0.1}"
PORT="${AWS_LOCAL_PORT:-5055}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AWS_LOCAL_VENV:-$REPO/.infra/moto-venv}"
STATE="${AWS_LOCAL_STATE:-$REPO/.infra/aws-local}"
MODE="${AWS_LOCAL_MODE:-serial}"
MOTO_SPEC="${MOTO_SPEC:-moto[server]==5.2.5}"
PIDFILE="$STATE/moto-$PORT.pid"
LOG="$STATE/moto-$PORT.log"
URL="http://$HOST:$PORT"
PY="${PYTHON:-python3}"

answers() { "$VENV/bin/python" - "$URL" <<'EOF' 2>/dev/null
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/moto-api/data.json", timeout=2).read(); sys.exit(0)
except Exception:
    sys.exit(1)
EOF
}

install() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "aws-local: creating venv $VENV" >&2
    "$PY" -m venv "$VENV"
  fi
  if ! "$VENV/bin/python" -c 'import moto, flask, flask_cors' 2>/dev/null; then
    echo "aws-local: pip install $MOTO_SPEC" >&2
    "$VENV/bin/pip" install -q --disable-pip-version-check "$MOTO_SPEC"
  fi
  write_launcher
}

write_launcher() {
  cat > "$VENV/moto_serial_server.py" <<'EOF'
"""moto server with serialized request handling (written by infra/aws-local.sh).
Plain moto_server is a threaded werkzeug server with no locking in its backends: concurrent conditional
writes can race (lost updates). Here every request runs under one global lock, except SQS ReceiveMessage,
whose long poll waits outside the lock and takes it only for each non-blocking receive attempt."""
import argparse, io, os, signal, sys, threading, time
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.sqs.models import SQSBackend

LOCK = threading.RLock()
_orig_receive = SQSBackend.receive_message

def _receive_message(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names=None):
    deadline = time.time() + (wait_seconds_timeout or 0)
    while True:
        with LOCK:
            result = _orig_receive(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
            queue = self.get_queue(queue_name)
        remaining = deadline - time.time()
        if result or remaining <= 0:
            return result
        t = time.time()
        queue.wait_for_messages(min(1.0, remaining))  # woken early by SendMessage
        if time.time() - t < 0.05:  # visible but blocked (FIFO group in flight): don't spin
            time.sleep(0.05)

SQSBackend.receive_message = _receive_message

def _is_receive(environ):
    if environ.get("HTTP_X_AMZ_TARGET", "") == "AmazonSQS.ReceiveMessage":  # JSON protocol
        return True
    if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):  # legacy query protocol
        n = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(n) if n else b""
        environ["wsgi.input"] = io.BytesIO(body)
        return b"Action=ReceiveMessage" in body
    return "Action=ReceiveMessage" in environ.get("QUERY_STRING", "")

class Serialized:
    def __init__(self, app):
        self.app = app
    def __call__(self, environ, start_response):
        if _is_receive(environ):
            return self.app(environ, start_response)
        with LOCK:
            return [b"".join(self.app(environ, start_response))]

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("-H", "--host", default="127.0.0.1")
    ap.add_argument("-p", "--port", type=int, default=5055)
    a = ap.parse_args()
    os.environ.setdefault("MOTO_PORT", str(a.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    run_simple(a.host, a.port, Serialized(DomainDispatcherApplication(create_backend_app)),
               threaded=True, request_handler=MotoRequestHandler)
EOF
}

up() {
  mkdir -p "$STATE"
  if answers; then echo "aws-local: already answering at $URL" >&2; return 0; fi
  install
  if [ "$MODE" = plain ]; then
    cmd=("$VENV/bin/moto_server" -H "$HOST" -p "$PORT")
  else
    cmd=("$VENV/bin/python" "$VENV/moto_serial_server.py" -H "$HOST" -p "$PORT")
  fi
  nohup "${cmd[@]}" >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 100); do
    if answers; then echo "aws-local: moto ($MODE) up at $URL, pid $(cat "$PIDFILE"), log $LOG" >&2; return 0; fi
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "aws-local: moto failed to start; log:" >&2; tail -20 "$LOG" >&2; return 1
}

down() {
  if [ -f "$PIDFILE" ]; then
    pid="$(cat "$PIDFILE")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$PIDFILE"
    echo "aws-local: stopped" >&2
  else
    echo "aws-local: no pid file $PIDFILE" >&2
  fi
}

case "${1:-up}" in
  up) up ;;
  down|stop) down ;;
  status) answers && echo "aws-local: answering at $URL" ;;
  reset) "$VENV/bin/python" -c "import urllib.request,sys; urllib.request.urlopen(urllib.request.Request(sys.argv[1]+'/moto-api/reset', method='POST'), timeout=5)" "$URL" && echo "aws-local: state wiped" >&2 ;;
  env) cat <<EOF
export AWS_ENDPOINT_URL=$URL
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
EOF
  ;;
  *) echo "usage: $0 [up|down|status|reset|env]" >&2; exit 2 ;;
esac
