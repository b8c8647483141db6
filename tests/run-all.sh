#!/usr/bin/env bash
# run-all.sh - every test: the workspace's cargo tests (unit, conformance on both stores, API,
# CLI), the end-to-end tests against the real NetBox, then the `make run` check and the Lambda
# functions through cargo-lambda's emulator (tests/lambda-local.sh); ends with one
# line counting them all.
# Expects the peers from infra/with-peers.sh in the environment.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log="$(mktemp -t nzj-test.XXXXXX)"
trap 'rm -f "$log"' EXIT

cargo test --workspace --locked 2>&1 | tee "$log"
cargo_status=${PIPESTATUS[0]}

# The end-to-end tests need the real NetBox (with-peers.sh starts it with NZJ_PEERS_NETBOX=1);
# they are `#[ignore]`d so a plain `cargo test` without it does not fail for want of a peer.
if [ -n "${NB_URL:-}" ]; then
  cargo test --locked -p nzj --test e2e --test netbox_bulk --test netbox_precondition -- --ignored 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || cargo_status=1
else
  echo "run-all: NB_URL is not set: the end-to-end tests against NetBox did not run" >&2
  cargo_status=1
fi

tests/make-run.sh
smoke_status=$?

# The Lambda functions through cargo-lambda's runtime API emulator (`make invoke`).
tests/lambda-local.sh
local_status=$?

passed=$(awk '/^test result:/ {for (i = 1; i <= NF; i++) if ($(i+1) ~ /^passed;?$/) s += $i} END {print s + 0}' "$log")
failed=$(awk '/^test result:/ {for (i = 1; i <= NF; i++) if ($(i+1) ~ /^failed;?$/) s += $i} END {print s + 0}' "$log")
if [ "$smoke_status" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
if [ "$local_status" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
if [ "$cargo_status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi  # a build failure counts too

echo "tests: $passed passed, $failed failed"
[ "$cargo_status" -eq 0 ] && [ "$smoke_status" -eq 0 ] && [ "$local_status" -eq 0 ]
