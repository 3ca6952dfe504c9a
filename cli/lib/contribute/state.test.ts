import t from "tap";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ContributorState, stateFilePath } from "./state.js";

const who = { jobId: 4, address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" };
const att = { jobId: 4, round: 1, contributor: who.address, updateHash: "0x" + "ab".repeat(32), accuracyBps: 9000, numSamples: 10, signature: "0x01", evaluator: who.address, trainingPool: who.address, chainId: 31337, loss: 0.3 };

t.test("rounds, claims and the pending update survive a reopen", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "qm-state-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = stateFilePath(dir, 31337, 4, who.address);
  t.equal(file, join(dir, "contribute", `31337-4-${who.address}.json`));
  const s = await ContributorState.open(file, who);
  t.equal(s.round(0), undefined);
  await s.setRound(0, { status: "refused", code: "BELOW_THRESHOLD" });
  await s.setRound(1, { status: "attested", attestation: att });
  await s.setRound(2, { status: "submitted", attestation: { ...att, round: 2 }, reward: "5000" });
  await s.setPending(3, 10, new Uint8Array([1, 2, 3]));

  const again = await ContributorState.open(file, who);
  t.same(again.unclaimed(), [{ round: 1, attestation: att }]);
  t.equal(again.paid, 5000n);
  const pending = await again.readPending();
  t.same(pending && { ...pending, bytes: [...pending.bytes] }, { round: 3, numSamples: 10, bytes: [1, 2, 3] });
  const bytesFile = again.pending!.file;
  await again.clearPending();
  t.notOk(existsSync(bytesFile), "the update bytes go with the pending entry");
  t.equal((await ContributorState.open(file, who)).pending, null);
});

t.test("a file of another job or address, or not a state file, is refused", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "qm-state-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "s.json");
  await (await ContributorState.open(file, who)).setRound(0, { status: "skipped" });
  await t.rejects(ContributorState.open(file, { ...who, jobId: 5 }), { code: "STATE_MISMATCH" });
  await writeFile(file, "{ not json");
  await t.rejects(ContributorState.open(file, who), { code: "STATE_UNREADABLE", fix: /Move it away/ });
  t.equal(await readFile(file, "utf8"), "{ not json", "left as it was");
});

t.test("without a file the state lives in memory", async (t) => {
  const s = await ContributorState.open(undefined, who);
  await s.setRound(0, { status: "attested", attestation: att });
  await s.setPending(1, 1, new Uint8Array([1]));
  t.equal(s.path, undefined);
  t.equal(s.pending, null, "no bytes kept without a file");
  t.equal(s.unclaimed().length, 1);
});
