import t from "tap";
import { TypedDataEncoder, verifyTypedData } from "ethers";
import { ATTESTATION_TYPES, JOB_FINISHED_TYPES } from "../../protocol/chain/eip712.js";
import { EvaluatorSigner, attestationDigest } from "./signer.js";
import { randomWallet } from "../testing/fixtures.js";

t.test("the direct attestation digest equals EIP-712 typed-data hashing, and signatures recover to the evaluator", async (t) => {
  const w = randomWallet();
  const s = new EvaluatorSigner(w, 31337, randomWallet().address);
  for (const v of [
    { jobId: 1, round: 0, contributor: randomWallet().address, updateHash: "0x" + "ab".repeat(32), accuracyBps: 0, numSamples: 1 },
    { jobId: 2 ** 40, round: 2 ** 32 - 1, contributor: randomWallet().address, updateHash: "0x" + "01".repeat(32), accuracyBps: 10000, numSamples: 2 ** 53 - 1 },
  ]) {
    t.equal(attestationDigest(s.domainSeparator, v), TypedDataEncoder.hash(s.domain, ATTESTATION_TYPES, v));
    t.equal(verifyTypedData(s.domain, ATTESTATION_TYPES, v, s.attest(v)), w.address);
  }
  t.equal(verifyTypedData(s.domain, JOB_FINISHED_TYPES, { jobId: 5 }, s.finishProof(5)), w.address);
});
