#!/usr/bin/env bash
# Runs the runner's module tests (packages/core/runner/tests) with Debian's python3, the
# sandbox's own Python version, and python3-pytest (scripts/test.d/25-python-tools.sh
# installs it). The display tests run the sandbox's data stack in its prepared root
# filesystem under bubblewrap; under CI=true nothing they need may be missing.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib/common.sh
SETUP_NAME="test-python" SKIPPED="The runner's module tests"
/usr/bin/python3 -c 'import pytest' 2>/dev/null || give_up "Debian's python3-pytest is missing: install it with bash scripts/test.d/25-python-tools.sh"
PYTHONDONTWRITEBYTECODE=1 exec /usr/bin/python3 -m pytest -q packages/core/runner "$@"
