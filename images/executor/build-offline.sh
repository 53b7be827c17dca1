#!/usr/bin/env bash
# Builds the executor image without any container registry: the sandbox
# environment's root filesystem (images/environment/prepare-rootfs.sh, from
# the one declaration packages/core/environment/environment.conf, the same
# the local backend runs in) imported with `docker import`. Prepares that
# root filesystem first when it is not there; otherwise only imports it.
#
# The image carries the environment's hash in the label
# code-interpreter.environment: the build does nothing when it matches, and
# rebuilds when the declaration changed. Needs root, debootstrap (for a first
# preparation) and a running Docker engine.
#
# Environment:
#   PYTHON_EXECUTOR_DOCKER_IMAGE  image to create (default code-interpreter-executor:latest)
#   LOCAL_ROOTFS                  the prepared root filesystem (default /var/cache/code-interpreter/rootfs/<hash>)
#   DEBIAN_MIRROR                 mirror to debootstrap from (default: read from the apt sources)
#   DEBIAN_SUITE                  overrides the declared suite
#   FORCE_REBUILD=1               import even when the image is current (the root filesystem is still reused)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../environment/environment.sh
. "$here/../environment/environment.sh"

image=${PYTHON_EXECUTOR_DOCKER_IMAGE:-code-interpreter-executor:latest}
label=code-interpreter.environment
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
fail() { printf 'build-offline: %s\n' "$*" >&2; exit 1; }

hash=$(environment_hash)
current=$(docker image inspect --format "{{ index .Config.Labels \"$label\" }}" "$image" 2>/dev/null || true)
if [ "${FORCE_REBUILD:-0}" != 1 ] && [ "$current" = "$hash" ]; then
  log "Image $image has the sandbox environment $hash; nothing to do (FORCE_REBUILD=1 rebuilds it)"
  exit 0
fi
docker info >/dev/null 2>&1 || fail "the Docker engine does not answer (is dockerd running?)"
rootfs=$(bash "$here/../environment/prepare-rootfs.sh" --print-path) || fail "could not prepare the sandbox environment"

# The declared environment, as the image's own (backends also pass it to every execution).
changes=()
while IFS= read -r variable; do changes+=(--change "ENV $variable"); done < <(environment_values env)

log "Importing $image from $rootfs${current:+ (it had the environment ${current:-none})}"
previous=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change 'USER 65532:65532' \
  --change 'WORKDIR /workspace' \
  "${changes[@]}" \
  --change 'LABEL org.opencontainers.image.title=code-interpreter-executor' \
  --change "LABEL $label=$hash" \
  --change 'CMD ["python3"]' \
  - "$image" >/dev/null
# The image it replaces would stay behind untagged; a container still using it keeps it (rm fails, harmlessly).
[ -z "$previous" ] || [ "$previous" = "$(docker image inspect --format '{{.Id}}' "$image")" ] || docker image rm "$previous" >/dev/null 2>&1 || true
log "Built $image with the sandbox environment $hash ($(docker image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
