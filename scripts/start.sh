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
# `serve` sets glibc's malloc settings for the server (re-executing itself once; see
# apps/cli/src/commands/malloc-settings.ts): CODE_INTERPRETER_MALLOC=default keeps glibc's defaults.
exec node apps/cli/dist/cli.js serve "$@"
