// After `npm install` in a development checkout: compile the contracts and the TypeScript.
// An installed package (npm pack / npm install -g) ships dist/ and artifacts/ already built and
// has neither tsconfig.json nor the dev tools, so there is nothing to do.
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const devCheckout = existsSync(join(root, "tsconfig.json")) && existsSync(join(root, "node_modules", ".bin", "hardhat"));
if (devCheckout) {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const run = spawnSync(npm, ["run", "build"], { cwd: root, stdio: "inherit" });
  process.exit(run.status ?? 1);
}
