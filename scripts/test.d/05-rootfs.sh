#!/usr/bin/env bash
# Prepares the sandbox environment (images/environment/prepare-rootfs.sh): the
# root filesystem the local backend's sandboxes and the Kubernetes double's
# process pods run in, and that 10-docker.sh imports as the executor image.
# Quick when it is cached. Under CI=true a failure fails the run; elsewhere it
# warns and the tests needing it fail with the command that prepares it.
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/lib/common.sh
SETUP_NAME="sandbox environment" SKIPPED="Local and process-pod sandbox tests"

bash scripts/prepare-environment.sh || give_up "could not prepare the sandbox environment (see above)"
