/**
 * Text rendered from the product's tables: the environment variables (ENV_VARS) for `--help` and
 * README.md, the error codes (ERROR_CODES) for docs/errors.md. The Markdown files hold the
 * rendered text between `<!-- name:start -->` and `<!-- name:end -->`; `npm run docs` rewrites it,
 * and protocol/docs.test.ts fails when a file and its table disagree.
 */
import { ENV_VARS, type EnvVarInfo } from "./config.js";
import { ERROR_CODES, EXIT_MEANINGS, type ErrorCode } from "./errors.js";

const plain = (markdown: string): string => markdown.replaceAll("`", "");
const cell = (markdown: string): string => markdown.replaceAll("|", "\\|");

/** The `Environment variables` lines of `quackmesh --help`: the variables a person sets. */
export function renderEnvHelp(): string {
  const rows = (Object.entries(ENV_VARS) as Array<[string, EnvVarInfo]>).filter(([, v]) => v.setBy === undefined);
  const width = Math.max(...rows.map(([name]) => name.length)) + 1;
  return rows.map(([name, v]) => `  ${name.padEnd(width)} ${plain(v.doc)}${v.default ? ` (default ${plain(v.default)})` : ""}`).join("\n");
}

/** README.md's table of environment variables. */
export function renderEnvTable(): string {
  const rows = (Object.entries(ENV_VARS) as Array<[string, EnvVarInfo]>).map(
    ([name, v]) => `| \`${name}\` | ${cell(v.doc)}${v.setBy ? ` (set by ${v.setBy})` : ""} | ${v.default ? cell(v.default) : ""} |`,
  );
  return ["| variable | meaning | default |", "| --- | --- | --- |", ...rows].join("\n");
}

/** docs/errors.md's exit statuses and table of codes; `httpStatus` adds the API's status per code. */
export function renderErrorTable(httpStatus: Partial<Record<ErrorCode, number>> = {}): string {
  const exits = Object.entries(EXIT_MEANINGS).map(([exit, meaning]) => `| ${exit} | ${cell(meaning)} |`);
  const codes = (Object.keys(ERROR_CODES) as ErrorCode[]).sort();
  const rows = codes.map((code) => {
    const info = ERROR_CODES[code];
    return `| \`${code}\` | ${info.exit} | ${info.transient ? "yes" : ""} | ${httpStatus[code] ?? ""} | ${cell(info.doc)} |`;
  });
  return [
    "| exit | meaning |",
    "| --- | --- |",
    ...exits,
    "",
    `${codes.length} codes. *retry*: the same call may succeed after a pause. *HTTP*: the status of the orchestrator's answer with this code.`,
    "",
    "| code | exit | retry | HTTP | meaning |",
    "| --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}

/** Replace what lies between `<!-- name:start -->` and `<!-- name:end -->` in `text`. */
export function replaceSection(text: string, name: string, body: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`no ${start} … ${end} section`);
  return text.slice(0, i + start.length) + "\n" + body + "\n" + text.slice(j);
}

/** What lies between the markers, without the newlines next to them. */
export function sectionOf(text: string, name: string): string | undefined {
  const start = `<!-- ${name}:start -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(`<!-- ${name}:end -->`);
  if (i < 0 || j < i) return undefined;
  return text.slice(i + start.length, j).replace(/^\n/, "").replace(/\n$/, "");
}
