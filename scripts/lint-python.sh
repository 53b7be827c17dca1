#!/usr/bin/env bash
# Lints every git-tracked Python file with Debian's pyflakes (scripts/test.d/25-python-tools.sh
# installs it): the runner's package and tests, the hostile suite's programs, the image's scripts.
# The runner's bundle (packages/core/runner/runner.py) is generated from its package, which is linted instead.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib/common.sh
SETUP_NAME="lint-python" SKIPPED="The Python lint"
/usr/bin/python3 -c 'import pyflakes' 2>/dev/null || give_up "Debian's python3-pyflakes is missing: install it with bash scripts/test.d/25-python-tools.sh"
git ls-files -z -- '*.py' ':!:packages/core/runner/runner.py' | xargs -0 /usr/bin/python3 -m pyflakes
