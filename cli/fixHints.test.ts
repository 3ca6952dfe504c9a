// Every command a message tells the user to run (`quackmesh …` in backquotes: fix lines, help,
// notes) must parse with the real CLI: its subcommands exist, its options are the command's own,
// and it takes no more arguments than the command does. A hint that names an option nobody has
// (`market list --all`) sends the user into a second error.
import t from "tap";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import type { Command, Option } from "commander";
import { packageRoot } from "../protocol/package.js";
import { buildProgram } from "./program.js";

const root = packageRoot();
const SOURCES = ["cli", "orchestrator", "protocol", "native"];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== "node_modules" && name !== "src") out.push(...sourceFiles(path));
    } else if (/\.tsx?$/.test(name) && !/\.test\.tsx?$/.test(name)) out.push(path);
  }
  return out;
}

export interface Hint {
  file: string;
  text: string;
}

/**
 * Each backquoted `quackmesh …` that is a hint inside a message: escaped in a template literal
 * (\\`quackmesh …\\`), or bare inside a double-quoted string. A template literal that itself
 * starts with "quackmesh" is a value (a child's command line), not a hint.
 */
export function hintsOf(file: string, source: string): Hint[] {
  const out: Hint[] = [];
  for (const m of source.matchAll(/(\\?)`quackmesh ([^`\\]*(?:\\(?!`)[^`\\]*)*)\\?`/g)) {
    const escaped = m[1] === "\\";
    const lineStart = source.lastIndexOf("\n", m.index) + 1;
    const before = source.slice(lineStart, m.index);
    const quotes = (before.match(/(?<!\\)"/g) ?? []).length;
    if (escaped || quotes % 2 === 1) out.push({ file, text: m[2] });
  }
  return out;
}

/** Sample values for template parts and placeholders, so the hint can be parsed. */
function concrete(text: string): string[] {
  return text
    .replace(/\$\{[^}]*\}/g, "1")
    .replace(/<[^>]+>/g, "1")
    .split(/\s+/)
    // Placeholders in capitals (ID, FILE, ARGS) stand for what the user fills in.
    .filter((w) => w !== "" && w !== "…" && w !== "..." && w !== "|" && !/^\[/.test(w) && !/^[A-Z_]+$/.test(w));
}

const longs = (cmd: Command) => (cmd.options as readonly Option[]).flatMap((o) => [o.long, o.short].filter((x): x is string => Boolean(x)));
const takesValue = (cmd: Command, flag: string) => (cmd.options as readonly Option[]).some((o) => (o.long === flag || o.short === flag) && (o.required || o.optional));

/** Why `text` does not parse with `program`, or null when it does. */
export function checkHint(program: Command, text: string): string | null {
  const words = concrete(text);
  let cmd = program;
  let i = 0;
  while (i < words.length) {
    const sub = cmd.commands.find((c) => c.name() === words[i] || c.aliases().includes(words[i]));
    if (!sub) break;
    cmd = sub;
    i++;
  }
  if (cmd === program) return `'${words[0]}' is not a quackmesh command`;
  let positional = 0;
  const chain: Command[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) chain.push(c);
  for (; i < words.length; i++) {
    const w = words[i];
    if (w.startsWith("-")) {
      const flag = w.split("=")[0];
      if (flag === "--help" || flag === "-h") continue;
      const owner = chain.find((c) => longs(c).includes(flag));
      if (!owner) return `${cmd.name()} has no option ${flag}`;
      if (!w.includes("=") && takesValue(owner, flag)) i++;
      continue;
    }
    positional++;
  }
  const args = cmd.registeredArguments;
  if (positional > args.length && !args.at(-1)?.variadic) return `${cmd.name()} takes ${args.length} argument(s), the hint gives ${positional}`;
  return null;
}

t.test("the checker itself: it knows a good hint from a bad one", async (t) => {
  const program = buildProgram();
  t.equal(checkHint(program, "job abort 3 --json"), null);
  t.equal(checkHint(program, "wallet faucet --to 0xabc --amount 1000"), null);
  t.match(checkHint(program, "market list --all"), /no option --all/);
  t.match(checkHint(program, "job finish 1 2"), /takes 1 argument/);
  t.equal(checkHint(program, "rent end ID"), null, "a placeholder in capitals");
  t.match(checkHint(program, "jobs list"), /not a quackmesh command/);
  t.same(hintsOf("f", "fix: `Run \\`quackmesh job abort ${jobId}\\` now`"), [{ file: "f", text: "job abort ${jobId}" }], "escaped in a template literal");
  t.same(hintsOf("f", 'fix: "Use `quackmesh job list --mine`."'), [{ file: "f", text: "job list --mine" }], "bare in a double-quoted string");
  t.same(hintsOf("f", "throw new Error(`quackmesh job create exited with ${code}`)"), [], "a template literal's own text is no hint");
});

t.test("every quackmesh command a message names parses with the real CLI", async (t) => {
  const program = buildProgram();
  const hints = SOURCES.flatMap((dir) => sourceFiles(join(root, dir))).flatMap((file) => hintsOf(relative(root, file), readFileSync(file, "utf8")));
  t.ok(hints.length > 30, `found ${hints.length} hints`);
  const bad = hints.map((h) => ({ ...h, why: checkHint(program, h.text) })).filter((h) => h.why !== null);
  t.same(bad, [], "no hint that fails to parse");
});
