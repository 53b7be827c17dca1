#!/usr/bin/env bash
# A real S3-compatible object store for the S3 file-store tests: OpenStack
# Swift from Debian (proxy, account, container and object servers with the
# s3api and tempauth middlewares), one node on loopback, all state below
# SWIFT_STATE_DIR. Writes $SWIFT_STATE_DIR/s3.json, where the tests find the
# endpoint and credentials. Quick when it already runs.
# Under CI=true any failure fails the run; elsewhere the S3 tests skip themselves.
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/lib/common.sh
SETUP_NAME="swift setup" SKIPPED="S3 file-store tests"

state=${SWIFT_STATE_DIR:-/tmp/code-interpreter-swift}
proxy_port=${SWIFT_PROXY_PORT:-18080}
endpoint="http://127.0.0.1:$proxy_port"

answers() { curl -fsS --max-time 5 "$endpoint/healthcheck" >/dev/null 2>&1; }
if answers && [ -f "$state/s3.json" ]; then exit 0; fi

missing=()
for tool in swift-proxy-server swift-account-server swift-container-server swift-object-server; do
  command -v "$tool" >/dev/null || missing=(swift-proxy swift-account swift-container swift-object)
done
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  log "Installing ${missing[*]} from Debian packages"
  command -v apt-get >/dev/null || give_up "no apt-get to install ${missing[*]}"
  as_root apt-get update -qq || give_up "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null ||
    give_up "could not install ${missing[*]}"
fi
# The servers read the cluster's hash salt from this fixed path; Debian ships one.
[ -f /etc/swift/swift.conf ] || give_up "/etc/swift/swift.conf is missing (it comes with the swift package)"

log "Starting Swift (S3 API) on $endpoint"
# A stale node from an earlier run: stop it, start clean.
for pidfile in "$state"/run/*.pid; do
  [ -e "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
done
rm -rf "$state"
mkdir -p "$state/etc" "$state/srv/d0" "$state/run" "$state/log"
user=$(id -un)

# Rings (with the system Python that has the swift module): its RingBuilder builds all three in well under a second (the CLI takes seconds).
/usr/bin/python3 - "$state/etc" <<'EOF' || give_up "could not build the Swift rings"
import sys
from swift.common.ring import RingBuilder
for name, port in (("account", 16202), ("container", 16201), ("object", 16200)):
    builder = RingBuilder(6, 1, 1)
    builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": port, "device": "d0", "weight": 100, "meta": ""})
    builder.rebalance()
    builder.get_ring().save(f"{sys.argv[1]}/{name}.ring.gz")
EOF

common="[DEFAULT]
bind_ip = 127.0.0.1
user = $user
swift_dir = $state/etc
devices = $state/srv
mount_check = false
workers = 0
log_level = WARNING
"
for server in account:16202 container:16201 object:16200; do
  name=${server%%:*}
  cat >"$state/etc/$name-server.conf" <<EOF
${common}bind_port = ${server##*:}

[pipeline:main]
pipeline = $name-server

[app:$name-server]
use = egg:swift#$name
EOF
done
cat >"$state/etc/proxy-server.conf" <<EOF
${common}bind_port = $proxy_port

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:tempauth]
use = egg:swift#tempauth
# access key "test:tester", secret "testing"
user_test_tester = testing .admin

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
EOF

for name in account container object proxy; do
  nohup "swift-$name-server" "$state/etc/$name-server.conf" >"$state/log/$name.log" 2>&1 &
  echo $! >"$state/run/$name.pid"
done
for _ in $(seq 60); do
  answers && break
  sleep 0.5
done
answers || give_up "Swift did not answer within 30 s (logs in $state/log)"

cat >"$state/s3.json" <<EOF
{"endpoint":"$endpoint","region":"us-east-1","accessKeyId":"test:tester","secretAccessKey":"testing","forcePathStyle":true}
EOF
log "Swift answers on $endpoint (S3 API; settings in $state/s3.json)"
