/**
 * Rewrites the generated sections of README.md (environment variables) and docs/errors.md (error
 * codes) from their tables. Run with `npm run docs`; protocol/docs.test.ts checks they agree.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ERRORS } from "../orchestrator/errors.js";
import { renderEnvTable, renderErrorTable, replaceSection } from "../protocol/docs.js";
import type { ErrorCode } from "../protocol/errors.js";
import { packageRoot } from "../protocol/package.js";

/** The API's HTTP status per code, for the error table. */
export function apiStatuses(): Partial<Record<ErrorCode, number>> {
  return Object.fromEntries(Object.entries(ERRORS).map(([code, e]) => [code, e.status]));
}

/** Each generated file with the text it should hold. */
export function generatedDocs(): Array<{ file: string; section: string; body: string }> {
  const root = packageRoot();
  return [
    { file: join(root, "README.md"), section: "env", body: renderEnvTable() },
    { file: join(root, "docs", "errors.md"), section: "errors", body: renderErrorTable(apiStatuses()) },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const { file, section, body } of generatedDocs()) {
    const before = readFileSync(file, "utf8");
    const after = replaceSection(before, section, body);
    if (after !== before) writeFileSync(file, after);
    console.log(`${after === before ? "unchanged" : "updated"} ${file}`);
  }
}
