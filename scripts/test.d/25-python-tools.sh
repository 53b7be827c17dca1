#!/usr/bin/env bash
# Installs Debian's pytest and pyflakes for Debian's python3 (the sandbox's own
# Python version): scripts/test-python.sh runs the runner's module tests with
# them and scripts/lint-python.sh lints every Python file. Under CI=true a
# failure fails the run; elsewhere those two steps warn and skip.
set -euo pipefail
cd "$(dirname "$0")/../.."

. scripts/lib/common.sh
SETUP_NAME="Python tools setup" SKIPPED="The runner's pytest tests and the Python lint"

/usr/bin/python3 -c 'import pytest, pyflakes' 2>/dev/null && exit 0
log "Installing python3-pytest and python3-pyflakes from Debian packages (the runner's tests, the Python lint)"
apt_install python3-pytest python3-pyflakes || give_up "could not install python3-pytest and python3-pyflakes"
