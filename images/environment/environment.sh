# The sandbox environment's declaration (packages/core/environment/environment.conf),
# read by the scripts that build from it. Source it; it defines functions only.
#
# Environment:
#   DEBIAN_SUITE  overrides the declared suite (and so changes the hash)
#   LOCAL_ROOTFS  the prepared root filesystem (default: ROOTFS_CACHE_DIR/<hash>)

ENVIRONMENT_FILE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../packages/core/environment" && pwd)/environment.conf
# Where prepared root filesystems live, one directory per environment hash; the local backend's default.
ROOTFS_CACHE_DIR=/var/cache/code-interpreter/rootfs
# Where a prepared root filesystem records what it holds (read by the contract test and doctor).
MANIFEST_PATH=etc/code-interpreter/environment.json

# environment_values KEY: the values of the declaration's KEY lines, one a line.
environment_values() { sed -n "s/^$1 //p" "$ENVIRONMENT_FILE"; }

# The Debian release: DEBIAN_SUITE, else the declared one.
environment_suite() { echo "${DEBIAN_SUITE:-$(environment_values suite | head -n1)}"; }

# The environment's version: the first 16 hex digits of sha256(declaration, "suite=<suite>\n").
# packages/core/src/sandbox/environment.ts computes the same.
environment_hash() {
  { cat "$ENVIRONMENT_FILE"; printf 'suite=%s\n' "$(environment_suite)"; } | sha256sum | cut -c1-16
}

# The declared Debian packages debootstrap installs, comma separated (for debootstrap --include).
environment_packages() { environment_values package | paste -sd, -; }

# The declared Debian packages installed with apt-get after debootstrap, space separated.
environment_apt_packages() { environment_values apt-package | paste -sd' ' -; }

# The prepared root filesystem this environment uses.
environment_rootfs() { echo "${LOCAL_ROOTFS:-$ROOTFS_CACHE_DIR/$(environment_hash)}"; }

# manifest_hash ROOTFS: the hash a prepared root filesystem was built from (empty if none).
manifest_hash() {
  [ -f "$1/$MANIFEST_PATH" ] || return 0
  sed -n 's/.*"hash": *"\([0-9a-f]*\)".*/\1/p' "$1/$MANIFEST_PATH" | head -n1
}
