#!/usr/bin/env bash
# make-run.sh - the README's promise: `make run`, then `curl 127.0.0.1:8080/healthz` answers.
# Runs `make run` as written, but on a free port with a private data dir (NZJ_LISTEN and
# NZJ_DATA_DIR), so it never touches a developer's own instance; stops only what it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

port="$(infra/free-port.sh)"
dir="$(mktemp -d -t nzj-make-run.XXXXXX)"
NZJ_LISTEN="127.0.0.1:$port" NZJ_DATA_DIR="$dir/data" setsid make --no-print-directory run >"$dir/out.log" 2>&1 &
pid=$!
cleanup() {
  kill -TERM -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

body=""
for _ in $(seq 1 1200); do
  if body="$(curl -sf "http://127.0.0.1:$port/healthz")"; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$dir/out.log"; echo "make-run: make run exited early" >&2; exit 1; fi
  sleep 0.5
done
if [[ "$body" != *'"status":"ok"'* ]]; then
  cat "$dir/out.log"; echo "make-run: healthz did not answer ok: $body" >&2; exit 1
fi
echo "make-run: make run answers /healthz on 127.0.0.1:$port: $body"
