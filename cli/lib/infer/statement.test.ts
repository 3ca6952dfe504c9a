// The requester's check of a cluster run's statement: what an orchestrator (or anyone between it
// and the requester) could slip in is refused before anything is settled.
import t from "tap";
import { Wallet } from "ethers";
import type { ClusterRunReply } from "../../../orchestrator/client.js";
import { inferencePoolDomain, signUsage } from "../../../protocol/chain/eip712.js";
import { checkClusterStatement, type StatementExpectation } from "./statement.js";

const orchestrator = Wallet.createRandom();
const payout = Wallet.createRandom().address;
const [alice, bob, mallory] = [Wallet.createRandom().address, Wallet.createRandom().address, Wallet.createRandom().address];
const pool = Wallet.createRandom().address;
const DUCK = 10n ** 18n;
const expect: StatementExpectation = {
  inferenceJobId: 7, orchestrator: orchestrator.address, payout, minimumFee: DUCK / 1000n, maxPayment: DUCK, chainId: 31337, inferencePool: pool,
  // An hour of either rental costs 3,600 DUCK: 1 ms is 0.001 DUCK, so the 200 ms run earns each 0.2 DUCK at most.
  rentals: [{ rentalId: "1", provider: alice, pricePerHour: 3600n * DUCK }, { rentalId: "2", provider: bob, pricePerHour: 3600n * DUCK }],
  elapsedMs: 200, count: 2,
};
const probabilities = Buffer.from(new Float32Array([0.9, 0.1, 0.2, 0.8]).buffer).toString("base64");

/** A finished run whose statement pays `lines`, signed by `signer` for job `jobId`. */
function run(lines: Array<[string, bigint]>, opts: { signer?: Wallet; jobId?: number; probabilities?: string; missingRows?: number } = {}): ClusterRunReply {
  const jobId = opts.jobId ?? 7;
  const providers = lines.map(([a]) => a);
  const amounts = lines.map(([, v]) => v);
  const signature = signUsage(opts.signer ?? orchestrator, inferencePoolDomain(31337, pool), { jobId, providers, amounts });
  return {
    inferenceJobId: 7, jobId: 1, requester: alice, state: "done", rowsDone: 2, rowsTotal: 2, parts: 2, startedAt: 0, finishedAt: 1, machines: [], answered: [],
    result: {
      count: 2, classes: 2, probabilities: opts.probabilities ?? probabilities, missingRows: opts.missingRows ?? 0, rentals: [],
      statement: { inferenceJobId: 7, usage: { jobId, providers, amounts: amounts.map(String) }, signature, orchestrator: orchestrator.address, inferencePool: pool, chainId: 31337 },
    },
  };
}

const fee = DUCK / 1000n;
const honest: Array<[string, bigint]> = [[alice, 50n * DUCK / 1000n], [bob, 70n * DUCK / 1000n], [payout, fee]];

t.test("an honest statement passes, with the predictions in input order", async (t) => {
  const s = checkClusterStatement(run(honest), expect);
  t.same(s.amounts, honest.map(([, v]) => v));
  t.equal(s.total, 121n * DUCK / 1000n);
  t.same(Array.from(s.probabilities!).map((v) => Math.round(v * 10) / 10), [0.9, 0.1, 0.2, 0.8]);
});

t.test("what an orchestrator could slip in is refused", async (t) => {
  const cases: Array<[string, ClusterRunReply, RegExp]> = [
    ["signed by another key", run(honest, { signer: Wallet.createRandom() }), /signed by 0x[0-9a-fA-F]{40}, not by/],
    ["for another inference job", run(honest, { jobId: 8 }), /it is for job 8/],
    ["a provider of none of the rentals", run([[alice, 1n], [mallory, 1n], [payout, fee]]), /pays 0x[0-9a-fA-F]{40}, who provides none of the rentals 1, 2/],
    ["more than the run's time at the rental's price", run([[alice, 201n * DUCK / 1000n], [payout, fee]]), /above its rentals' price for the 200 ms the run took/],
    ["a fee above the minimum", run([[alice, 1n], [payout, fee + 1n]]), /not at most the minimum fee/],
    ["the fee to another address", run([[alice, 1n], [mallory, fee]]), /not at most the minimum fee .* to 0x/],
    ["above the escrow", run([[alice, DUCK], [bob, 1n], [payout, 0n]]), /above the escrow/],
    ["predictions of the wrong size", run(honest, { probabilities: Buffer.alloc(12).toString("base64") }), /12 bytes of predictions for 2 samples × 2 classes/],
  ];
  for (const [what, reply, message] of cases) t.throws(() => checkClusterStatement(reply, expect), { code: "BAD_STATEMENT", message, fix: /--reclaim 7/ }, what);
});

t.test("an incomplete run's statement still settles, without predictions", async (t) => {
  const s = checkClusterStatement(run([[alice, 1n], [payout, 0n]], { probabilities: "", missingRows: 1 }), expect);
  t.equal(s.missingRows, 1);
  t.equal(s.probabilities, undefined);
});
