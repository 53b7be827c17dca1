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

# First URI and suite of the first non-security stanza (deb822) or line (one-line format).
read_apt_source() {
  local field=$1 file
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -e "$file" ] || continue
    awk -v field="$field" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uri = ""; suite = ""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { split(substr($i, 6), parts, " "); for (p in parts) if (parts[p] != "") { uri = parts[p]; break } }
          if ($i ~ /^Suites:/) { n = split(substr($i, 8), parts, " "); for (p = 1; p <= n; p++) if (parts[p] != "") { suite = parts[p]; break } }
        }
        if (uri != "" && uri !~ /security/ && suite !~ /security/) { print (field == "uri" ? uri : suite); exit }
      }' "$file"
  done | head -n1
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -e "$file" ] || continue
    awk -v field="$field" '$1 == "deb" && $0 !~ /security/ {
      i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
      print (field == "uri" ? $i : $(i + 1)); exit }' "$file"
  done | head -n1
}
mirror=${DEBIAN_MIRROR:-$(read_apt_source uri | head -n1)}
suite=${DEBIAN_SUITE:-$(read_apt_source suite | head -n1)}
suite=${suite:-bookworm}
[ -n "$mirror" ] || fail "no Debian mirror found in /etc/apt/sources.list*; set DEBIAN_MIRROR"

workdir=$(mktemp -d "${TMPDIR:-/var/tmp}/executor-rootfs.XXXXXX")
rootfs=$workdir/rootfs
cleanup() {
  # debootstrap may leave /proc or /sys mounted in the rootfs when interrupted.
  awk -v root="$rootfs" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r | while read -r mount; do
    umount -l "$mount" || true
  done
  rm -rf --one-file-system "$workdir"
}
trap cleanup EXIT

# iptables: for the Kubernetes backend's egress lockdown init container, which uses this image.
packages=python3,python3-numpy,python3-pandas,python3-matplotlib,python3-openpyxl,python3-scipy,bash,tar,coreutils,procps,ca-certificates,iptables
log "debootstrap $suite from $mirror (packages: $packages)"
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$workdir/debootstrap.log" 2>&1 || {
  tail -n 30 "$workdir/debootstrap.log" >&2
  [ -f "$rootfs/debootstrap/debootstrap.log" ] && tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
  fail "debootstrap failed"
}

log "Adding user 65532 and /workspace, removing caches"
echo 'sandbox:x:65532:65532:sandbox:/workspace:/bin/bash' >>"$rootfs/etc/passwd"
echo 'sandbox:x:65532:' >>"$rootfs/etc/group"
echo 'sandbox:!:19000::::::' >>"$rootfs/etc/shadow"
install -d -m 1777 -o 65532 -g 65532 "$rootfs/workspace"
rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* \
  "$rootfs"/usr/share/doc "$rootfs"/usr/share/man "$rootfs"/usr/share/info "$rootfs"/debootstrap
# Boost headers come in with scipy's pythran (a build-time compiler): ~180 MB never read at run time.
rm -rf "$rootfs"/usr/include/boost
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf {} + 2>/dev/null || true

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
