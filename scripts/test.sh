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
# Every tracked Python file (the runner's package, the hostile suite's programs) with pyflakes.
bash scripts/lint-python.sh
pnpm run typecheck
# Every publishable package packs cleanly (publint, attw), and a release would go through (dry run).
SKIP_BUILD=1 bash scripts/check-packages.sh
bash scripts/release.sh --dry-run
# The runner's Python modules, each tested directly (pytest).
bash scripts/test-python.sh
pnpm exec vitest run
# A short benchmark run, only to prove it works (its figures mean nothing at this size).
node bench/src/bench.ts --backend local --quick --count 3 --seconds 1
# A short load run: a burst above capacity answers only 200 or 429/503, and a soak stays flat.
node bench/src/load.ts --quick
# An 8 MB upload and download through each file store next to a raw SDK PUT/GET (the Swift node of test.d/50-swift.sh).
node bench/src/file-stores.ts --quick
if timeout 20 docker info >/dev/null 2>&1; then
  node bench/src/bench.ts --backend docker --quick --count 3 --seconds 1
  node bench/src/bench.ts --backend kubernetes --quick --count 3 --seconds 1
  node bench/src/load.ts --backend docker --quick
fi
