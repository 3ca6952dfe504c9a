import t from "tap";
import { parseUnits } from "ethers";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { cliEntry, isAlive } from "../lib/demo/processes.js";

// `quackmesh demo` as a user runs it (built CLI), made small: 2 contributors, 2 rounds, 784-16-10;
// with --keep-open, so the dashboard it announced is checked while everything stays up, then Ctrl-C.
/** Processes whose command line mentions `text` (the demo's kept folder). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

t.test("the demo trains, pays, refunds, reports one JSON result last and leaves no process", async (t) => {
  const keep = await mkdtemp(join(tmpdir(), "qm-demo-test-"));
  t.teardown(() => rm(keep, { recursive: true, force: true }));
  // A PATH with node and nothing of OpenSSH (no ssh, sshd, sftp-server, ssh-keygen): the
  // marketplace part runs all the same, on the providers' embedded SSH gateways.
  const bare = await mkdtemp(join(tmpdir(), "qm-demo-path-"));
  t.teardown(() => rm(bare, { recursive: true, force: true }));
  await symlink(process.execPath, join(bare, "node"));
  const child = spawn(process.execPath, [cliEntry(), "demo", "--contributors", "2", "--rounds", "2", "--hidden", "16", "--keep", keep, "--keep-open", "--json"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PATH: bare },
  });
  t.teardown(() => void (child.exitCode === null && child.kill("SIGKILL")));
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const lines: Array<Record<string, unknown>> = [];
  const open = await new Promise<Record<string, unknown> | null>((resolve) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const value = JSON.parse(line) as Record<string, unknown>;
      lines.push(value);
      if (value.event === "open") resolve(value);
    });
    void exited.then(() => resolve(null));
  });
  t.ok(open, `the demo held everything open after its result: ${stderr.slice(-1000)}`);
  if (!open) return;
  const dashboard = String(open.dashboard);
  t.match(String(lines.find((l) => l.event === "step" && l.id === "orchestrator" && l.status === "done")?.detail), `dashboard ${dashboard}`, "the dashboard URL was printed when the orchestrator started");
  const page = await fetch(dashboard);
  t.equal(page.status, 200);
  t.match(await page.text(), /<div id="root">/, "the dashboard answers at that URL after the demo");
  const jobs = (await (await fetch(new URL("/api/jobs", dashboard))).json()) as { jobs: Array<{ status: string }> };
  t.equal(jobs.jobs.at(-1)?.status, "finished", "with the demo's finished training job to look at");
  child.kill("SIGINT");
  t.equal(await exited, 0, `Ctrl-C after the demo ends it normally: ${stderr.slice(-1000)}`);
  await t.rejects(fetch(dashboard), "the orchestrator is stopped");
  t.equal(lines.at(-1), open, "the open line is the last");
  const result = lines.find((l) => "finalTestAccuracy" in l) as { rounds: Array<{ round: number; testAccuracy: number }>; contributors: Array<{ address: string; paid: string }>; refund: string; finalTestAccuracy: number; wallSeconds: number };
  t.same(Object.keys(result).sort(), ["contributors", "finalTestAccuracy", "refund", "rounds", "wallSeconds"]);
  t.same(result.rounds.map((r) => r.round), [0, 1]);
  t.ok(result.rounds.every((r) => r.testAccuracy > 0.5), "the global model learned");
  t.equal(result.finalTestAccuracy, result.rounds[1].testAccuracy);
  // Paid by contribution: at most the 30 DUCK round budget per round, and the rest comes back.
  const paid = result.contributors.map((c) => parseUnits(c.paid, 18));
  const total = paid.reduce((a, b) => a + b, 0n);
  t.ok(total > 0n && total <= parseUnits("60", 18), `contributors were paid ${result.contributors.map((c) => c.paid).join(" + ")} DUCK over 2 rounds`);
  t.equal(parseUnits(result.refund, 18) + total, parseUnits("1000", 18), "refund + what was paid = the 1000 DUCK pool");
  const steps = lines.filter((l) => l.event === "step" && l.status === "done").map((l) => l.id);
  t.same(steps, ["chain", "deploy", "orchestrator", "fund", "data", "providers", "cluster", "job", "train", "finish"]);
  const detail = (id: string) => String(lines.find((l) => l.event === "step" && l.id === id && l.status === "done")?.detail);
  t.match(detail("providers"), /3 machines listed by `quackmesh provide` \(embedded SSH gateway\): .*#1 .*#2 .*#3 /, "three providers listed their machines, with no OpenSSH on the PATH");
  t.match(detail("cluster"), /cluster job 1 on the 3 rented machines \(9 DUCK of rent for 1 h\): 3 rounds, test accuracy (9\d\.\d\d) %.* DUCK refunded.*pool 1 DUCK back/, "a cluster job trained, rentals ended, refunded");
  t.ok(lines.some((l) => l.event === "log" && l.source === "market list" && /available/.test(String(l.text))), "market list showed them");
  const chainPid = Number(/pid (\d+)/.exec(String(lines.find((l) => l.id === "chain" && l.status === "done")?.detail))?.[1]);
  t.notOk(isAlive(chainPid), "the chain is stopped");
  t.same(processesMentioning(keep), [], "no contributor, provider or sshd process left");
});
