#!/usr/bin/env bash
# Makes the Docker backend testable: the Docker Engine (from Debian packages)
# running, and the executor image imported from the prepared sandbox
# environment (05-rootfs.sh). Quick when all is there.
# Under CI=true any failure fails the run; elsewhere it warns and the Docker
# tests skip themselves.
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/lib/common.sh
SETUP_NAME="docker setup" SKIPPED="Docker backend tests"

missing=()
command -v docker >/dev/null || missing+=(docker.io)
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  log "Installing ${missing[*]} from Debian packages"
  command -v apt-get >/dev/null || give_up "no apt-get to install ${missing[*]}"
  as_root apt-get update -qq || give_up "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || give_up "could not install ${missing[*]}"
fi

# A running engine whose default bridge is gone cannot start a container on it ("could not find bridge docker0"):
# another dockerd started with `--bridge none` (a private engine for an experiment) removes docker0 as it starts.
# The engine makes it again when it restarts.
if as_root timeout 20 docker info >/dev/null 2>&1 && command -v ip >/dev/null && ! ip link show docker0 >/dev/null 2>&1 &&
  [ "$(as_root timeout 20 docker network inspect bridge --format '{{index .Options "com.docker.network.bridge.name"}}' 2>/dev/null)" = docker0 ]; then
  log "The engine's bridge docker0 is gone: restarting dockerd"
  as_root pkill -x dockerd || true
  for _ in $(seq 30); do pgrep -x dockerd >/dev/null || break; sleep 1; done
fi

if ! as_root timeout 20 docker info >/dev/null 2>&1; then
  log "Starting dockerd"
  as_root sh -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &' || give_up "could not start dockerd"
  for _ in $(seq 60); do
    timeout 20 docker info >/dev/null 2>&1 && break
    sleep 1
  done
  timeout 20 docker info >/dev/null 2>&1 || give_up "dockerd did not answer within 60 s (see /var/log/dockerd.log)"
fi

image=${PYTHON_EXECUTOR_DOCKER_IMAGE:-code-interpreter-executor:latest}
# Imports the sandbox environment 05-rootfs.sh prepared (no second debootstrap); nothing to do when the image's label is current.
as_root env PYTHON_EXECUTOR_DOCKER_IMAGE="$image" ${LOCAL_ROOTFS:+LOCAL_ROOTFS="$LOCAL_ROOTFS"} bash images/executor/build-offline.sh ||
  give_up "could not build the executor image $image"
