#!/usr/bin/env bash
# Installs Debian's Chromium for the /docs browser test (playwright-core drives
# it; nothing is downloaded by playwright). Under CI=true a failure fails the
# run; elsewhere it warns and that one test skips itself.
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/lib/common.sh

[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] && exit 0
log "Installing chromium from Debian packages (for the /docs browser test)"
if command -v apt-get >/dev/null && as_root apt-get update -qq &&
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
  exit 0
fi
if [ "${CI:-}" = true ]; then
  echo "chromium setup: could not install chromium" >&2
  exit 1
fi
log "The /docs browser test will be skipped: chromium could not be installed"
