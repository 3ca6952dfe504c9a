// Build the web dashboard (web/) into dist/web with esbuild: one minified, content-hashed
// bundle of JavaScript and one of CSS, and index.html naming them. Prints the gzipped size and
// fails above the budget. `quackmesh serve` serves the result at `/`.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "web");
/** Gzipped JavaScript the dashboard may weigh (issue 13). */
const BUDGET_BYTES = 300 * 1024;

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "assets"), { recursive: true });
const result = await build({
  entryPoints: [join(root, "web", "src", "main.tsx")],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022"],
  jsx: "automatic",
  outdir: join(out, "assets"),
  entryNames: "[name]-[hash]",
  define: { "process.env.NODE_ENV": '"production"' },
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
});
const outputs = Object.keys(result.metafile.outputs).map((p) => join(root, p));
const js = outputs.find((p) => p.endsWith(".js"));
const css = outputs.find((p) => p.endsWith(".css"));
if (!js) throw new Error("esbuild wrote no JavaScript");
let html = readFileSync(join(root, "web", "index.html"), "utf8");
html = html.replace("%SCRIPT%", `/assets/${basename(js)}`).replace("%STYLE%", css ? `/assets/${basename(css)}` : "");
writeFileSync(join(out, "index.html"), html);

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const jsBytes = readFileSync(js);
const gz = gzipSync(jsBytes, { level: 9 }).length;
const cssGz = css ? gzipSync(readFileSync(css), { level: 9 }).length : 0;
console.log(`dashboard: ${basename(js)} ${kb(jsBytes.length)}, ${kb(gz)} gzipped (budget ${kb(BUDGET_BYTES)}); CSS ${kb(cssGz)} gzipped`);
if (gz > BUDGET_BYTES) {
  console.error(`dashboard JavaScript is ${kb(gz)} gzipped, over the ${kb(BUDGET_BYTES)} budget.\nfix: drop or lazy-load a dependency (see the metafile: esbuild --analyze).`);
  process.exit(1);
}
