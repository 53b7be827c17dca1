#!/usr/bin/env bash
# Builds the server image without any container registry, the way the executor
# image is built: a minbase Debian (debootstrap, cached as a base image), this
# host's Node binary (>= 22), and `pnpm deploy` of @code-interpreter/server
# with its production dependencies, put together with `docker import`.
#
# Quick when nothing changed: the image carries a hash of its inputs (Node
# binary, deployed server, these scripts, Debian suite and mirror) in a label,
# and the build stops when the existing image's label matches. Needs root,
# debootstrap, a running Docker engine, and a checkout with dependencies
# installed (pnpm install).
#
# Environment:
#   SERVER_IMAGE     image to create (default code-interpreter-server:latest)
#   NODE_BINARY      the Node to ship (default: the `node` on PATH)
#   DEBIAN_MIRROR    mirror to debootstrap from (default: read from the apt sources)
#   DEBIAN_SUITE     suite (default: read from the apt sources, else bookworm)
#   FORCE_REBUILD=1  build even when the inputs did not change (the base too)
#   SKIP_BUILD=1     ship the packages' dist as it is, without `turbo run build` first
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib/debian-rootfs.sh
. "$here/../lib/debian-rootfs.sh"
cd "$here/../.."

image=${SERVER_IMAGE:-code-interpreter-server:latest}
base_image=code-interpreter-server-base:latest
hash_label=code-interpreter.inputs-hash
# The server's user: not the sandbox uid (65532), not root. It reaches the engine only through a socket it is given.
uid=10001
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
fail() { printf 'build-offline: %s\n' "$*" >&2; exit 1; }
label_of() { docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }

[ "$(id -u)" = 0 ] || fail "must run as root (debootstrap needs it); try: sudo bash $0"
command -v debootstrap >/dev/null || fail "debootstrap is missing; install it: apt-get install -y debootstrap"
docker info >/dev/null 2>&1 || fail "the Docker engine does not answer (is dockerd running?)"
node_binary=$(readlink -f "${NODE_BINARY:-$(command -v node)}")
[ -x "$node_binary" ] || fail "no Node binary at ${NODE_BINARY:-node on PATH}; set NODE_BINARY"
node_major=$("$node_binary" -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 22 ] || fail "the server needs Node >= 22; $node_binary is $("$node_binary" --version)"

workdir=$(mktemp -d "${TMPDIR:-/var/tmp}/server-rootfs.XXXXXX")
rootfs=$workdir/rootfs
cleanup() {
  unmount_rootfs "$rootfs"
  rm -rf --one-file-system "$workdir"
}
trap cleanup EXIT

log "Building and deploying @code-interpreter/server (production dependencies)"
[ "${SKIP_BUILD:-0}" = 1 ] || pnpm exec turbo run build --filter @code-interpreter/server... --output-logs=errors-only >/dev/null
pnpm --filter @code-interpreter/server deploy --prod --prefer-offline --reporter=silent "$workdir/app"
# pnpm's bookkeeping (timestamps): not read at run time, and would change the hash on every build.
rm -f "$workdir/app/node_modules/.modules.yaml" "$workdir/app/node_modules/.pnpm-workspace-state-v1.json"

base_hash=$(cat "$here/../lib/debian-rootfs.sh" <(sed -n '/^# --- base/,/^# --- end base/p' "$0") <(debian_suite) <(debian_mirror) | sha256sum | cut -c1-64)
hash=$(
  {
    echo "$base_hash"
    sha256sum "$node_binary" | cut -c1-64
    sha256sum "$0" | cut -c1-64
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$workdir/app" -c . | sha256sum | cut -c1-64
  } | sha256sum | cut -c1-64
)
if [ "${FORCE_REBUILD:-0}" != 1 ] && [ "$(label_of "$image" "$hash_label")" = "$hash" ]; then
  log "Image $image is up to date (inputs $(echo "$hash" | cut -c1-12)); nothing to do (FORCE_REBUILD=1 rebuilds it)"
  exit 0
fi

# --- base: Debian minbase and the server user, cached as its own image (the slow part: about a minute)
if [ "${FORCE_REBUILD:-0}" = 1 ] || [ "$(label_of "$base_image" "$hash_label")" != "$base_hash" ]; then
  debootstrap_rootfs "$rootfs" ca-certificates || fail "debootstrap failed"
  add_rootfs_user "$rootfs" code-interpreter "$uid" /nonexistent /usr/sbin/nologin
  install -d -m 0750 -o "$uid" -g "$uid" "$rootfs/var/lib/code-interpreter" "$rootfs/var/lib/code-interpreter/files"
  slim_rootfs "$rootfs"
  log "Importing the base image $base_image"
  tar --numeric-owner -C "$rootfs" -c . | docker import --change "LABEL $hash_label=$base_hash" - "$base_image" >/dev/null
  unmount_rootfs "$rootfs"
  rm -rf --one-file-system "$rootfs"
fi
# --- end base

log "Adding Node $("$node_binary" --version) and the server to the base"
mkdir -p "$rootfs"
container=$(docker create "$base_image" /bin/true)
docker export "$container" | tar -x --numeric-owner -C "$rootfs"
docker rm "$container" >/dev/null
rm -f "$rootfs/.dockerenv"
install -m 0755 "$node_binary" "$rootfs/usr/local/bin/node"
cp -a "$workdir/app" "$rootfs/app"
chown -R 0:0 "$rootfs/app"

log "Importing $image"
previous=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
# glibc malloc settings and V8's semi-space size that give freed memory back to the system (as
# `code-interpreter serve` sets them: apps/cli/src/commands/memory-settings.ts; measured in bench/README.md).
healthcheck='fetch(`http://127.0.0.1:${process.env.PORT||8000}/health`).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))'
tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change "USER $uid:$uid" \
  --change 'WORKDIR /app' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_ENV=production' \
  --change 'ENV HOST=0.0.0.0' \
  --change 'ENV PORT=8000' \
  --change 'ENV EXECUTOR_BACKEND=docker' \
  --change 'ENV FILE_STORAGE_DIR=/var/lib/code-interpreter/files' \
  --change 'ENV MALLOC_ARENA_MAX=2' \
  --change 'ENV MALLOC_MMAP_THRESHOLD_=16384' \
  --change 'ENV MALLOC_TRIM_THRESHOLD_=131072' \
  --change 'EXPOSE 8000' \
  --change "HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD [\"node\", \"-e\", \"$healthcheck\"]" \
  --change 'LABEL org.opencontainers.image.title=code-interpreter-server' \
  --change "LABEL $hash_label=$hash" \
  --change 'CMD ["node", "--max-semi-space-size=16", "dist/main.js"]' \
  - "$image" >/dev/null
# The image it replaces would stay behind untagged; a container still using it keeps it (rm fails, harmlessly).
[ -z "$previous" ] || [ "$previous" = "$(docker image inspect --format '{{.Id}}' "$image")" ] || docker image rm "$previous" >/dev/null 2>&1 || true
log "Built $image ($(docker image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
