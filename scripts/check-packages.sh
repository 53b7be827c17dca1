#!/usr/bin/env bash
# Checks that every publishable workspace package installs cleanly from the
# registry: builds, `pnpm pack`s each one (private ones are skipped), and runs
# on the tarball exactly what users will get:
#   - publint --strict (exports, files, types, sideEffects; warnings fail too)
#   - @arethetypeswrong/cli with the esm-only profile: the packages are ESM
#     only by design ("type": "module", no require condition), so the node10 and
#     node16-from-CJS resolutions are expected to fail and are not checked;
#     a package without `exports` (a bin-only CLI) has no types to check
#   - our own rules: LICENSE and README.md in the tarball, no `workspace:`
#     specifier left in the packed package.json, the files a package reads at
#     run time (core's runner.py, its hostile programs) present, and the registry metadata
#     (repository = the root's with the package's directory, public access).
# Checks every package, then fails if any had a problem.
#
#   bash scripts/check-packages.sh            # build, then check all
#   SKIP_BUILD=1 bash scripts/check-packages.sh @code-interpreter/core   # only these, no build
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=$root/node_modules/.bin

. scripts/lib/common.sh

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "Building"
  pnpm exec turbo run build --output-logs=errors-only >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/check-packages.XXXXXX")
trap 'rm -rf "$work"' EXIT

# name<TAB>dir of every workspace package that is not private (the root is).
mapfile -t packages < <(pnpm ls -r --depth -1 --json | node -e '
  const wanted = new Set(process.argv.slice(1));
  for (const p of JSON.parse(require("node:fs").readFileSync(0, "utf8")))
    if (!p.private && (wanted.size === 0 || wanted.has(p.name))) console.log(`${p.name}\t${p.path}`);
' "$@")
[ ${#packages[@]} -gt 0 ] || { echo "check-packages: no publishable package matched" >&2; exit 1; }

# Files a package needs at run time beyond what its exports point at.
required_files() {
  case $1 in
    @code-interpreter/core) echo runner/runner.py testing/hostile/fork_bomb.py testing/hostile/syscall_numbers.py ;;
  esac
}

failed=()
for entry in "${packages[@]}"; do
  name=${entry%%$'\t'*}
  dir=${entry#*$'\t'}
  out=$work/${name//\//+}
  mkdir -p "$out/unpacked"
  log "$name"
  tarball=$(cd "$dir" && pnpm pack --pack-destination "$out" --json | node -e 'console.log(JSON.parse(require("node:fs").readFileSync(0, "utf8")).filename)')
  tar -xzf "$tarball" -C "$out/unpacked"
  pkg=$out/unpacked/package
  problems=()

  (cd "$out" && "$bin/publint" run "$tarball" --strict) || problems+=("publint")

  if node -e 'const p = require(process.argv[1]); process.exit(p.exports || p.main || p.types ? 0 : 1)' "$pkg/package.json"; then
    (cd "$out" && "$bin/attw" "$tarball" --profile esm-only --no-emoji --no-color) || problems+=("attw")
  else
    echo "attw: no exports, main or types (bin only): nothing to type-check"
  fi

  for file in LICENSE README.md $(required_files "$name"); do
    [ -f "$pkg/$file" ] || problems+=("$file is missing from the tarball")
  done
  if grep -q '"workspace:' "$pkg/package.json"; then problems+=("a workspace: specifier is left in package.json"); fi
  # Registry metadata: the root's repository with this package's directory, public access, a license.
  metadata=$(node -e '
    const [packed, rootManifest, directory] = process.argv.slice(1);
    const p = require(packed), root = require(rootManifest), bad = [];
    if (p.repository?.url !== root.repository.url || p.repository?.directory !== directory) bad.push(`repository is not {url: ${root.repository.url}, directory: ${directory}}`);
    if (p.publishConfig?.access !== "public") bad.push("publishConfig.access is not public");
    if (p.license !== "MIT") bad.push("license is not MIT");
    if (!p.keywords?.length) bad.push("no keywords");
    console.log(bad.join("; "));
  ' "$pkg/package.json" "$root/package.json" "${dir#"$root"/}")
  [ -z "$metadata" ] || problems+=("$metadata")

  if [ ${#problems[@]} -gt 0 ]; then
    printf '  FAIL %s: %s\n' "$name" "$(IFS=';'; echo "${problems[*]}")" >&2
    failed+=("$name")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "check-packages: ${#failed[@]} package(s) would not publish cleanly: ${failed[*]}" >&2
  exit 1
fi
log "All ${#packages[@]} publishable packages pass publint and attw"
