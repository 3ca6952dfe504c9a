import t from "tap";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteRepository } from "./sqlite.js";

const dir = await mkdtemp(join(tmpdir(), "quackmesh-sqlite-cluster-"));
const file = join(dir, "o.sqlite");
let repo = new SqliteRepository(file);
t.teardown(async () => {
  await repo.close();
  await rm(dir, { recursive: true, force: true });
});

const base = { jobId: 3, machineId: 7, rentalId: 11, provider: "0xP", host: "10.0.0.7", port: 22, status: "pending", updatedAt: 1 };

t.test("cluster machines: optional fields kept across upserts, patched, found by rental and status", async (t) => {
  await repo.upsertClusterMachine({ ...base, renter: "0xR", keyFingerprint: "SHA256:k" });
  await repo.upsertClusterMachine({ ...base, status: "acknowledged", updatedAt: 2 });
  t.match(await repo.findClusterMachineByRental(11), { status: "acknowledged", renter: "0xR", keyFingerprint: "SHA256:k", workerAddress: null, updatedAt: 2 });
  t.equal(await repo.updateClusterMachine(3, 7, { status: "running", workerAddress: "0xW", lastHeartbeat: 5, error: null }), true);
  t.equal(await repo.updateClusterMachine(3, 99, { status: "running" }), false, "no such machine");
  t.match((await repo.listClusterMachines(3))[0], { status: "running", workerAddress: "0xW", lastHeartbeat: 5, renter: "0xR" });
  t.same((await repo.clusterMachinesWithStatus(["running", "ready"])).map((m) => m.rentalId), [11]);
  t.same(await repo.clusterMachinesWithStatus([]), []);
  t.equal(await repo.findClusterMachineByRental(12), null);
  // A new rental of the same machine for the same job replaces the row.
  await repo.upsertClusterMachine({ ...base, rentalId: 12, status: "pending", updatedAt: 3 });
  t.equal(await repo.findClusterMachineByRental(11), null);
  t.match(await repo.findClusterMachineByRental(12), { status: "pending", workerAddress: "0xW" });
});

t.test("cluster specs and listings survive reopening", async (t) => {
  const spec = {
    draftId: "ab".repeat(16), owner: "0xO", machines: 3, train: { epochs: 2, batchSize: 64, lr: 0.1, momentum: 0 },
    sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n", keyFingerprint: "SHA256:k", trainHash: null, trainFormat: null, trainSamples: null, updatedAt: 9,
  };
  await repo.saveClusterSpec(spec);
  await repo.saveClusterSpec({ ...spec, trainHash: "0x01", trainFormat: "idx", trainSamples: 600 });
  await repo.saveMarketMachine({ machineId: 7, provider: "0xP", endpoint: "u@h:22", specs: "{}", pricePerHour: "5", block: 4 });
  await repo.close();
  repo = new SqliteRepository(file);
  t.same(await repo.getClusterSpec(spec.draftId), { ...spec, trainHash: "0x01", trainFormat: "idx", trainSamples: 600 });
  t.equal(await repo.getClusterSpec("cd".repeat(16)), null);
  t.same(await repo.getMarketMachine(7), { machineId: 7, provider: "0xP", endpoint: "u@h:22", specs: "{}", pricePerHour: "5", block: 4 });
  t.equal(await repo.getMarketMachine(8), null);
});
