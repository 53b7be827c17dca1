#!/usr/bin/env bash
# Makes a fresh machine ready to build and run the project: a Node >= 22,
# pnpm, the locked dependencies, bubblewrap, and a build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib/common.sh

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt 22 ]; then
  log "Node $(node --version 2>/dev/null || echo missing) is too old; installing Node 24 from the npm registry"
  prefix=${NODE_PREFIX:-/opt/node24}
  as_root npm install --prefix "$prefix" --no-audit --no-fund node@24 >/dev/null
  as_root ln -sf "$prefix/node_modules/node/bin/node" /usr/local/bin/node
  hash -r
fi
# The exact pnpm package.json pins: another version would try to switch to it.
pnpm_version=$(node -p 'require("./package.json").packageManager.split("@")[1]')
if [ "$(pnpm --version 2>/dev/null)" != "$pnpm_version" ]; then
  log "Installing pnpm $pnpm_version"
  as_root npm install -g --no-audit --no-fund --allow-scripts=pnpm "pnpm@$pnpm_version" >/dev/null
  pnpm_bin=$(dirname "$(readlink -f "$(command -v node)")")/pnpm
  [ -x "$pnpm_bin" ] && as_root ln -sf "$pnpm_bin" /usr/local/bin/pnpm
  hash -r
fi
if ! command -v bwrap >/dev/null; then
  log "Installing bubblewrap (the local sandbox)"
  if command -v apt-get >/dev/null && as_root true 2>/dev/null; then
    as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
  else
    log "Could not install bubblewrap: install it with your package manager (code would run without isolation)"
  fi
fi

log "Installing dependencies (pnpm install --frozen-lockfile)"
CI=true pnpm install --frozen-lockfile --reporter=silent
log "Building"
pnpm run build >/dev/null
# The CLI on PATH (and `pnpm exec code-interpreter` in the checkout, through the root package.json).
bash scripts/install-cli.sh
