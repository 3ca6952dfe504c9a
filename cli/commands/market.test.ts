import t from "tap";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Wallet, parseUnits } from "ethers";
import { devAccount } from "../lib/chain/accounts.js";
import { marketFixture } from "../lib/market/testkit.js";
import { fixCommand } from "../testkit/runCli.js";
import { SshSession } from "../../orchestrator/cluster/sshClient.js";
import { testApp } from "../../orchestrator/testing/fixtures.js";
import { marketplaceDomain, signLiveness } from "../../protocol/chain/eip712.js";
import type { AddressInfo } from "node:net";

// Runs the built CLI (npm run build:ts first): provide, market list and rent as a user would,
// against a real chain, with `provide --sshd` starting real OpenSSH servers.
const root = fileURLToPath(new URL("../..", import.meta.url));
const cli = join(root, "dist", "cli", "index.js");
const dir = mkdtempSync(join(tmpdir(), "qm-market-cmd-"));
const fx = await marketFixture(dir, ["requester"]);
t.teardown(() => fx.stop());
const home = join(dir, "home");
const env = { ...process.env, QUACKMESH_HOME: home, QUACKMESH_DEPLOYMENTS: fx.settings.deploymentsDir, QUACKMESH_RPC_URL: fx.chain.url };
delete env.QUACKMESH_PRIVATE_KEY;
delete env.QUACKMESH_NETWORK;

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { cwd: root, env }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

interface Provider {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  next(event: string): Promise<Record<string, unknown>>;
  exit: Promise<number | null>;
}

