#!/usr/bin/env bash
# Packs what the native tests and the standalone harnesses need on a GPU machine that has no
# Node: a compressed copy of this machine's node binary, the built addon (build/Release), the
# CUDA-facing native tests compiled to JavaScript, a minimal stand-in for the `tap` module (the
# real one brings ~270 packages), and qm_bench / qm_agree built for Hopper (sm_90).
#   scripts/gpu-bundle.sh [OUT_DIR]      (default .gpu; keep it out of git, e.g. .git/info/exclude)
# On the GPU machine, from the repository root:
#   python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.gpu/node.xz'),open('/tmp/node','wb'))"; chmod +x /tmp/node
#   (cd .gpu/app && /tmp/node native/cuda-agreement.test.js && /tmp/node native/errors.test.js)
#   /tmp/node scripts/gpu-cnn-epoch.mjs .gpu/app       (one CNN epoch, CUDA and CPU)
#   .gpu/bin/qm_agree; compute-sanitizer --tool memcheck .gpu/bin/qm_agree --small
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$root/.gpu}" && cd "${1:-$root/.gpu}" && pwd)
cd "$root"
[ -f build/Release/quackmesh_native.node ] || { echo "build the addon first: npm run build:native" >&2; exit 1; }
rm -rf "$out/app" "$out/bin"
mkdir -p "$out/app/build/Release" "$out/app/node_modules/tap" "$out/bin"

tests=(native/cuda-agreement.test.ts native/errors.test.ts scripts/bench/cnn-spec.ts)  # the spec: for scripts/gpu-cnn-epoch.mjs
npx tsc --outDir "$out/app" --rootDir . --module NodeNext --moduleResolution NodeNext --target ES2022 --strict \
  --esModuleInterop --skipLibCheck --resolveJsonModule "${tests[@]}"
cp build/Release/quackmesh_native.node "$out/app/build/Release/"
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
xz -T2 -6 -c "$node_bin" >"$out/node.xz"

# The harnesses, built with the same CMakeLists.txt for Hopper.
hb=$(mktemp -d)
trap 'rm -rf "$hb"' EXIT
cmake -S "$root" -B "$hb" -G Ninja -DQUACKMESH_HARNESS_ONLY=ON -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
cmake --build "$hb" >/dev/null
cp "$hb/qm_bench" "$hb/qm_agree" "$out/bin/"
du -sh "$out"
