#!/usr/bin/env bash
# Runs every test on a fresh machine: bootstraps, lints, type-checks, then the
# whole vitest suite against the real sandboxes.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh
. scripts/lib/test-lanes.sh

# Each step's wall time, logged as it ends and listed again at the end: CI's budget is 40 minutes.
timings=""
# A step that fails is timed too, and its exit status returned.
step() {
  local name=$1 start=$SECONDS status=0
  shift
  "$@" || status=$?
  timings+=$(printf '%6d s  %s' $((SECONDS - start)) "$name")$'\n'
  log "$name: $((SECONDS - start)) s$([ "$status" = 0 ] || echo ", failed (exit $status)")"
  return "$status"
}

# A test run leaves nothing running: the static checks' background job, and the S3 store that
# test.d/50-swift.sh starts (unless it was already up: a developer's own, kept for their next run).
static_pid=""
local_lane_pid=""
swift_state=${SWIFT_STATE_DIR:-/tmp/code-interpreter-swift}
stop_swift=0
curl -fsS --max-time 5 "http://127.0.0.1:${SWIFT_PROXY_PORT:-18080}/healthcheck" >/dev/null 2>&1 || stop_swift=1
finish() {
  [ -n "$static_pid" ] && kill "$static_pid" 2>/dev/null || true
  [ -n "$local_lane_pid" ] && kill "$local_lane_pid" 2>/dev/null || true
  if [ "$stop_swift" = 1 ]; then
    for pidfile in "$swift_state"/run/*.pid; do
      [ -e "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
  fi
  [ -n "$timings" ] && printf '\nWall time per step:\n%s%6d s  in all\n' "$timings" "$SECONDS" >&2
  return 0
}
trap finish EXIT

step bootstrap bash scripts/bootstrap.sh

# The static checks need no sandbox, so they run beside the machine's set-up and the test
# suite (which mostly waits on sandboxes: a whole run used about a quarter of two cores), and
# are waited for after it. Their output is shown then, in one piece.
static_log=$(mktemp "${TMPDIR:-/tmp}/static-checks.XXXXXX")
(
  set -e
  # At a lower priority (inherited by what it starts): they are done long before the suite, whose
  # sandboxes have deadlines; on two busy cores the test lanes come first.
  renice -n 10 -p "$BASHPID" >/dev/null 2>&1 || true
  step lint pnpm run lint
  # Every tracked Python file (the runner's package, the hostile suite's programs) with pyflakes.
  step "lint (python)" bash scripts/lint-python.sh
  step typecheck pnpm run typecheck
  # A release would go through (dry run): it versions and builds a clone, and checks every
  # publishable package's tarball (publint, attw: scripts/check-packages.sh) before `publish --dry-run`.
  step "release (dry run)" bash scripts/release.sh --dry-run
  # The runner's Python modules, each tested directly (pytest).
  step pytest bash scripts/test-python.sh
) >"$static_log" 2>&1 &
static_pid=$!

for extra in scripts/test.d/*.sh; do
  [ -e "$extra" ] && step "set-up: ${extra##*/}" bash "$extra"
