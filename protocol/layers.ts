/**
 * The direction of dependencies, as a checkable rule. Layers, bottom up:
 *   protocol/      shared truths (errors, chain bindings, wire formats, schemas); imports none of the others
 *   native/        the engine; may use protocol/
 *   orchestrator/  the server; may use protocol/ and native/
 *   cli/           the commands; may use protocol/, native/, and the orchestrator only through
 *                  orchestrator/index.ts and orchestrator/client.ts
 *   scripts/       tools on top of everything
 * Test files are exempt: they may reach across to set up real peers.
 */
import { dirname, join, normalize } from "node:path";

export interface SourceFile {
  /** Path relative to the package root, with forward slashes. */
  path: string;
  text: string;
}

export interface Violation {
  file: string;
  imports: string;
  rule: string;
}

const TOP = ["protocol", "native", "orchestrator", "cli", "scripts"] as const;
type Top = (typeof TOP)[number];

const MAY_IMPORT: Record<Top, readonly Top[]> = {
  protocol: ["protocol"],
  native: ["native", "protocol"],
  orchestrator: ["orchestrator", "native", "protocol"],
  cli: ["cli", "orchestrator", "native", "protocol"],
  scripts: ["scripts", "cli", "orchestrator", "native", "protocol"],
};

/** The orchestrator files the CLI may import. */
const ORCHESTRATOR_PUBLIC = ["orchestrator/index.ts", "orchestrator/client.ts"];

export function isTestFile(path: string): boolean {
  return /\.test\.tsx?$/.test(path) || /(^|\/)(testkit|testing)(\/|\.ts$)/.test(path) || path.startsWith("cli/e2e/");
}

/** Relative import specifiers of a source text (static `from "…"`, `import "…"` and dynamic `import("…")`). */
export function relativeImports(text: string): string[] {
  const found: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g;
  for (let m = re.exec(text); m; m = re.exec(text)) found.push(m[1]);
  return found;
}

function topOf(path: string): Top | undefined {
  const first = path.split("/")[0];
  return (TOP as readonly string[]).includes(first) ? (first as Top) : undefined;
}

/** Every import of a non-test file that breaks the layer rules. */
export function layerViolations(files: SourceFile[]): Violation[] {
  const out: Violation[] = [];
  for (const f of files) {
    if (isTestFile(f.path)) continue;
    const from = topOf(f.path);
    if (!from) continue;
    for (const spec of relativeImports(f.text)) {
      const target = normalize(join(dirname(f.path), spec)).replace(/\\/g, "/").replace(/\.js$/, ".ts");
      const to = topOf(target);
      if (!to) continue;
      if (!MAY_IMPORT[from].includes(to)) {
        out.push({ file: f.path, imports: target, rule: `${from}/ may import only ${MAY_IMPORT[from].join(", ")}` });
      } else if (from === "cli" && to === "orchestrator" && !ORCHESTRATOR_PUBLIC.includes(target) && !ORCHESTRATOR_PUBLIC.includes(target + "x")) {
        out.push({ file: f.path, imports: target, rule: "cli/ uses the orchestrator only through orchestrator/index.ts and orchestrator/client.ts" });
      } else if (from === "cli" && target.startsWith("cli/commands/") && !f.path.startsWith("cli/commands/") && f.path !== "cli/program.ts" && !isWorkerFastPath(f.path, target)) {
        out.push({ file: f.path, imports: target, rule: "command files are leaves: only cli/program.ts and other commands wire them" });
      } else if (from === "cli" && f.path.startsWith("cli/commands/") && isSiblingCommand(f.path, target)) {
        out.push({ file: f.path, imports: target, rule: "a command does not import another command; shared logic lives in cli/lib/" });
      }
    }
  }
  return out;
}

/** The entry point starts `quackmesh worker` (run on rented machines) without loading every other command. */
function isWorkerFastPath(path: string, target: string): boolean {
  return path === "cli/index.ts" && target === "cli/commands/worker.ts";
}

/** True when `target` is another top-level command than `path` (job.ts may wire job/*, registry.ts wires all). */
function isSiblingCommand(path: string, target: string): boolean {
  if (!target.startsWith("cli/commands/") || path.endsWith("/registry.ts")) return false;
  const own = path.replace(/^cli\/commands\//, "").replace(/\.tsx?$/, "").split("/")[0];
  const other = target.replace(/^cli\/commands\//, "").replace(/\.tsx?$/, "").split("/")[0];
  return own !== other;
}
