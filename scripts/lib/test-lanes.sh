# The vitest suite's two lanes, which scripts/test.sh runs at the same time: source it
# (`. scripts/lib/test-lanes.sh`) and call `test_lanes [vitest filters…]`.
#
# docker: every file that uses a Docker engine (the machine's or a private one) or the Kubernetes
#   double's Docker pods, one file at a time. Some of them count every container labelled
#   app=code-interpreter as a leftover, so two of them at once would fail each other.
# local:  everything else (unit tests, the local backend, the double's process pods, S3, the server
#   on the local backend). Their leftover checks see only their own sandboxes (children of their
#   own process, their own state directory, their own run of the hostile suite's marker), so they
#   can run beside the docker lane.
# A file is in the docker lane when it is in backend-docker or backend-kubernetes, is named
# `*.docker.test.ts`, `*.kubernetes.test.ts` or `*.container.test.ts`, or mentions Docker or
# Kubernetes at all: a new file that might use either lands there, where it cannot meet another.
# The double's process pods (bubblewrap sandboxes, no Docker: `*-process.test.ts`,
# process-pods.test.ts) are local.

# Prints `<lane> <file>` for each test file vitest finds (paths relative to the checkout).
test_lanes() {
  local list
  list=$(mktemp "${TMPDIR:-/tmp}/test-files.XXXXXX")
  # (To a file: with a filter, `--json` alone prints nothing.)
  pnpm exec vitest list --filesOnly --json="$list" "$@" >/dev/null || { rm -f "$list"; return 1; }
  node -e 'const files = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).map((entry) => require("path").relative(process.cwd(), entry.file));
      console.log([...new Set(files)].sort().join("\n"))' "$list" |
    while IFS= read -r file; do
      [ -n "$file" ] || continue
      case $file in
        packages/backend-kubernetes/test/*-process.test.ts | packages/kubernetes-double/src/process-pods.test.ts) echo "local $file" ;;
        packages/backend-docker/* | packages/backend-kubernetes/* | *.docker.test.ts | *.kubernetes.test.ts | *.container.test.ts) echo "docker $file" ;;
        *) if grep -qiE 'docker|kubernetes|startDouble' "$file"; then echo "docker $file"; else echo "local $file"; fi ;;
      esac
    done
  rm -f "$list"
}
