#!/usr/bin/env bash
# Builds the server image offline (images/server/build-offline.sh) so the
# route tests can run against the server in a container. Runs after
# 10-docker.sh, which starts the engine and builds the executor image. Quick
# when the image's inputs did not change. Under CI=true a failure fails the
# run; elsewhere it warns and the container route tests skip themselves.
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/lib/common.sh
SETUP_NAME="server image" SKIPPED="Container route tests"

timeout 20 docker info >/dev/null 2>&1 || give_up "the Docker engine does not answer"
# bootstrap.sh has just built every package; root needs this user's node and pnpm on its PATH.
as_root env PATH="$PATH" SKIP_BUILD=1 SERVER_IMAGE="${SERVER_IMAGE:-code-interpreter-server:latest}" \
  NODE_BINARY="$(command -v node)" bash images/server/build-offline.sh || give_up "could not build the server image"
