#!/usr/bin/env bash
# Puts `code-interpreter` on PATH, where the README's lines and an MCP client's
# configuration ({"command": "code-interpreter", "args": ["mcp"]}) find it: a
# small wrapper that runs this checkout's built CLI (apps/cli/dist/cli.js).
# Where: CODE_INTERPRETER_BIN_DIR when set; else /usr/local/bin when this user
# can write it (root); else ~/.local/bin (a user's own bin, on PATH in most
# login shells; the script says how to add it when it is not).
# A wrapper, not a link: it survives rebuilds and needs no execute bit on dist,
# and it names the node that built it, so a client started with a bare PATH runs too.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib/common.sh

repo=$(pwd -P)
if [ -n "${CODE_INTERPRETER_BIN_DIR:-}" ]; then
  dir=$CODE_INTERPRETER_BIN_DIR
elif [ -w /usr/local/bin ]; then
  dir=/usr/local/bin
else
  dir=$HOME/.local/bin
fi
mkdir -p "$dir"
target=$dir/code-interpreter
marker="code-interpreter checkout wrapper"
if [ -e "$target" ] && ! grep -q "$marker" "$target" 2>/dev/null; then
  log "$target exists and is not this project's wrapper: left as is (run node $repo/apps/cli/dist/cli.js instead)"
  exit 0
fi
node_path=$(command -v node)
cat >"$target.tmp.$$" <<WRAPPER
#!/bin/sh
# $marker (scripts/install-cli.sh): runs the CLI built in $repo
node="$node_path"
[ -x "\$node" ] || node=node
exec "\$node" "$repo/apps/cli/dist/cli.js" "\$@"
WRAPPER
chmod 755 "$target.tmp.$$"
mv -f "$target.tmp.$$" "$target"
log "code-interpreter is $target (runs $repo/apps/cli/dist/cli.js)"
case ":$PATH:" in
  *":$dir:"*) ;;
  *) log "$dir is not on PATH: add it (export PATH=\"$dir:\$PATH\" in your shell's profile), or run $target" ;;
esac
