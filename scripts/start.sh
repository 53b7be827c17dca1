#!/usr/bin/env bash
# Starts the server on the embedded local sandbox (or what EXECUTOR_BACKEND says)
# on a fresh machine: bootstraps, then runs `code-interpreter serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec node apps/cli/dist/cli.js serve "$@"
