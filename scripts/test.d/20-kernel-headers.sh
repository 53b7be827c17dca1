#!/usr/bin/env bash
# Installs Debian's kernel headers (linux-libc-dev): the syscall policy's unit
# test checks its syscall numbers against the kernel's own. Under CI=true a
# failure fails the run; elsewhere that test passes without the check.
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/lib/common.sh

[ -e /usr/include/asm-generic/unistd.h ] && exit 0
log "Installing linux-libc-dev from Debian packages (kernel syscall numbers for the seccomp policy test)"
if command -v apt-get >/dev/null && as_root apt-get update -qq &&
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-libc-dev >/dev/null; then
  exit 0
fi
if [ "${CI:-}" = true ]; then
  echo "kernel headers setup: could not install linux-libc-dev" >&2
  exit 1
fi
log "The syscall numbers will not be checked against the kernel headers: linux-libc-dev could not be installed"