done
# The suite in two lanes at once (scripts/lib/test-lanes.sh): the files that use Docker or the
# Kubernetes double one at a time, and beside them everything else, then the local benchmarks. The
# suite mostly waits on sandboxes (a whole sequential run used about a quarter of two cores), and
# neither lane's leftover checks see the other's sandboxes. The docker lane's output is shown as it
# comes; the local lane's is kept and shown in one piece after it. A failure in either fails the run.
lanes=$(test_lanes)
mapfile -t docker_files < <(awk '$1 == "docker" { print $2 }' <<<"$lanes")
mapfile -t local_files < <(awk '$1 == "local" { print $2 }' <<<"$lanes")
log "vitest: ${#docker_files[@]} test files in the docker lane, ${#local_files[@]} in the local lane beside it"
# (A lane with no files is skipped: `vitest run` without filters would run every file.)
local_log=$(mktemp "${TMPDIR:-/tmp}/local-lane.XXXXXX")
local_timings=$(mktemp "${TMPDIR:-/tmp}/local-lane-timings.XXXXXX")
lanes_start=$SECONDS
exec 3>&2
(
  set -e
  timings=""
  # Its timings go to the list at the end, and one line says when it is over (its output waits).
  trap 'status=$?; printf "%s" "$timings" >"$local_timings"; log "The local lane is over after $((SECONDS - lanes_start)) s (exit $status); its output follows the docker lane'"'"'s" >&3' EXIT
  [ "${#local_files[@]}" = 0 ] || step "vitest (local lane)" pnpm exec vitest run "${local_files[@]}"
  # A short benchmark run, only to prove it works (its figures mean nothing at this size).
  step "bench (local)" node bench/src/bench.ts --backend local --quick --count 3 --seconds 1
  # A short load run: a burst above capacity answers only 200 or 429/503, and a soak stays flat (40 executions
  # after 40 of warm-up: enough to prove it runs; `node bench/src/load.ts` soaks 3,000).
  step "load (local)" node bench/src/load.ts --quick --soak 40
  # An 8 MB upload and download through each file store next to a raw SDK PUT/GET (the Swift node of test.d/50-swift.sh).
  step "file stores" node bench/src/file-stores.ts --quick
) >"$local_log" 2>&1 &
local_lane_pid=$!

# The docker lane's output is also kept, so that a failure's summary can close the run (CI shows its tail).
docker_log=$(mktemp "${TMPDIR:-/tmp}/docker-lane.XXXXXX")
docker_status=0
{
  [ "${#docker_files[@]}" = 0 ] || step "vitest (docker lane)" pnpm exec vitest run --maxWorkers=1 "${docker_files[@]}" > >(tee "$docker_log") 2>&1
} || docker_status=$?
if [ "$docker_status" = 0 ] && timeout 20 docker info >/dev/null 2>&1; then
  {
    step "bench (docker)" node bench/src/bench.ts --backend docker --quick --count 3 --seconds 1 --first-result 5 &&
      step "bench (kubernetes)" node bench/src/bench.ts --backend kubernetes --quick --count 3 --seconds 1 --first-result 5 &&
      step "load (docker)" node bench/src/load.ts --backend docker --quick --soak 40
  } || docker_status=$?
fi

local_status=0
wait "$local_lane_pid" || local_status=$?
local_lane_pid=""
[ ! -s "$local_timings" ] || timings+=$(cat "$local_timings")$'\n'
timings+=$(printf '%6d s  %s' $((SECONDS - lanes_start)) "both lanes (wall)")$'\n'
log "The local lane (vitest, then the local benchmarks), which ran beside the docker lane:"
cat "$local_log" >&2
# Kept until the end for the failure summary.
cp "$local_log" "$docker_log.local" 2>/dev/null || true
rm -f "$local_log" "$local_timings"

log "The static checks (started after the bootstrap):"
static_status=0
wait "$static_pid" || static_status=$?
static_pid=""
cat "$static_log" >&2
rm -f "$static_log"

failed=0
[ "$docker_status" = 0 ] || { log "The docker lane failed (exit $docker_status): see its output above"; failed=1; }
[ "$local_status" = 0 ] || { log "The local lane failed (exit $local_status): see its output above"; failed=1; }
[ "$static_status" = 0 ] || { log "The static checks failed (exit $static_status): see above"; failed=1; }
if [ "$failed" = 1 ]; then
  # What failed, once more at the very end: a lane's output is long and only its tail may be read.
  log "Failure summary (failed test files and their first errors; the full output is above):"
  sed 's/\x1b\[[0-9;]*m//g' "$docker_log" "$docker_log.local" 2>/dev/null |
    grep -E '^ *(FAIL |× |Test Files |Tests )|AssertionError|^ *[A-Za-z]*Error: ' |
    head -80 >&2 || true
fi
rm -f "$docker_log" "$docker_log.local"
exit "$failed"
