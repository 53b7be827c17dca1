#!/usr/bin/env bash
# kubectl, for the test that renders deploy/ with `kubectl kustomize` as users
# apply it: Debian's kubernetes-client when no kubectl is installed.
# Under CI=true a failure fails the run; elsewhere that test skips itself.
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/lib/common.sh
SETUP_NAME="kubectl setup" SKIPPED="deploy/ rendering test"

command -v kubectl >/dev/null && exit 0
log "Installing kubernetes-client (kubectl) from Debian packages"
command -v apt-get >/dev/null || give_up "no apt-get to install kubernetes-client"
as_root apt-get update -qq || give_up "apt-get update failed"
as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq kubernetes-client >/dev/null ||
  give_up "could not install kubernetes-client"
