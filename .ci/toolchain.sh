# Source this file (`. .ci/toolchain.sh`) to get Node 24 and the pinned pnpm on PATH. On a machine that has
# neither (this project's machines ship Node 20), it installs Node 24 from the npm registry's `node` package
# into ~/.cache/evpipe-node24 and the pnpm version pinned in package.json's packageManager.
evpipe_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
evpipe_node_major=$(tr -dc '0-9' < "$evpipe_root/.nvmrc")
evpipe_pnpm=$(sed -n 's/.*"packageManager": "pnpm@\([^"]*\)".*/\1/p' "$evpipe_root/package.json")

if ! node --version 2>/dev/null | grep -q "^v${evpipe_node_major}\."; then
  evpipe_node_home="${EVPIPE_NODE_HOME:-$HOME/.cache/evpipe-node${evpipe_node_major}}"
  if [ ! -x "$evpipe_node_home/node_modules/node/bin/node" ]; then
    echo "toolchain: installing Node ${evpipe_node_major} into $evpipe_node_home" >&2
    npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$evpipe_node_home" "node@${evpipe_node_major}" >&2 ||
      { echo "toolchain: could not install Node ${evpipe_node_major}" >&2; return 1; }
  fi
  export PATH="$evpipe_node_home/node_modules/node/bin:$PATH"
fi
if [ "$(pnpm --version 2>/dev/null || true)" != "$evpipe_pnpm" ]; then
  echo "toolchain: installing pnpm ${evpipe_pnpm}" >&2
  npm install --global --no-audit --no-fund --loglevel=error "pnpm@${evpipe_pnpm}" >&2 ||
    { echo "toolchain: could not install pnpm ${evpipe_pnpm}" >&2; return 1; }
fi
unset evpipe_root evpipe_node_major evpipe_pnpm evpipe_node_home
