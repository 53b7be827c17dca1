#!/usr/bin/env bash
# gVisor, the second wall (SANDBOX_RUNTIME=gvisor): Debian's runsc, and runsc
# registered with the Docker engine as the runtime `runsc`. The ptrace platform,
# because kvm hangs on machines like this one although /dev/kvm exists; and
# --network=none, because the sandboxes have no network anyway and runsc's own
# netstack setup fails without a veth to take over; and --oci-seccomp, without
# which runsc ignores the container's seccomp profile (the sandbox's syscall
# policy): the Docker backend refuses a runsc runtime that lacks it; and
# --host-uds=open, so a sandbox may connect to a host Unix socket bound into it
# (the egress proxy's, issue 22; nothing else is bound): without it the Docker
# backend does not offer egress under gVisor.
# Under CI=true a failure fails the run; elsewhere the gVisor tests skip themselves.
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/lib/common.sh
SETUP_NAME="gVisor setup" SKIPPED="gVisor runtime tests"

if ! command -v runsc >/dev/null; then
  log "Installing runsc (gVisor) from Debian packages"
  apt_install runsc || give_up "could not install runsc"
fi
runsc_path=$(command -v runsc)
platform=${GVISOR_PLATFORM:-ptrace}

# Docker: add (or update) the runtime in daemon.json, then have dockerd reload it (SIGHUP reloads runtimes).
timeout 20 docker info >/dev/null 2>&1 || exit 0 # no engine here: 10-docker.sh said why
registered() {
  local runsc
  runsc=$(timeout 20 docker info --format '{{json .Runtimes.runsc}}' 2>/dev/null) || return 1
  grep -q -- '"--oci-seccomp"' <<<"$runsc" && grep -q -- '"--host-uds=open"' <<<"$runsc"
}
if registered; then exit 0; fi
log "Registering runsc with the Docker engine (/etc/docker/daemon.json)"
as_root mkdir -p /etc/docker
as_root env RUNSC="$runsc_path" PLATFORM="$platform" python3 - <<'PY' || give_up "could not write /etc/docker/daemon.json"
import json, os
path = "/etc/docker/daemon.json"
try:
    with open(path) as f:
        config = json.load(f)
except FileNotFoundError:
    config = {}
config.setdefault("runtimes", {})["runsc"] = {
    "path": os.environ["RUNSC"],
    "runtimeArgs": [f"--platform={os.environ['PLATFORM']}", "--network=none", "--oci-seccomp", "--host-uds=open"],
}
with open(path, "w") as f:
    json.dump(config, f, indent=2)
PY
as_root pkill -HUP -x dockerd || give_up "could not signal dockerd to reload its runtimes"
for _ in $(seq 30); do
  registered && exit 0
  sleep 1
done
give_up "dockerd did not take runsc (with --oci-seccomp and --host-uds=open) as a runtime (see /var/log/dockerd.log)"
