#!/usr/bin/env bash
# Installs Debian's crun, an OCI runtime the engine-refusal test registers with
# a private dockerd: on a host where crun cannot apply cgroup limits (cgroups
# v1) the engine refuses its sandboxes, which must come back as a named 503.
# Under CI=true a failure fails the run; elsewhere that test skips itself.
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/lib/common.sh

command -v crun >/dev/null && exit 0
log "Installing crun from Debian packages (for the engine-refusal test)"
if command -v apt-get >/dev/null && as_root apt-get update -qq &&
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq crun >/dev/null; then
  exit 0
fi
if [ "${CI:-}" = true ]; then
  echo "crun setup: could not install crun" >&2
  exit 1
fi
log "The engine-refusal test will be skipped: crun could not be installed"
