#!/usr/bin/env bash
# Prepares the sandbox's root filesystem from the environment declaration
# (packages/core/environment/environment.conf): a minbase Debian with the
# declared packages, the sandbox user 65532, /workspace, and a manifest of
# what it holds (/etc/code-interpreter/environment.json). The local backend
# binds it read-only as `/` of every sandbox; images/executor/build-offline.sh
# imports it as the executor image.
#
# Cached: does nothing when the root filesystem for this declaration is there.
# Atomic: builds next to it in a temporary directory, then renames, so an
# interrupted build leaves nothing a backend would use. Needs root and
# debootstrap; takes a few minutes the first time.
#
# Usage: prepare-rootfs.sh [--print-path]   (--print-path: print the root filesystem's path on stdout)
# Environment:
#   LOCAL_ROOTFS     where to prepare it (default /var/cache/code-interpreter/rootfs/<environment hash>)
#   DEBIAN_MIRROR    mirror to debootstrap from (default: read from the apt sources)
#   DEBIAN_SUITE     overrides the declared suite
#   FORCE_REBUILD=1  build even when it is there
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib/debian-rootfs.sh
. "$here/../lib/debian-rootfs.sh"
# shellcheck source=environment.sh
. "$here/environment.sh"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
fail() { printf 'prepare-rootfs: %s\n' "$*" >&2; exit 1; }

# apt_install_rootfs ROOTFS PACKAGES: installs PACKAGES (space separated) with apt-get inside
# ROOTFS (a debootstrapped Debian, its apt sources the mirror it came from), without recommends,
# for packages whose dependencies debootstrap cannot resolve. dpkg skips its fsyncs (the build
# is thrown away if interrupted). Its output goes to a log, shown in part on failure.
apt_install_rootfs() {
  local rootfs=$1 packages=$2 output=$1.apt.log
  local apt=(chroot "$rootfs" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive
    apt-get -o Dpkg::Options::=--force-unsafe-io -o APT::Install-Recommends=false)
  log "apt-get install in the root filesystem: $packages"
  # shellcheck disable=SC2086
  if ! { "${apt[@]}" update && "${apt[@]}" install -y $packages; } >"$output" 2>&1; then
    tail -n 30 "$output" >&2
    return 1
  fi
  echo "    $(grep -c '^Setting up' "$output") packages set up" >&2
  rm -f "$output"
}

print_path=0
[ "${1:-}" = --print-path ] && print_path=1

# One reading of the declaration for the whole build, even if it is edited meanwhile.
snapshot=$(mktemp)
trap 'rm -f "$snapshot"' EXIT
cp "$ENVIRONMENT_FILE" "$snapshot"
ENVIRONMENT_FILE=$snapshot
hash=$(environment_hash)
target=$(environment_rootfs)
done_() {
  [ "$print_path" = 0 ] || echo "$target"
  exit 0
}
if [ "${FORCE_REBUILD:-0}" != 1 ] && [ "$(manifest_hash "$target")" = "$hash" ]; then
  log "The sandbox environment $hash is prepared at $target"
  done_
fi
[ "$(id -u)" = 0 ] || fail "must run as root (debootstrap needs it); try: sudo bash $0"
command -v debootstrap >/dev/null || fail "debootstrap is missing; install it: apt-get install -y debootstrap"

parent=$(dirname "$target")
mkdir -p "$parent"
chmod 755 "$parent"
# One build at a time per directory; a second caller waits, then finds it done.
exec 9>"$parent/.prepare.lock"
flock 9
if [ "${FORCE_REBUILD:-0}" != 1 ] && [ "$(manifest_hash "$target")" = "$hash" ]; then
  log "The sandbox environment $hash is prepared at $target"
  done_
fi

workdir=$(mktemp -d "$parent/.build-$hash.XXXXXX")
rootfs=$workdir/rootfs
cleanup() {
  unmount_rootfs "$workdir"
  rm -rf --one-file-system "$workdir" "$snapshot"
}
trap cleanup EXIT

suite=$(environment_suite)
started=$(date +%s)
log "Preparing the sandbox environment $hash (Debian $suite; the first time takes a few minutes)"
DEBIAN_SUITE=$suite debootstrap_rootfs "$rootfs" "$(environment_packages)" || fail "debootstrap failed"
apt_packages=$(environment_apt_packages)
if [ -n "$apt_packages" ]; then
  apt_install_rootfs "$rootfs" "$apt_packages" || fail "apt-get install $apt_packages in the root filesystem failed"
fi

log "Adding user 65532 and /workspace, removing caches"
add_rootfs_user "$rootfs" sandbox 65532 /workspace /bin/bash
install -d -m 1777 -o 65532 -g 65532 "$rootfs/workspace"
slim_rootfs "$rootfs"
# Boost headers come in with scipy's pythran (a build-time compiler): ~180 MB never read at run time.
rm -rf "$rootfs"/usr/include/boost

log "Recording what it holds in /$MANIFEST_PATH"
mapfile -t packages < <(chroot "$rootfs" dpkg-query -W -f '${Package}=${Version}\n' $(environment_values package) $(environment_values apt-package))
modules=$(environment_values module | paste -sd, -)
revision=$(environment_values revision | head -n1)
install -d -m 755 "$rootfs/$(dirname "$MANIFEST_PATH")"
# The modules' own Python imports them: the versions code will see. Their caches go to a directory removed after.
chroot "$rootfs" env -i PATH=/usr/bin:/bin HOME=/tmp MPLCONFIGDIR=/tmp/.manifest-mpl MPLBACKEND=Agg \
  python3 -I -c "$(cat "$here/manifest.py")" "$hash" "$suite" "${revision:-0}" "$modules" "${packages[@]}" \
  >"$rootfs/$MANIFEST_PATH" || fail "could not record the environment (does every declared module import?)"
rm -rf "$rootfs/tmp/.manifest-mpl"
chmod 644 "$rootfs/$MANIFEST_PATH"
# Readable by the sandbox uid, whichever umask this ran with.
chmod 755 "$rootfs"

unmount_rootfs "$rootfs"
if [ -e "$target" ]; then
  mv "$target" "$workdir/previous"
fi
mv "$rootfs" "$target"
log "Prepared the sandbox environment $hash at $target in $(($(date +%s) - started)) s ($(du -sm "$target" | cut -f1) MB)"
done_
