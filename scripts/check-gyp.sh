#!/usr/bin/env bash
# Checks that binding.gyp builds the CPU addon with node-gyp and that the native tests pass
# against that build. node-gyp writes build/Release, where cmake-js's addon lives, so it runs in
# a copy of the package (tracked and unignored files, node_modules linked), never in this one.
#   scripts/check-gyp.sh            build and test; the copy is removed afterwards
#   KEEP=1 scripts/check-gyp.sh     keep the copy (its path is printed)
# Offline: npm's config here sets nodedir=/usr (the installed Node headers); it is passed on.
set -euo pipefail
source "$(dirname "$0")/lib/package-copy.sh" gyp

nodedir=$(npm config get nodedir 2>/dev/null || true)
args=(rebuild --jobs="$(nproc)")
[ -n "$nodedir" ] && [ "$nodedir" != undefined ] && [ "$nodedir" != null ] && args+=(--nodedir="$nodedir")
echo "node-gyp ${args[*]}"
npx --no-install node-gyp "${args[@]}"
test -f build/Release/quackmesh_native.node
node -e 'const a = require(process.argv[1]); const i = a.deviceInfo(); console.log("built:", JSON.stringify(i)); if (i.cudaCompiled) process.exit(1);' "$work/build/Release/quackmesh_native.node"

# native/addon.ts finds the addon from the package root, which is now this copy.
npx --no-install tap --disable-coverage native/*.test.ts
