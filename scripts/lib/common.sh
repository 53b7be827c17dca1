# Helpers shared by the scripts: source it (`. scripts/lib/common.sh`).

# A bold progress line on standard error.
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Runs a command as root: directly, through sudo, or fails.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

# For test.d setup scripts: under CI=true a failure fails the run; elsewhere it
# warns that the tests needing this will skip themselves, and stops quietly.
# Set SETUP_NAME (e.g. "docker setup") and SKIPPED (what will be skipped) first.
give_up() {
  if [ "${CI:-}" = true ]; then
    printf '%s: %s\n' "${SETUP_NAME:-setup}" "$*" >&2
    exit 1
  fi
  log "${SKIPPED:-Some tests} will be skipped: $*"
  exit 0
}

# Installs Debian packages (lists updated first), waiting for another apt or dpkg to
# finish instead of failing on its lock. Fails without apt-get or root.
apt_install() {
  command -v apt-get >/dev/null || return 1
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
}
