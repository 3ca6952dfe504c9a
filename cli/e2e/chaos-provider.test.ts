import t from "tap";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseUnits, type EventLog } from "ethers";
import { devAccount } from "../lib/chain/accounts.js";
import { cliEntry, spawnCli, type CliChild } from "../lib/demo/processes.js";
import { marketFixture } from "../lib/market/testkit.js";
import { SshSession } from "../../orchestrator/cluster/sshClient.js";
import { packageRoot } from "../../protocol/package.js";

// The chaos drill's provider part: a real `quackmesh provide` (embedded SSH gateway) serves a
// rental on a real chain and is killed -9 at a seeded moment while it runs. Afterwards the gateway
// is gone, the renter's `rent end` returns exactly escrow − earned as the contract computes it, no
// DUCK appears or vanishes, and a restarted provider on the same home relists the same machine and
// leaves nothing of the killed one behind. Built CLI: npm run build:ts first.

const seed = Number(process.env.QUACKMESH_CHAOS_PROVIDER_SEED || Math.floor(Math.random() * 2 ** 31));
t.comment(`provider chaos seed ${seed} (replay: QUACKMESH_CHAOS_PROVIDER_SEED=${seed} npx tap cli/e2e/chaos-provider.test.ts)`);

/** mulberry32, as in chaos.test.ts: a seeded draw, so a failing moment can be replayed. */
function random(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every process below `pid` (children, grandchildren...), from /proc. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // Field 4 of /proc/PID/stat, after the parenthesised command name.
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  for (let frontier = [pid]; frontier.length; ) {
    frontier = [...parent].filter(([, ppid]) => frontier.includes(ppid)).map(([p]) => p);
    out.push(...frontier);
  }
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** How a TCP connect to 127.0.0.1:port ends: "connected" or the error code. */
const dial = (port: number) =>
  new Promise<string>((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => (s.destroy(), resolve("connected")));
    s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err)));
  });

