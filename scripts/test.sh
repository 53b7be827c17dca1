#!/usr/bin/env bash
# Runs every test on a fresh machine: bootstraps, lints, type-checks, then the
# whole vitest suite against the real sandboxes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
for extra in scripts/test.d/*.sh; do
  [ -e "$extra" ] && bash "$extra"
done
pnpm run lint
pnpm run typecheck
pnpm exec vitest run
