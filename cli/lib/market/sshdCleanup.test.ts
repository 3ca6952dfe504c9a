// A provider killed with SIGKILL: its dedicated sshd dies with it (the kernel's parent-death
// signal, set through setpriv), and its temp folder is removed when the next sshd starts.
import t from "tap";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { SSHD_BINARY, removeStaleSshdDirs, startSshd } from "./sshd.js";

if (!existsSync(SSHD_BINARY) || !existsSync("/usr/bin/setpriv")) {
  t.skip(`needs ${SSHD_BINARY} and /usr/bin/setpriv (.ci/run installs openssh-server; setpriv is in util-linux)`);
} else {
  const dir = mkdtempSync(join(tmpdir(), "qm-sshd-cleanup-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, "provider.mts");
  const sshdModule = fileURLToPath(new URL("./sshd.ts", import.meta.url));
  writeFileSync(script, `import { startSshd } from ${JSON.stringify(sshdModule)};\nconst s = await startSshd();\nconsole.log(JSON.stringify({ pid: s.pid, dir: s.dir }));\nsetInterval(() => {}, 1 << 30);\n`);

  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  t.test("kill -9 of the provider: sshd goes with it, the folder goes at the next start", async (t) => {
    // Same loader flags as this test (TypeScript), so the child runs sshd.ts as the CLI would.
    const child = spawn(process.execPath, [...process.execArgv, script], { stdio: ["ignore", "pipe", "inherit"] });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once("line", resolve);
      child.once("exit", (code) => reject(new Error(`the provider exited with ${code} before starting sshd`)));
    });
    const started = JSON.parse(line) as { pid: number; dir: string };
    t.ok(alive(started.pid), "sshd runs");
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    for (let i = 0; i < 100 && alive(started.pid); i++) await new Promise((r) => setTimeout(r, 50));
    t.notOk(alive(started.pid), "sshd died with its provider");
    t.ok(existsSync(started.dir), "a killed process cannot remove its folder");

    const next = await startSshd();
    t.teardown(() => next.stop());
    t.notOk(existsSync(started.dir), "the next start removed the dead provider's folder");
    t.ok(existsSync(next.dir), "and keeps its own");
    t.same(removeStaleSshdDirs().filter((d) => d === next.dir), [], "a live owner's folder is never removed");
  });
}
