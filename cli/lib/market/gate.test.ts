import t from "tap";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decide, parseGateArgs, rentalFolder, type GateOptions } from "./gate.js";
import { gateFromSources, writeWorkerEntry } from "./testkit.js";

const opts: GateOptions = { rentalId: "5", root: "/srv/rentals", workerEntry: "/opt/qm/dist/cli/index.js", sftpServer: "/usr/lib/openssh/sftp-server" };

t.test("SFTP requests run the provider's sftp-server in the rental folder", async (t) => {
  for (const original of ["/usr/lib/openssh/sftp-server", "internal-sftp", "/usr/libexec/sftp-server -l INFO"]) {
    t.same(decide(original, opts), { kind: "sftp", argv: ["/usr/lib/openssh/sftp-server", "-d", "/srv/rentals/rental-5"], cwd: "/srv/rentals/rental-5" }, original);
  }
});

t.test("`quackmesh worker ARGS` runs the worker without a shell, in the rental folder", async (t) => {
  const d = decide("quackmesh worker --orchestrator http://10.0.0.1:8080 --data shard-1.idx --job 3", opts);
  t.same(d, {
    kind: "worker",
    argv: [process.execPath, "/opt/qm/dist/cli/index.js", "worker", "--orchestrator", "http://10.0.0.1:8080", "--data", "shard-1.idx", "--job", "3"],
    cwd: "/srv/rentals/rental-5",
    env: { QUACKMESH_RENTAL_ID: "5", QUACKMESH_RENTAL_DIR: "/srv/rentals/rental-5" },
  });
});

t.test("shells, other programs, injection and paths outside the folder are refused", async (t) => {
  const cases: Array<[string | undefined, RegExp]> = [
    [undefined, /interactive shell is not available/],
    ["", /interactive shell/],
    ["bash", /'bash' is not allowed/],
    ["bash -c id", /'bash -c id' is not allowed/],
    ["cat /etc/passwd", /not allowed/],
    ["sh -c 'quackmesh worker'", /not allowed/],
    ["quackmesh", /not allowed/],
    ["quackmesh contribute --job 1", /not allowed/],
    ["quackmesh worker; bash", /not allowed/],
    ["quackmesh worker --x; bash", /characters outside/],
    ["quackmesh worker $(id)", /characters outside/],
    ["quackmesh worker `id`", /characters outside/],
    ["quackmesh worker --data /etc/passwd", /absolute path/],
    ["quackmesh worker --data=/etc/passwd", /absolute path/],
    ["quackmesh worker --data ../../etc/passwd", /leaves the rental's folder/],
    ["quackmesh worker --data a/../../b", /leaves the rental's folder/],
  ];
  for (const [original, why] of cases) {
    const d = decide(original, opts);
    t.equal(d.kind, "refuse", String(original));
    if (d.kind === "refuse") t.match(d.message, why);
  }
});

t.test("the gate's own arguments are required and checked", async (t) => {
  t.throws(() => parseGateArgs(["--root", "/r"]), /--rental/);
  t.throws(() => parseGateArgs(["--rental", "1;x", "--root", "/r"]), /--rental/);
  t.throws(() => parseGateArgs(["--rental", "1", "--root", "rel"]), /--root/);
  const parsed = parseGateArgs(["--rental", "9", "--root", "/r"], "/opt/qm/dist/cli/lib/market");
  t.equal(parsed.workerEntry, "/opt/qm/dist/cli/index.js", "the default worker is the CLI beside the gate");
  t.equal(rentalFolder("/r", "9"), "/r/rental-9");
});

t.test("run as a program: refuses with exit 1, runs the worker with exit 0", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "qm-gate-"));
  const launch = await gateFromSources(dir, writeWorkerEntry(dir));
  const root = join(dir, "rentals");
  const args = [...launch.argv.slice(1), "--rental", "12", "--root", root, "--worker-entry", launch.workerEntry!];
  const refused = spawnSync(launch.argv[0], args, { env: { ...process.env, SSH_ORIGINAL_COMMAND: "bash -c id" }, encoding: "utf8" });
  t.equal(refused.status, 1);
  t.match(refused.stderr, /quackmesh gate: refused: 'bash -c id' is not allowed/);
  t.equal(refused.stdout, "", "nothing ran");
  t.notOk(existsSync(join(root, "rental-12")), "a refusal creates nothing");
  const ok = spawnSync(launch.argv[0], args, { env: { ...process.env, SSH_ORIGINAL_COMMAND: "quackmesh worker --version" }, encoding: "utf8" });
  t.equal(ok.status, 0, ok.stderr);
  t.equal(ok.stdout.trim(), `quackmesh-worker 0.1.0 rental 12 cwd ${join(root, "rental-12")}`);
  const misconfigured = spawnSync(launch.argv[0], launch.argv.slice(1), { env: { ...process.env, SSH_ORIGINAL_COMMAND: "quackmesh worker --version" }, encoding: "utf8" });
  t.equal(misconfigured.status, 1);
  t.match(misconfigured.stderr, /misconfigured forced command/);
});