function provide(args: string[]): Provider {
  const child = spawn(process.execPath, [cli, "provide", "--sshd", "--json", "--poll", "1", ...args], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on("line", (l) => {
    lines.push(JSON.parse(l));
    for (const w of waiters.splice(0)) w();
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exit = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const next = async (event: string) => {
    for (;;) {
      const found = lines.find((l) => l.event === event);
      if (found) return found;
      const more = new Promise<void>((r) => waiters.push(r));
      if ((await Promise.race([more.then(() => "line"), exit.then(() => "exit")])) === "exit" && !lines.some((l) => l.event === event)) {
        throw new Error(`provide exited before '${event}': ${stderr}`);
      }
    }
  };
  return { child, lines, next, exit };
}

const p1 = provide(["--price", "5", "--hours-max", "4", "--account", "provider1"]);
const p2 = provide(["--price", "3", "--account", "provider2", "--bench", "12.5"]);
t.teardown(() => {
  for (const p of [p1, p2]) if (p.child.exitCode === null) p.child.kill("SIGKILL");
});
const [started1, listed1, listed2] = await Promise.all([p1.next("starting"), p1.next("listed"), p2.next("listed")]);

t.test("bad provide flags are refused before anything starts", async (t) => {
  const noPrice = await run(["provide", "--sshd", "--json"]);
  t.equal(noPrice.code, 1);
  t.match(JSON.parse(noPrice.stderr), { error: "MISSING_OPTION" });
  const badStake = await run(["provide", "--price", "5", "--stake", "lots", "--json"]);
  t.match(JSON.parse(badStake.stderr.trim().split("\n").at(-1)!), { error: "BAD_AMOUNT", message: /--stake/ }, badStake.stderr);
  const badArbiter = await run(["provide", "--price", "5", "--trust-arbiter", "0x123", "--json"]);
  t.match(JSON.parse(badArbiter.stderr.trim().split("\n").at(-1)!), { error: "BAD_ADDRESS" }, badArbiter.stderr);
  const badEndpoint = await run(["provide", "--price", "5", "--endpoint", "host-without-port", "--json"]);
  t.match(JSON.parse(badEndpoint.stderr), { error: "BAD_ENDPOINT" });
  const zero = await run(["provide", "--price", "0", "--sshd", "--json"]);
  t.match(JSON.parse(zero.stderr), { error: "BAD_AMOUNT" });
});

t.test("market list shows both machines, cheapest first, with specs and status", async (t) => {
  t.match(started1, { event: "starting", provider: devAccount("provider1").address, sshd: { hostKeyFingerprint: /^SHA256:/ } });
  const r = await run(["market", "list", "--json"]);
  t.equal(r.code, 0, r.stderr);
  const { machines } = JSON.parse(r.stdout);
  t.same(machines.map((m: { machineId: string }) => m.machineId), [String(listed2.machineId), String(listed1.machineId)]);
  t.match(machines[0], { pricePerHour: "3", status: "available", bench: 12.5, maxHours: 0, provider: devAccount("provider2").address });
  t.match(machines[1], { pricePerHour: "5", status: "available", maxHours: 4, endpoint: listed1.endpoint });
  t.same(machines[0].record, { rentalsServed: 0, rentalsMissed: 0, downtimeSeconds: 0, stakeLost: "0" }, "a fresh machine's record");
  const badSort = await run(["market", "list", "--sort", "nonsense", "--json"]);
  t.match(JSON.parse(badSort.stderr), { error: "BAD_ARGUMENT", fix: /--sort served/ });
  t.equal(machines[1].hostKey, (started1.sshd as { hostKeyFingerprint: string }).hostKeyFingerprint, "the dedicated sshd's host key is announced with the listing");
  t.ok(machines[0].cores >= 1 && machines[0].ramMiB > 0);
  t.equal(JSON.parse((await run(["market", "list", "--max-price", "4", "--json"])).stdout).count, 1);
  t.equal(JSON.parse((await run(["market", "list", "--min-cores", "100000", "--json"])).stdout).count, 0);
  t.match((await run(["market", "list"])).stdout, /^ID\s+DUCK\/H\s+STATUS/);
});

t.test("liveness: machines whose providers sent no signed sign of life are stale and never rented", async (t) => {
  const provider2 = await fx.as("provider2");
  const { chainId } = await fx.provider.getNetwork();
  const marketplace = provider2.deployment.contracts.ComputeMarketplace;
  // These providers send their liveness elsewhere (the default URL): this orchestrator has none.
  const { app } = await testApp(t, { chain: { chainId: Number(chainId), trainingPool: provider2.deployment.contracts.TrainingPool, rpcUrl: fx.chain.url, startBlock: fx.fromBlock, contracts: { ComputeMarketplace: marketplace } } });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const list = async () => JSON.parse((await run(["market", "list", "--orchestrator", url, "--json"])).stdout);
  const before = await list();
  t.equal(before.liveness, "checked");
  t.same(before.machines.map((m: { status: string }) => m.status), ["stale", "stale"]);
  const balance = await provider2.duck.getFunction("balanceOf")(devAccount("requester").address);
  const refused = await run(["rent", "--count", "1", "--hours", "1", "--orchestrator", url, "--json"]);
  t.equal(refused.code, 1);
  t.match(JSON.parse(refused.stderr.trim().split("\n").at(-1)!), { error: "TOO_FEW_MACHINES", message: /2 stale/ });
  t.equal(await provider2.duck.getFunction("balanceOf")(devAccount("requester").address), balance, "nothing paid");
  // Provider 2 proves it is alive: its machine is available again, with the time it was seen.
  const at = Math.floor(Date.now() / 1000);
  const machineId = BigInt(String(listed2.machineId));
  const signature = signLiveness(new Wallet(devAccount("provider2").privateKey), marketplaceDomain(chainId, marketplace), { machineId, at: BigInt(at) });
  t.equal((await app.inject({ method: "POST", url: "/api/market/liveness", payload: { machineId: machineId.toString(), at, signature } })).statusCode, 200);
  const after = await list();
  t.match(after.machines, [{ machineId: machineId.toString(), status: "available", lastSeen: at }, { status: "stale", lastSeen: null }]);
  t.equal(JSON.parse((await run(["market", "list", "--orchestrator", url, "--available", "--json"])).stdout).count, 1, "--available leaves the stale one out");
});

let rentals: Array<{ rentalId: string; machineId: string; host: string; port: number; user: string; acknowledged: boolean }> = [];

t.test("rent refuses what cannot be met, then rents two machines that get acknowledged", async (t) => {
  const tooMany = await run(["rent", "--no-liveness", "--count", "3", "--hours", "1", "--json"]);
  t.equal(tooMany.code, 1);
  t.match(JSON.parse(tooMany.stderr.trim().split("\n").at(-1)!), { error: "TOO_FEW_MACHINES", message: /Only 2 available machines match/ });
  const tooLong = await run(["rent", "--no-liveness", "--count", "2", "--hours", "5", "--json"]);
  t.match(JSON.parse(tooLong.stderr.trim().split("\n").at(-1)!), { error: "TOO_FEW_MACHINES", message: /Only 1 available machine match/ });
  const poorKey = join(dir, "poor.key");
  const { writeFileSync } = await import("node:fs");
  writeFileSync(poorKey, Wallet.createRandom().privateKey);
  const poor = await run(["rent", "--no-liveness", "--count", "1", "--hours", "1", "--key", poorKey, "--json"]);
  const short = JSON.parse(poor.stderr.trim().split("\n").at(-1)!);
  const poorAddress = new Wallet(readFileSync(poorKey, "utf8").trim()).address;
  t.match(short, { error: "NOT_ENOUGH_DUCK", details: { have: "0", need: parseUnits("3", 18).toString() }, fix: new RegExp(`\`quackmesh wallet faucet --to ${poorAddress} --amount 3\``) });
  const funded = await run([...fixCommand(short.fix), "--json"]);
  t.equal(funded.code, 0, funded.stderr);
  t.equal(await (await fx.as("requester")).duck.getFunction("balanceOf")(poorAddress), parseUnits("3", 18), "the printed fix funds the wallet that came short (its --key), not the default account");

  const r = await run(["rent", "--no-liveness", "--count", "2", "--hours", "2", "--job", "4", "--json", "--ack-timeout", "60"]);
  t.equal(r.code, 0, r.stderr);
  const cluster = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  t.match(cluster, { event: "cluster", jobId: "4", total: "16", sshKey: join(home, "ssh", "id_ed25519") });
  rentals = cluster.machines;
  t.same(rentals.map((m) => m.acknowledged), [true, true]);
  t.same(rentals.map((m) => m.machineId), [String(listed2.machineId), String(listed1.machineId)]);
  t.ok(existsSync(join(home, "ssh", "id_ed25519")), "the SSH key was generated");
  await p1.next("acknowledged");
  await p2.next("acknowledged");
  t.equal(JSON.parse((await run(["market", "list", "--available", "--json"])).stdout).count, 0, "both rented");
});

t.test("the renter's key reaches the built gate: the worker runs, a shell does not", async (t) => {
  const m = rentals[0];
  const s = await SshSession.open({ host: m.host, port: m.port, username: m.user, privateKey: readFileSync(join(home, "ssh", "id_ed25519")) });
  t.teardown(() => s.close());
  const help = await s.run("quackmesh worker --help");
  t.equal(help.code, 0, help.stderr);
  t.match(help.stdout, /Usage: quackmesh worker/);
  const shell = await s.run("bash -c id");
  t.equal(shell.code, 1);
  t.match(shell.stderr, /quackmesh gate: refused/);
});

t.test("rent list, end and cancel", async (t) => {
  const list = JSON.parse((await run(["rent", "list", "--json"])).stdout);
  t.equal(list.count, 2);
  t.same(list.rentals.map((r: { status: string }) => r.status), ["active", "active"]);
  const cancel = await run(["rent", "cancel", rentals[0].rentalId]);
  t.equal(cancel.code, 1);
  t.match(cancel.stderr, new RegExp(`Rental ${rentals[0].rentalId} was acknowledged and is running, so it cannot be cancelled`));
  t.match(cancel.stderr, new RegExp(`fix: End it instead; the unserved part comes back: \`quackmesh rent end ${rentals[0].rentalId}\``));
  t.notMatch(cancel.stderr, /InvalidRentalStatus\(|details\./, "no raw revert in the message");
  const ended = await run(["rent", "end", rentals[0].rentalId, "--json"]);
  t.equal(ended.code, 0, ended.stderr);
  const e = JSON.parse(ended.stdout);
  t.equal(parseUnits(e.refund, 18) + parseUnits(e.earnedByProvider, 18), parseUnits("6", 18));
  t.match(await p2.next("keyRemoved"), { reason: "ended" });
  // Several ids in one command: each is tried and refused in plain words with its fix.
  const both = await run(["rent", "end", rentals[0].rentalId, "424242", "--json"]);
  t.equal(both.code, 1);
  const refused = both.stdout.trim().split("\n").map((l) => JSON.parse(l));
  t.match(refused, [
    { event: "refused", rentalId: rentals[0].rentalId, message: /is already ended; there is nothing left to end/, fix: /quackmesh rent list/ },
    { event: "refused", rentalId: "424242", message: /There is no rental 424242 on this network/ },
  ]);
  t.match(JSON.parse(both.stderr), { message: new RegExp(`2 of 2 rentals could not be ended \\(${rentals[0].rentalId}, 424242\\)`) });
  t.match(JSON.parse((await run(["rent", "end", "abc", "--json"])).stderr), { error: "BAD_ID" });
  t.match(JSON.parse((await run(["rent", "end", rentals[0].rentalId, "--account", "provider3", "--json"])).stderr), { details: { error: "NotRenter" } });
});

t.test("Ctrl-C unlists, removes keys and stops sshd", async (t) => {
  for (const p of [p1, p2]) p.child.kill("SIGINT");
  t.same(await Promise.all([p1.exit, p2.exit]), [0, 0]);
  t.match(p1.lines.at(-1), { event: "stopped", signal: "SIGINT" });
  t.ok(p1.lines.some((l) => l.event === "keyRemoved" && l.reason === "stopped"), "provider 1 removed its renter's key");
  t.ok(p1.lines.some((l) => l.event === "unlisted"));
  const { machines } = JSON.parse((await run(["market", "list", "--json"])).stdout);
  t.same(machines.map((m: { status: string }) => m.status), ["unlisted", "unlisted"]);
  const port = (started1.sshd as { port: number }).port;
  await t.rejects(SshSession.open({ host: "127.0.0.1", port, username: "x", privateKey: readFileSync(join(home, "ssh", "id_ed25519")) }), { code: "SSH_UNREACHABLE" });
});
