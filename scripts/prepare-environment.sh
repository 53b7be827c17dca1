#!/usr/bin/env bash
# Prepares the sandbox environment the local backend runs code in (and the
# executor image is imported from): installs debootstrap when it is missing,
# then runs images/environment/prepare-rootfs.sh as root. A few minutes the
# first time, with progress; a moment once it is cached.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib/common.sh

if ! command -v debootstrap >/dev/null; then
  log "Installing debootstrap (builds the sandbox environment from Debian packages)"
  command -v apt-get >/dev/null || { echo "prepare-environment: no apt-get to install debootstrap; install it with your package manager" >&2; exit 1; }
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq debootstrap >/dev/null
fi
as_root env ${LOCAL_ROOTFS:+LOCAL_ROOTFS="$LOCAL_ROOTFS"} ${DEBIAN_MIRROR:+DEBIAN_MIRROR="$DEBIAN_MIRROR"} ${DEBIAN_SUITE:+DEBIAN_SUITE="$DEBIAN_SUITE"} \
  ${FORCE_REBUILD:+FORCE_REBUILD="$FORCE_REBUILD"} bash images/environment/prepare-rootfs.sh "$@"
