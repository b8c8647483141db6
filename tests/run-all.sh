#!/usr/bin/env bash
# run-all.sh - every test: the workspace's cargo tests (unit, conformance on both stores, API,
# CLI), then the `make run` check; ends with one line counting them all.
# Expects the peers from infra/with-peers.sh in the environment.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log="$(mktemp -t nzj-test.XXXXXX)"
trap 'rm -f "$log"' EXIT

cargo test --workspace --locked 2>&1 | tee "$log"
cargo_status=${PIPESTATUS[0]}

tests/make-run.sh
smoke_status=$?

passed=$(awk '/^test result:/ {for (i = 1; i <= NF; i++) if ($(i+1) ~ /^passed;?$/) s += $i} END {print s + 0}' "$log")
failed=$(awk '/^test result:/ {for (i = 1; i <= NF; i++) if ($(i+1) ~ /^failed;?$/) s += $i} END {print s + 0}' "$log")
if [ "$smoke_status" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
if [ "$cargo_status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi  # a build failure counts too

echo "tests: $passed passed, $failed failed"
[ "$cargo_status" -eq 0 ] && [ "$smoke_status" -eq 0 ]
