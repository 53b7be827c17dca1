#!/usr/bin/env bash
# Runs every test on a fresh machine: bootstraps, lints, type-checks, then the
# whole vitest suite against the real sandboxes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# The S3 store that test.d/50-swift.sh starts is stopped when the run ends, pass or fail, unless it
# was already up (a developer's own, kept for their next run): a test run leaves nothing running.
swift_state=${SWIFT_STATE_DIR:-/tmp/code-interpreter-swift}
if ! curl -fsS --max-time 5 "http://127.0.0.1:${SWIFT_PROXY_PORT:-18080}/healthcheck" >/dev/null 2>&1; then
  stop_swift() {
    for pidfile in "$swift_state"/run/*.pid; do
      [ -e "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
  }
  trap stop_swift EXIT
fi
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
