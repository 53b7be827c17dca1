#!/usr/bin/env bash
# Runs upstream onyx code-interpreter's own tests (its tests/integration_tests
# and tests/e2e) over HTTP against a running server of ours, to check that the
# API is still a drop-in for onyx's.
#
#   bash scripts/onyx-tests.sh <onyx checkout> [server URL]   (URL default http://127.0.0.1:8000)
#
# <onyx checkout> is a directory holding upstream's `tests/` (its
# `code-interpreter/` folder). Nothing of upstream is kept in this repository:
# bring a checkout yourself. This is a tool for people, not part of CI: CI
# cannot reach GitHub to get the checkout.
#
# Upstream's integration tests call its app in process (`TestClient(create_app())`)
# and its e2e tests use a fixed BASE_URL. Two stand-in modules and a pytest
# plugin, written below, send both to the server at the URL instead. Needs
# Debian's python3-pytest and python3-httpx (no PyPI needed). Upstream's
# 413 test uploads 101 MB, so run the server with the default MAX_FILE_SIZE_MB.
set -euo pipefail

checkout=${1:?usage: bash scripts/onyx-tests.sh <onyx checkout with tests/> [server URL]}
url=${2:-http://127.0.0.1:8000}
checkout=$(cd "$checkout" && pwd)
[[ -d $checkout/tests ]] || { echo "onyx-tests: no tests/ in $checkout" >&2; exit 2; }
python=/usr/bin/python3
"$python" -c 'import httpx, pytest' 2>/dev/null || {
  echo "onyx-tests: needs pytest and httpx for $python: apt-get install python3-pytest python3-httpx" >&2
  exit 2
}
curl -fsS "$url/health" >/dev/null || { echo "onyx-tests: no server answers at $url/health" >&2; exit 2; }

shim=$(mktemp -d)
trap 'rm -rf "$shim"' EXIT
mkdir -p "$shim/fastapi" "$shim/app"
: >"$shim/app/__init__.py"
: >"$shim/fastapi/__init__.py"
# `from app.main import create_app`: there is no app in process; the server is elsewhere.
cat >"$shim/app/main.py" <<'PY'
def create_app():
    return None
PY
# `TestClient(app)`: an HTTP client for the server under test.
cat >"$shim/fastapi/testclient.py" <<'PY'
import os

import httpx


class TestClient(httpx.Client):
    __test__ = False  # a client, not a test class

    def __init__(self, app=None, **_options):
        super().__init__(base_url=os.environ["ONYX_TESTS_SERVER_URL"], timeout=300.0)
PY
# Modules with a BASE_URL (the e2e tests) get the server's instead.
cat >"$shim/onyx_server_url.py" <<'PY'
import os


def pytest_collection_modifyitems(items):
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and hasattr(module, "BASE_URL"):
            module.BASE_URL = os.environ["ONYX_TESTS_SERVER_URL"]
PY

# From the stand-ins' directory, so `app` and `fastapi` resolve to them and not to an onyx install.
cd "$shim"
ONYX_TESTS_SERVER_URL=$url PYTHONDONTWRITEBYTECODE=1 "$python" -m pytest \
  -p onyx_server_url -p no:cacheprovider --rootdir "$shim" -q -rfE \
  "$checkout/tests/integration_tests" "$checkout/tests/e2e"
