#!/usr/bin/env bash
# Builds the executor image without any container registry: debootstrap a
# minimal Debian with Python and the data-science packages, then `docker import`
# it. Skips all work when the image already exists. Needs root, debootstrap and
# a running Docker engine.
#
# Environment:
#   PYTHON_EXECUTOR_DOCKER_IMAGE  image to create (default code-interpreter-executor:latest)
#   DEBIAN_MIRROR                 mirror to debootstrap from (default: read from the apt sources)
#   DEBIAN_SUITE                  suite (default: read from the apt sources, else bookworm)
#   FORCE_REBUILD=1               build even when the image exists
set -euo pipefail
# shellcheck source=../lib/debian-rootfs.sh
. "$(dirname "$0")/../lib/debian-rootfs.sh"

image=${PYTHON_EXECUTOR_DOCKER_IMAGE:-code-interpreter-executor:latest}
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
fail() { printf 'build-offline: %s\n' "$*" >&2; exit 1; }

if [ "${FORCE_REBUILD:-0}" != 1 ] && docker image inspect "$image" >/dev/null 2>&1; then
  log "Image $image already exists; nothing to do (FORCE_REBUILD=1 rebuilds it)"
  exit 0
fi
[ "$(id -u)" = 0 ] || fail "must run as root (debootstrap needs it); try: sudo bash $0"
command -v debootstrap >/dev/null || fail "debootstrap is missing; install it: apt-get install -y debootstrap"
docker info >/dev/null 2>&1 || fail "the Docker engine does not answer (is dockerd running?)"

workdir=$(mktemp -d "${TMPDIR:-/var/tmp}/executor-rootfs.XXXXXX")
rootfs=$workdir/rootfs
cleanup() {
  unmount_rootfs "$rootfs"
  rm -rf --one-file-system "$workdir"
}
trap cleanup EXIT

# iptables: for the Kubernetes backend's egress lockdown init container, which uses this image.
debootstrap_rootfs "$rootfs" python3,python3-numpy,python3-pandas,python3-matplotlib,python3-openpyxl,python3-scipy,bash,tar,coreutils,procps,ca-certificates,iptables ||
  fail "debootstrap failed"

log "Adding user 65532 and /workspace, removing caches"
add_rootfs_user "$rootfs" sandbox 65532 /workspace /bin/bash
install -d -m 1777 -o 65532 -g 65532 "$rootfs/workspace"
slim_rootfs "$rootfs"
# Boost headers come in with scipy's pythran (a build-time compiler): ~180 MB never read at run time.
rm -rf "$rootfs"/usr/include/boost

log "Importing $image"
tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change 'USER 65532:65532' \
  --change 'WORKDIR /workspace' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV HOME=/tmp' \
  --change 'ENV MPLBACKEND=Agg' \
  --change 'ENV MPLCONFIGDIR=/tmp/matplotlib' \
  --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
  --change 'ENV PYTHONUNBUFFERED=1' \
  --change 'LABEL org.opencontainers.image.title=code-interpreter-executor' \
  --change 'CMD ["python3"]' \
  - "$image" >/dev/null
log "Built $image ($(docker image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
