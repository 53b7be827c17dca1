#!/usr/bin/env bash
# Starts the server on the embedded local sandbox (or what EXECUTOR_BACKEND says)
# on a fresh machine: bootstraps, prepares the sandbox environment (the first
# time only), then runs `code-interpreter serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# The local backend runs code in the prepared sandbox environment: prepared on the first start, cached after.
case "${EXECUTOR_BACKEND:-auto}:${LOCAL_ROOTFS:-}" in
  docker:* | kubernetes:* | *:host) ;;
  *) bash scripts/prepare-environment.sh ;;
esac
# `serve` sets glibc's malloc settings and V8's semi-space size for the server (re-executing itself
# once; see apps/cli/src/commands/memory-settings.ts): CODE_INTERPRETER_MEMORY=default keeps the defaults.
exec node apps/cli/dist/cli.js serve "$@"