t.test("provider killed -9 mid-rental: gateway gone, exact refund, no DUCK made or lost, same machine relisted", async (t) => {
  const rnd = random(seed);
  const dir = mkdtempSync(join(tmpdir(), "qm-chaos-provider-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fx = await marketFixture(dir, ["requester"]);
  t.teardown(() => fx.stop());
  // The provider's own temp dir, so that whatever it leaves there is seen (and others' are not).
  const providerTmp = join(dir, "tmp");
  mkdirSync(providerTmp);
  const providerHome = join(dir, "home-provider");
  const base = { QUACKMESH_DEPLOYMENTS: fx.settings.deploymentsDir, QUACKMESH_RPC_URL: fx.chain.url, QUACKMESH_PRIVATE_KEY: "", QUACKMESH_NETWORK: "" };
  const renterEnv = { ...process.env, ...base, QUACKMESH_HOME: join(dir, "home-renter") };

  const run = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [cliEntry(), ...args], { cwd: packageRoot(), env: renterEnv }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );

  const provide = () => {
    const events: Array<Record<string, unknown>> = [];
    const waiters: Array<() => void> = [];
    const child = spawnCli(["provide", "--price", "5", "--poll", "1", "--account", "provider1", "--json"], {
      name: "provide",
      env: { ...base, QUACKMESH_HOME: providerHome, TMPDIR: providerTmp },
      onStdout: (line) => {
        try {
          events.push(JSON.parse(line));
        } catch {
          return;
        }
        for (const w of waiters.splice(0)) w();
      },
    });
    let gone = false;
    void child.exited.then(() => {
      gone = true;
      for (const w of waiters.splice(0)) w();
    });
    const next = async (event: string): Promise<Record<string, unknown>> => {
      for (;;) {
        const found = events.find((e) => e.event === event);
        if (found) return found;
        if (gone) throw new Error(`provide exited before '${event}': ${child.stderrTail()}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    };
    return { child, events, next };
  };
  let first: CliChild | undefined;
  let second: CliChild | undefined;
  t.teardown(() => Promise.all([first?.stop(), second?.stop()]));

  const p1 = provide();
  first = p1.child;
  const [starting, listed] = await Promise.all([p1.next("starting"), p1.next("listed")]);
  t.match(starting, { server: "gateway", gateway: { port: Number } }, "the default rental server is the embedded gateway");
  const gatewayPort = (starting.gateway as { port: number }).port;
  const machineId = String(listed.machineId);

  const renter = await fx.as("requester");
  const marketplace = renter.marketplace;
  const marketAddress = await marketplace.getAddress();
  const duck = renter.duck.getFunction("balanceOf");
  const people = [devAccount("requester").address, devAccount("provider1").address, marketAddress];
  const balances = async () => Promise.all(people.map((a) => duck(a) as Promise<bigint>));
  const sum = (xs: bigint[]) => xs.reduce((s, x) => s + x, 0n);
  const before = await balances();

  // The renter rents it through the CLI, naming no arbiter (as the market tests do): acknowledged.
  const rented = await run(["rent", "--no-liveness", "--count", "1", "--hours", "2", "--ack-timeout", "60", "--json"]);
  t.equal(rented.code, 0, rented.stderr);
  const [rental] = JSON.parse(rented.stdout.trim().split("\n").at(-1)!).machines as Array<{ rentalId: string; machineId: string; acknowledged: boolean; host: string; port: number; user: string }>;
  t.match(rental, { machineId, acknowledged: true });
  await p1.next("keyInstalled");
  const folder = (p1.events.find((e) => e.event === "keyInstalled") as { folder: string }).folder;
  t.ok(existsSync(folder), "the rental's folder exists while it runs");
  // The renter is on the machine, as the cluster manager would be: a file in the rental's folder
  // over SFTP, a worker run through the gate, and the connection left open.
  const session = await SshSession.open({ host: rental.host, port: rental.port, username: rental.user, privateKey: readFileSync(join(dir, "home-renter", "ssh", "id_ed25519")) });
  t.teardown(() => session.close());
  const lost = new Promise<unknown>((resolve) => session.once("closed", resolve));
  await session.upload(Buffer.from("a file of the renter's"), "notes.txt");
  t.ok(existsSync(join(folder, "notes.txt")), "the renter's upload is in the rental's folder");
  const version = await session.run("quackmesh worker --version");
  t.equal(version.code, 0, version.stderr);
  // A worker at work when the kill comes: its orchestrator accepts and never answers, so it waits.
  const held: Socket[] = [];
  const stalled = createServer((socket) => void held.push(socket));
  await new Promise<void>((resolve) => stalled.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    for (const socket of held) socket.destroy();
    stalled.close();
  });
  await session.upload(Buffer.from("1,0.5\n0,0.25\n"), "shard.csv");
  const working = new Promise<void>((resolve) => {
    void session.exec(`quackmesh worker --job 1 --data shard.csv --heartbeat 100 --orchestrator http://127.0.0.1:${(stalled.address() as { port: number }).port}`, {
      stdoutLine: (line) => line.includes('"identity"') && resolve(),
    });
  });
  await working;

  // The seeded moment: 0-3600 s of chain time into the 2-hour rental (time travel, so the run stays
  // short), plus 0-500 ms of wall time after the acknowledgement.
  const travel = Math.floor(rnd() * 3600);
  const delayMs = Math.floor(rnd() * 500);
  t.comment(`schedule: provider killed -9 ${delayMs} ms after the acknowledgement, ${travel} s of chain time into the rental`);
  if (travel > 0) await fx.travel(travel);
  await sleep(delayMs);
  const children = descendants(first.pid);
  process.kill(first.pid, "SIGKILL");
  t.same(await first.exited, { code: null, signal: "SIGKILL" });

  t.equal(await dial(gatewayPort), "ECONNREFUSED", "the gateway's port refuses connections");
  t.match(await lost, { code: "SSH_CONNECTION_LOST" }, "the renter's open connection was cut");
  for (let i = 0; i < 100 && children.some(alive); i++) await sleep(50);
  t.ok(children.length > 0, "the worker ran as a child of the provider");
  t.same(children.filter(alive), [], `none of the provider's ${children.length} child processes is left`);

  // rent end through the CLI: the refund is escrow − earned, both read from chain events.
  const ended = await run(["rent", "end", rental.rentalId, "--json"]);
  t.equal(ended.code, 0, ended.stderr);
  const id = BigInt(rental.rentalId);
  const [rentedLog] = (await marketplace.queryFilter(marketplace.filters.MachineRented(id))) as EventLog[];
  const [ackLog] = (await marketplace.queryFilter(marketplace.filters.RentalAcknowledged(id))) as EventLog[];
  const [endLog] = (await marketplace.queryFilter(marketplace.filters.RentalEnded(id))) as EventLog[];
  const escrow = rentedLog.args.amount as bigint;
  const startedAt = BigInt(ackLog.args.startedAt as bigint);
  const endedAt = BigInt((await endLog.getBlock()).timestamp);
  const total = BigInt(rentedLog.args.numHours as bigint) * 3600n;
  // RentalMath.earnedAt, recomputed here: pro rata of the served seconds, rounded down.
  const earned = endedAt - startedAt >= total ? escrow : (escrow * (endedAt - startedAt)) / total;
  t.ok(endedAt - startedAt >= BigInt(travel), "the killed provider's time was served time on chain");
  t.equal(endLog.args.refund as bigint, escrow - earned, "the contract refunded escrow − earned, to the wei");
  t.equal(endLog.args.earned as bigint, earned);
  const after = await balances();
  t.equal(after[0] - before[0], -earned, "the renter paid exactly what was earned (escrow out, refund back)");
  t.equal(sum(after), sum(before), "no DUCK created or lost across renter, provider and marketplace");
  const reply = JSON.parse(ended.stdout.trim().split("\n").at(-1)!) as { refund: string; earnedByProvider: string };
  t.equal(parseUnits(reply.refund, 18), escrow - earned, "the CLI reports the refund the chain paid");

  // A restarted provider on the same home relists the same machine id, takes its earnings, and
  // leaves no trace of the killed one: no rental folder, nothing in its temp dir.
  const p2 = provide();
  second = p2.child;
  const relisted = await p2.next("listed");
  t.equal(String(relisted.machineId), machineId, "the same machine id is relisted");
  for (let i = 0; i < 200 && existsSync(folder); i++) await sleep(50);
  t.notOk(existsSync(folder), "the ended rental's folder of the killed provider is removed");
  t.same(readdirSync(providerTmp), [], "no temp folder of the killed provider is left");
  await second.stop();
  const final = await balances();
  t.equal(sum(final), sum(before), "still no DUCK created or lost after the restarted provider withdrew");
  t.equal(final[1] - before[1] + final[2] - before[2], earned, "provider and marketplace together hold exactly what was earned");
});

