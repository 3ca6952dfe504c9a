import t from "tap";
import { decodeSafetensors } from "../../native/safetensors.js";
import { loadMnist } from "../../native/data.js";
import { SMALL_SPEC, announceJob, randomWallet, readyDraft, signedInject, testApp, trainUpdate } from "../testing/fixtures.js";

t.test("a job from upload to last round: attestations, aggregation, history, finish proof", async (t) => {
  const { app } = await testApp(t);
  const requester = randomWallet();
  const draft = await readyDraft(app, requester, { settings: { minUpdates: 2, rounds: 2 } });
  t.equal(draft.status, "ready");
  t.match(draft.modelHash, /^0x[0-9a-f]{64}$/);
  await announceJob(app, { jobId: 7, requester: requester.address, modelHash: draft.modelHash!, rounds: 2 });
  const job = (await app.inject({ method: "GET", url: "/api/job/7" })).json();
  t.equal(job.status, "active");
  t.equal(job.currentRound, 0);

  const train = await loadMnist("train", { limit: 1000 });
  const contributors = [randomWallet(), randomWallet()];
  const finished = app.events.waitFor("job:finished", (e) => e.jobId === 7);
  for (let round = 0; round < 2; round++) {
    const model = await app.inject({ method: "GET", url: "/api/job/7/model" });
    t.equal(model.headers["x-quackmesh-round"], String(round));
    const closed = app.events.waitFor("round:closed", (e) => e.round === round);
    for (let i = 0; i < 2; i++) {
      const bytes = await trainUpdate(SMALL_SPEC, model.rawPayload, { ...train, count: 500, x: train.x.subarray(i * 500 * 784, (i + 1) * 500 * 784), y: train.y.subarray(i * 500, (i + 1) * 500) }, 10 + i);
      const res = await signedInject(app, contributors[i], { method: "POST", url: `/api/job/7/update?round=${round}&numSamples=500`, body: bytes });
      t.equal(res.statusCode, 200, res.body);
      const att = res.json();
      t.equal(att.contributor, contributors[i].address);
      t.ok(att.accuracyBps > 0);
    }
    await closed;
  }
  await finished;
  const done = (await app.inject({ method: "GET", url: "/api/job/7" })).json();
  t.equal(done.status, "finished", JSON.stringify(done));
  t.equal(done.history.length, 2);
  t.equal(done.updates.accepted, 4);
  const proof = await app.inject({ method: "GET", url: "/api/job/7/finish-proof" });
  t.equal(proof.statusCode, 200);
  const final = await app.inject({ method: "GET", url: "/api/job/7/model" });
  t.equal(decodeSafetensors(final.rawPayload).tensors.length, 4);
});
