import t from "tap";
import type { ContractRunner } from "ethers";
import { INFERENCE_POOL_ABI, inferencePoolReader } from "./chain.js";

const address = "0x" + "11".repeat(20);
const failing = (err: unknown): ContractRunner => ({ provider: null, call: async () => Promise.reject(err) }) as unknown as ContractRunner;

t.test("an UnknownJob revert is no job; any other failure is UNAVAILABLE", async (t) => {
  const unknown = INFERENCE_POOL_ABI.encodeErrorResult("UnknownJob", [7]);
  // Revert data where ethers and the nodes put it: on the error, or nested in info.error / error.
  for (const err of [{ data: unknown }, { info: { error: { data: unknown } } }, { error: { error: { data: unknown } } }]) {
    t.equal(await inferencePoolReader(address, failing(Object.assign(new Error("reverted"), err))).getInferenceJob(7), null);
  }
  await t.rejects(inferencePoolReader(address, failing(new Error("socket hang up"))).getInferenceJob(7), { code: "UNAVAILABLE", status: 503 });
  await t.rejects(inferencePoolReader(address, failing(Object.assign(new Error("reverted"), { data: "0x" }))).getInferenceJob(7), { code: "UNAVAILABLE" });
});
