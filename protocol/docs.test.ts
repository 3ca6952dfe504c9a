import t from "tap";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { generatedDocs } from "../scripts/docs.js";
import { ENV_VARS } from "./config.js";
import { renderEnvHelp, renderEnvTable, renderErrorTable, replaceSection, sectionOf } from "./docs.js";
import { ERROR_CODES } from "./errors.js";
import { packageRoot } from "./package.js";

t.test("README.md and docs/errors.md hold exactly what their tables render", async (t) => {
  for (const { file, section, body } of generatedDocs()) {
    const text = readFileSync(file, "utf8");
    t.equal(sectionOf(text, section), body, `${relative(packageRoot(), file)} (<!-- ${section}:start -->) is up to date; if not, run \`npm run docs\``);
  }
});

t.test("the error table lists every code once, with its exit status, retry and HTTP status", async (t) => {
  const table = renderErrorTable({ BODY_TOO_LARGE: 413 });
  for (const code of Object.keys(ERROR_CODES)) t.equal(table.split("\n").filter((l) => l.startsWith(`| \`${code}\` |`)).length, 1, code);
  t.match(table, /\| `BODY_TOO_LARGE` \| 1 \| {2}\| 413 \| The body is larger/);
  t.match(table, /\| `RPC_UNREACHABLE` \| 3 \| yes \| {2}\|/);
  t.match(table, /\| `INTERNAL` \| 2 \| {2}\| {2}\|/);
});

t.test("the env table and --help come from ENV_VARS", async (t) => {
  const table = renderEnvTable();
  for (const name of Object.keys(ENV_VARS)) t.match(table, `| \`${name}\` |`, name);
  t.match(table, "| `QUACKMESH_NETWORK` | `local` \\| `duckchain-testnet`", "pipes are escaped in cells");
  const help = renderEnvHelp();
  t.match(help, /^ {2}QUACKMESH_HOME +folder for config, keys, contributor state and the orchestrator's data \(default ~\/\.quackmesh\)$/m, "no Markdown in --help");
  t.notMatch(help, /SSH_ORIGINAL_COMMAND/, "variables set by other programs are not offered in --help");
});

t.test("sections are replaced between their markers only", async (t) => {
  const text = "a\n<!-- x:start -->\nold\n<!-- x:end -->\nb\n";
  t.equal(replaceSection(text, "x", "new\nrows"), "a\n<!-- x:start -->\nnew\nrows\n<!-- x:end -->\nb\n");
  t.equal(sectionOf(replaceSection(text, "x", "new"), "x"), "new");
  t.throws(() => replaceSection("no markers", "x", "y"), /no <!-- x:start -->/);
  t.equal(sectionOf("no markers", "x"), undefined);
});

/** Tests and the helpers only tests use (testing/ also serves the load benchmarks, so it counts). */
const isTestOnly = (rel: string) => /\.test\.tsx?$/.test(rel) || rel.startsWith("cli/e2e/") || /(^|\/)testkit(\/|\.ts$)/.test(rel);

/** Every environment variable the product's sources read: TypeScript, the C++ core, CMake. */
function envReads(opts: { tests?: boolean } = {}): Map<string, string> {
  const root = packageRoot();
  const found = new Map<string, string>();
  const patterns = [/\bprocess\.env\.([A-Za-z_][A-Za-z0-9_]*)/g, /\benv\.([A-Z_][A-Z0-9_]*)\b/g, /\benv\[\s*["']([A-Za-z_][A-Za-z0-9_]*)["']\s*\]/g, /\bgetenv\(\s*"([A-Za-z_][A-Za-z0-9_]*)"/g, /\$ENV\{([A-Za-z_][A-Za-z0-9_]*)\}/g];
  const scan = (path: string) => {
    // A quoted "process.env.X" is text (a bundler's define key), not a read.
    const text = readFileSync(path, "utf8").replace(/(["'])process\.env\.[A-Za-z_][A-Za-z0-9_]*\1/g, "");
    for (const re of patterns) for (const m of text.matchAll(re)) if (!found.has(m[1])) found.set(m[1], relative(root, path));
  };
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const rel = relative(root, p).split("\\").join("/");
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(tsx?|mjs|cc|cu|h|cuh)$/.test(name) && !name.endsWith(".d.ts") && (opts.tests || !isTestOnly(rel))) scan(p);
    }
  };
  for (const top of ["protocol", "native", "orchestrator", "cli", "scripts"]) walk(join(root, top));
  scan(join(root, "CMakeLists.txt"));
  return found;
}

t.test("every environment variable the sources read is in ENV_VARS", async (t) => {
  const reads = envReads();
  t.ok(reads.has("QUACKMESH_THREADS") && reads.has("QUACKMESH_NO_CUDA") && reads.has("QUACKMESH_PAYOUT_ADDRESS"), "C++, CMake and TypeScript reads are found");
  const missing = [...reads].filter(([name]) => !(name in ENV_VARS)).map(([name, file]) => `${name} (${file})`);
  t.same(missing, [], "add these to ENV_VARS in protocol/config.ts, then run `npm run docs`");
  // ENV_VARS may document a test's knob too (a replay seed), so tests count as readers here.
  const readsWithTests = envReads({ tests: true });
  const unread = Object.keys(ENV_VARS).filter((name) => !readsWithTests.has(name) && !readFileSync(join(packageRoot(), "protocol", "config.ts"), "utf8").includes(`"${name}"`));
  t.same(unread, [], "every ENV_VARS entry is read somewhere");
});
