#!/usr/bin/env bash
# Installs Debian's crun, an OCI runtime the engine-refusal test registers with
# a private dockerd: on a host where crun cannot apply cgroup limits (cgroups
# v1) the engine refuses its sandboxes, which must come back as a named 503.
# Under CI=true a failure fails the run; elsewhere that test skips itself.
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/lib/common.sh
SETUP_NAME="crun setup" SKIPPED="The engine-refusal test"

command -v crun >/dev/null && exit 0
log "Installing crun from Debian packages (for the engine-refusal test)"
apt_install crun || give_up "could not install crun"
