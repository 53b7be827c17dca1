#!/usr/bin/env bash
# Installs Debian's Chromium for the /docs browser test (playwright-core drives
# it; nothing is downloaded by playwright). Under CI=true a failure fails the
# run; elsewhere it warns and that one test skips itself.
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/lib/common.sh
SETUP_NAME="chromium setup" SKIPPED="The /docs browser tests"

[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] && exit 0
log "Installing chromium from Debian packages (for the /docs browser test)"
apt_install chromium || give_up "could not install chromium"
