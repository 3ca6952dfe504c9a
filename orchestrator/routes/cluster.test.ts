import t from "tap";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../cli/lib/chain/localChain.js";
import { ensureKeyPair, formatPublicKey, sshKeygen } from "../../protocol/market/sshKeys.js";
import type { ChainEventRecord } from "../store/repository.js";
import { SMALL_SPEC, announceJob, mnistIdxPair, randomWallet, readyDraft, signedInject, testApp } from "../testing/fixtures.js";

const dir = await mkdtemp(join(tmpdir(), "qm-cluster-routes-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const key = await ensureKeyPair(join(dir, "cluster_ed25519"));
const privateKey = await readFile(key.privateKeyFile, "utf8");
const other = await ensureKeyPair(join(dir, "other_ed25519"));
await sshKeygen(["-q", "-t", "ed25519", "-N", "secret", "-f", join(dir, "locked_ed25519")]);
const locked = await readFile(join(dir, "locked_ed25519"), "utf8");
const { images, labels } = await mnistIdxPair("train", 30);
const trainIdx = Buffer.concat([images, labels]);

let tx = 0;
const market = (name: string, args: ChainEventRecord["args"]): ChainEventRecord => ({
  txHash: "0x" + (++tx).toString(16).padStart(64, "a"), logIndex: 0, blockNumber: 1000 + tx, source: "ComputeMarketplace", name, args,
});

t.test("cluster uploads: only the draft's uploader, a usable private key, training data that fits, after the key", async (t) => {
  const { app } = await testApp(t);
  const requester = randomWallet();
  const draft = await readyDraft(app, requester, { validation: 50 });
  const put = (wallet: typeof requester, url: string, body: Buffer | object, contentType?: string) => signedInject(app, wallet, { method: "PUT", url, body, contentType });
  const keyUrl = `/api/job/draft/${draft.draftId}/cluster-key`;
  const dataUrl = `/api/job/draft/${draft.draftId}/train-data`;

  const early = await put(requester, dataUrl, trainIdx);
  t.match(early.json(), { error: "VALIDATION_FAILED", message: /cluster key first/ });
  const cases: Array<[string, ReturnType<typeof randomWallet>, object, string]> = [
    ["a stranger", randomWallet(), { privateKey, machines: 3 }, "NOT_UPLOADER"],
    ["not a key", requester, { privateKey: "hello", machines: 3 }, "INVALID_SSH_KEY"],
    ["a public key", requester, { privateKey: formatPublicKey(key.publicKey), machines: 3 }, "INVALID_SSH_KEY"],
    ["an encrypted key", requester, { privateKey: locked, machines: 3 }, "INVALID_SSH_KEY"],
    ["no machines", requester, { privateKey, machines: 0 }, "VALIDATION_FAILED"],
    ["a momentum of 1", requester, { privateKey, machines: 3, train: { momentum: 1 } }, "VALIDATION_FAILED"],
  ];
  for (const [what, wallet, body, code] of cases) t.equal((await put(wallet, keyUrl, body)).json().error, code, what);
  t.equal(await app.repo.getClusterSpec(draft.draftId), null, "nothing stored");

  const saved = await put(requester, keyUrl, { privateKey, machines: 3, train: { epochs: 2 } });
  t.equal(saved.statusCode, 200, saved.body);
  t.same(saved.json(), { draftId: draft.draftId, machines: 3, keyFingerprint: key.publicKey.fingerprint, trainSamples: null, train: { epochs: 2, batchSize: 64, lr: 0.1, momentum: 0.9 } });

  const wrongWidth = await put(requester, dataUrl, "1,0.5,0.5\n2,0.1,0.2\n3,0,0\n", "text/csv");
  t.match(wrongWidth.json(), { error: "INVALID_DATASET", message: /training data has 2 features/ });
  const tooFew = await put(requester, dataUrl, Buffer.from(Array.from({ length: 2 }, (_, i) => `${i},${"0,".repeat(783)}0`).join("\n")), "text/csv");
  t.match(tooFew.json(), { error: "INVALID_DATASET", message: /2 samples, fewer than the 3 machines/ });
  const good = await put(requester, dataUrl, trainIdx);
  t.equal(good.statusCode, 200, good.body);
  t.equal(good.json().trainSamples, 30);
  t.match(await app.repo.getClusterSpec(draft.draftId), { trainFormat: "idx", trainHash: /^0x[0-9a-f]{64}$/, sshPrivateKey: privateKey });
  t.equal((await put(requester, keyUrl, { privateKey, machines: 31 })).json().error, "INVALID_DATASET", "more machines than samples");
});

t.test("rentals of a job: the requester's, with the uploaded key, are deployed; others are refused; ends are followed", async (t) => {
  const { app } = await testApp(t, { cluster: { keepaliveMs: 500 } });
  const requester = randomWallet();
  const draft = await readyDraft(app, requester, { validation: 50, settings: { minUpdates: 3 } });
  await signedInject(app, requester, { method: "PUT", url: `/api/job/draft/${draft.draftId}/cluster-key`, body: { privateKey, machines: 3 } });
  await signedInject(app, requester, { method: "PUT", url: `/api/job/draft/${draft.draftId}/train-data`, body: trainIdx });
  await announceJob(app, { jobId: 5, requester: requester.address, modelHash: draft.modelHash! });
  // Nobody listens on these ports: a machine whose sshd is down.
  const ports = [await freePort(), await freePort(), await freePort()];
  const provider = randomWallet().address;
  const events = [
    ...ports.map((port, i) => market("MachineListed", { machineId: String(i + 1), provider, pricePerHour: "1", maxHours: "0", specs: "{}", endpoint: `quack@127.0.0.1:${port}` })),
    market("MachineRented", { rentalId: "11", machineId: "1", renter: requester.address, jobId: "5", numHours: "1", amount: "1", sshPublicKey: formatPublicKey(key.publicKey) }),
    market("MachineRented", { rentalId: "12", machineId: "2", renter: randomWallet().address, jobId: "5", numHours: "1", amount: "1", sshPublicKey: formatPublicKey(key.publicKey) }),
    market("MachineRented", { rentalId: "13", machineId: "3", renter: requester.address, jobId: "5", numHours: "1", amount: "1", sshPublicKey: formatPublicKey(other.publicKey) }),
    market("MachineRented", { rentalId: "14", machineId: "1", renter: requester.address, jobId: "0", numHours: "1", amount: "1", sshPublicKey: formatPublicKey(key.publicKey) }),
  ];
  for (const ev of events) {
    await app.repo.recordChainEvents("ComputeMarketplace", ev.blockNumber, [ev]);
    await app.clusters.onChainEvent(ev);
  }
  const view = async () => (await app.inject({ method: "GET", url: "/api/cluster/5" })).json();
  t.same((await view()).machines.map((m: { status: string }) => m.status), ["pending", "pending", "pending"], "rental 14 names no job");
  t.match((await view()).cluster, { machines: 3, trainSamples: 30, keyFingerprint: key.publicKey.fingerprint });
  t.equal((await app.repo.unhandledChainEvents("MachineRented")).length, 0, "every event handled");

  for (const id of ["11", "12", "13"]) await app.clusters.onChainEvent(market("RentalAcknowledged", { rentalId: id, startedAt: "1" }));
  const settled = async () => {
    for (let i = 0; i < 100; i++) {
      const v = await view();
      if (v.machines.every((m: { status: string }) => m.status === "failed")) return v;
      await new Promise((r) => setTimeout(r, 100));
    }
    return view();
  };
  const v = await settled();
  t.match(v.machines[0], { rentalId: 11, host: "127.0.0.1", port: ports[0], status: "failed", error: /^SSH_UNREACHABLE/, shard: 0 });
  t.match(v.machines[1], { rentalId: 12, status: "failed", error: /^NOT_REQUESTER_RENTAL/ });
  t.match(v.machines[2], { rentalId: 13, status: "failed", error: /^WRONG_SSH_KEY/ });
  await app.clusters.onChainEvent(market("RentalEnded", { rentalId: "11", refund: "1", earned: "0" }));
  t.equal((await view()).machines[0].status, "ended");

  const stranger = await signedInject(app, randomWallet(), { method: "POST", url: "/api/job/5/update?round=0&numSamples=1", body: Buffer.from("x") });
  t.equal(stranger.statusCode, 403);
  t.equal(stranger.json().error, "NOT_CLUSTER_WORKER", "a cluster job takes updates only from its workers");
  const notMine = await signedInject(app, randomWallet(), { method: "PUT", url: "/api/job/5/cluster-key", body: { privateKey, machines: 1 } });
  t.equal(notMine.json().error, "NOT_REQUESTER");
});

t.test("a job without a cluster: empty cluster view, updates from anyone reach the round engine", async (t) => {
  const { app } = await testApp(t);
  const requester = randomWallet();
  const draft = await readyDraft(app, requester, { validation: 50, spec: SMALL_SPEC });
  await announceJob(app, { jobId: 6, requester: requester.address, modelHash: draft.modelHash! });
  t.match((await app.inject({ method: "GET", url: "/api/cluster/6" })).json(), { jobId: 6, cluster: null, machines: [] });
  const res = await signedInject(app, randomWallet(), { method: "POST", url: "/api/job/6/update?round=0&numSamples=1", body: Buffer.from("x") });
  t.equal(res.json().error, "MALFORMED_SAFETENSORS");
});
