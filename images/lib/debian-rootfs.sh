# Shared steps of the offline image builds (images/*/build-offline.sh): a
# minimal Debian root filesystem from the host's own Debian mirror, made with
# debootstrap, ready for `docker import`. Source it; it defines functions only.
#
# Environment read by debian_mirror / debian_suite:
#   DEBIAN_MIRROR  mirror to debootstrap from (default: read from the apt sources)
#   DEBIAN_SUITE   suite (default: read from the apt sources, else bookworm)

rootfs_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# First URI ("uri") or suite ("suite") of the first non-security stanza
# (deb822) or line (one-line format) of the apt sources.
read_apt_source() {
  local field=$1 file
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -e "$file" ] || continue
    awk -v field="$field" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uri = ""; suite = ""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { split(substr($i, 6), parts, " "); for (p in parts) if (parts[p] != "") { uri = parts[p]; break } }
          if ($i ~ /^Suites:/) { n = split(substr($i, 8), parts, " "); for (p = 1; p <= n; p++) if (parts[p] != "") { suite = parts[p]; break } }
        }
        if (uri != "" && uri !~ /security/ && suite !~ /security/) { print (field == "uri" ? uri : suite); exit }
      }' "$file"
  done | head -n1
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -e "$file" ] || continue
    awk -v field="$field" '$1 == "deb" && $0 !~ /security/ {
      i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
      print (field == "uri" ? $i : $(i + 1)); exit }' "$file"
  done | head -n1
}

# The mirror to debootstrap from (DEBIAN_MIRROR, else the apt sources'); empty if none.
debian_mirror() { echo "${DEBIAN_MIRROR:-$(read_apt_source uri | head -n1)}"; }

# The suite to debootstrap (DEBIAN_SUITE, else the apt sources', else bookworm).
debian_suite() {
  local suite=${DEBIAN_SUITE:-$(read_apt_source suite | head -n1)}
  echo "${suite:-bookworm}"
}

# debootstrap_rootfs ROOTFS PACKAGES: a minbase Debian with PACKAGES (comma
# separated) in ROOTFS; on failure prints the end of debootstrap's log and returns 1.
debootstrap_rootfs() {
  local rootfs=$1 packages=$2 mirror suite
  mirror=$(debian_mirror)
  suite=$(debian_suite)
  if [ -z "$mirror" ]; then
    echo "no Debian mirror found in /etc/apt/sources.list*; set DEBIAN_MIRROR" >&2
    return 1
  fi
  rootfs_log "debootstrap $suite from $mirror (packages: ${packages:-none beyond minbase})"
  mkdir -p "$rootfs"
  # Its output goes to a log; its phases, and a count every 25 packages, to stderr as it goes.
  debootstrap --variant=minbase ${packages:+--include="$packages"} "$suite" "$rootfs" "$mirror" 2>&1 |
    tee "$rootfs.debootstrap.log" | debootstrap_progress >&2
  [ "${PIPESTATUS[0]}" = 0 ] || {
    tail -n 30 "$rootfs.debootstrap.log" >&2
    [ -f "$rootfs/debootstrap/debootstrap.log" ] && tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
    return 1
  }
  rm -f "$rootfs.debootstrap.log"
}

# debootstrap's "I:" lines on stdin, shortened as they come: per-package lines become a count every 25.
debootstrap_progress() {
  local line verb
  declare -A count=()
  while IFS= read -r line; do
    case $line in
      "I: "*) ;;
      *) continue ;;
    esac
    if [[ $line =~ ^I:\ (Retrieving|Validating|Extracting|Unpacking|Configuring)\ [^\ ]+(\ [^\ ]+|\.\.\.)?$ ]]; then
      verb=${BASH_REMATCH[1],,}
      count[$verb]=$((${count[$verb]:-0} + 1))
      [ $((count[$verb] % 25)) != 0 ] || echo "    $verb: ${count[$verb]} packages"
    else
      echo "    ${line#I: }"
    fi
  done
}

# unmount_rootfs ROOTFS: debootstrap may leave /proc or /sys mounted in the rootfs when interrupted.
unmount_rootfs() {
  awk -v root="$1" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r | while read -r mount; do
    umount -l "$mount" || true
  done
}

# add_rootfs_user ROOTFS NAME UID HOME SHELL: a user and its group (same id), without a password.
add_rootfs_user() {
  local rootfs=$1 name=$2 id=$3 home=$4 shell=$5
  echo "$name:x:$id:$id:$name:$home:$shell" >>"$rootfs/etc/passwd"
  echo "$name:x:$id:" >>"$rootfs/etc/group"
  echo "$name:!:19000::::::" >>"$rootfs/etc/shadow"
}

# slim_rootfs ROOTFS: removes what is never read at run time (apt caches and lists, logs, docs, man pages, locales).
slim_rootfs() {
  local rootfs=$1
  rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* \
    "$rootfs"/usr/share/doc "$rootfs"/usr/share/man "$rootfs"/usr/share/info "$rootfs"/debootstrap
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf {} + 2>/dev/null || true
}
