#!/usr/bin/env bash
# aws-tools.sh TOOL [ARGS...] - run an AWS build or lint tool from a venv of the project's own,
# installing it from PyPI the first time (no Docker, no network but the package registries):
#   cfn-lint          CloudFormation linter
#   sam               AWS SAM CLI (`sam validate --lint`, `sam build`, `sam deploy`)
#   cargo-lambda      cargo-lambda with its zig, for the arm64 Lambda builds (`cargo-lambda lambda build`)
# AWS_TOOLS_VENV=<dir> picks the venv (default .infra/aws-tools-venv).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AWS_TOOLS_VENV:-$REPO/.infra/aws-tools-venv}"
# Pinned so CI lints against what was verified.
SPECS=("cfn-lint==1.58.0" "aws-sam-cli==1.170.0" "cargo-lambda==1.9.2")

tool="${1:?usage: aws-tools.sh cfn-lint|sam|cargo-lambda [ARGS...]}"
shift
if [ ! -x "$VENV/bin/$tool" ]; then
  PY="$(command -v python3)"
  [ -x "$VENV/bin/python" ] || { echo "aws-tools: creating venv $VENV" >&2; "$PY" -m venv "$VENV"; }
  echo "aws-tools: pip install ${SPECS[*]}" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check "${SPECS[@]}" >&2
fi
SAM_CLI_TELEMETRY=0 PATH="$VENV/bin:$PATH" exec "$VENV/bin/$tool" "$@"
