import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let cached: string | undefined;

/**
 * The quackmesh package folder (where package.json, artifacts/ and node_modules/ live). Found by
 * walking up from this file, so it works from the sources and from dist/ alike.
 */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && readName(manifest) === "quackmesh") return (cached = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new Error("quackmesh package.json not found above " + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

function readName(manifest: string): unknown {
  try {
    return (JSON.parse(readFileSync(manifest, "utf8")) as { name?: unknown }).name;
  } catch {
    return undefined;
  }
}

let version: string | undefined;

/** The quackmesh version in package.json (what `--version`, `/api/info` and `worker --version` report). */
export function packageVersion(): string {
  if (version) return version;
  const v = (JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version?: unknown }).version;
  if (typeof v !== "string") throw new Error("quackmesh package.json has no version");
  return (version = v);
}
