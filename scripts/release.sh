#!/usr/bin/env bash
# Releases the packages with changesets: version (bumps and changelogs from
# .changeset/*.md), build, check the tarballs (scripts/check-packages.sh), then
# publish every package whose new version is not on the registry yet.
#
#   bash scripts/release.sh             # on a clean tree: version, commit, build, check, publish (tags too)
#   bash scripts/release.sh --dry-run   # all of it except publishing, in a temporary clone
#
# --dry-run never touches this working tree: it clones the committed HEAD to a
# temporary directory, versions and builds there, shows what would be released,
# runs `pnpm publish --dry-run` for each publishable package, and removes the
# clone. Publishing needs registry credentials in the environment (an .npmrc or
# NPM_TOKEN); the dry run needs none.
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=0
case "${1:-}" in
  "") ;;
  --dry-run) dry_run=1 ;;
  *) echo "usage: bash scripts/release.sh [--dry-run]" >&2; exit 2 ;;
esac

. scripts/lib/common.sh
fail() { printf 'release: %s\n' "$*" >&2; exit 1; }

# name<TAB>dir of every publishable workspace package.
publishable() {
  pnpm ls -r --depth -1 --json | node -e '
    for (const p of JSON.parse(require("node:fs").readFileSync(0, "utf8"))) if (!p.private) console.log(`${p.name}\t${p.path}`);'
}

version_and_build() {
  if compgen -G ".changeset/*.md" >/dev/null; then
    log "changeset version"
    pnpm exec changeset version
    # Internal ranges are workspace:^, so the lockfile only changes if a package appeared or left.
    pnpm install --lockfile-only --reporter=silent
  else
    log "No changesets: versions stay as they are"
  fi
  log "Building"
  pnpm exec turbo run build --output-logs=errors-only >/dev/null
  log "Checking the tarballs"
  SKIP_BUILD=1 bash scripts/check-packages.sh
}

if [ "$dry_run" = 1 ]; then
  root=$PWD
  clone=$(mktemp -d "${TMPDIR:-/tmp}/release-dry-run.XXXXXX")
  trap 'rm -rf "$clone"' EXIT
  log "Dry run in a clone of HEAD ($(git rev-parse --short HEAD)): this working tree is left alone"
  git clone --quiet --local --no-checkout "$root" "$clone"
  git -C "$clone" checkout --quiet --detach "$(git rev-parse HEAD)"
  cd "$clone"
  # From the local store: no download unless the lockfile asks for something new.
  CI=true pnpm install --frozen-lockfile --prefer-offline --reporter=silent
  version_and_build
  while IFS=$'\t' read -r name dir; do
    version=$(node -p 'require(process.argv[1]).version' "$dir/package.json")
    before=$(git show "HEAD:${dir#"$clone"/}/package.json" 2>/dev/null | node -p 'JSON.parse(require("node:fs").readFileSync(0, "utf8")).version' || echo new)
    log "pnpm publish --dry-run $name@$version (HEAD has $before)"
    (cd "$dir" && pnpm publish --dry-run --no-git-checks --access public --reporter=silent >/dev/null) ||
      fail "$name@$version would not publish"
  done < <(publishable)
  log "Dry run done: nothing was published, the clone is removed"
  exit 0
fi

[ -z "$(git status --porcelain)" ] || fail "the working tree has uncommitted changes; commit or move them first"
version_and_build
if [ -n "$(git status --porcelain)" ]; then
  git add -A .changeset '*package.json' '*CHANGELOG.md' pnpm-lock.yaml
  git commit --quiet -m "Version packages"
  log "Committed the version bump"
fi
log "Publishing (changeset publish: only versions the registry does not have; tags each one)"
pnpm exec changeset publish
log "Released. Push the commit and tags: git push --follow-tags"
