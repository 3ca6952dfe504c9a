import t from "tap";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deploymentFile, readDeployment, updateDeployment, writeDeployment, type Deployment } from "./deployments.js";

const addr = (n: number) => "0x" + n.toString(16).padStart(40, "0");
const sample: Deployment = {
  network: "local",
  chainId: 31337,
  block: 1,
  deployer: addr(1),
  deployedAt: "2025-01-01T00:00:00.000Z",
  ackWindowSeconds: 600,
  duckTokenDeployed: true,
  contracts: { DuckToken: addr(2), ComputeMarketplace: addr(3), TrainingPool: addr(4), InferencePool: addr(5) },
};

t.test("write then read round-trips; a missing file reads as undefined", async (t) => {
  const settings = { deploymentsDir: join(mkdtempSync(join(tmpdir(), "qm-dep-")), "nested") };
  t.equal(readDeployment(settings, "local"), undefined);
  const file = writeDeployment(settings, sample);
  t.equal(file, deploymentFile(settings, "local"));
  t.same(readDeployment(settings, "local"), sample);
  t.match(readFileSync(file, "utf8"), /^\{\n  "network": "local",/);
});

t.test("updateDeployment records the evaluator and refuses bad values", async (t) => {
  const settings = { deploymentsDir: mkdtempSync(join(tmpdir(), "qm-dep-")) };
  t.throws(() => updateDeployment(settings, "local", { evaluator: addr(9) }), { code: "NO_DEPLOYMENT" });
  writeDeployment(settings, sample);
  t.equal(updateDeployment(settings, "local", { evaluator: addr(9) }).evaluator, addr(9));
  t.equal(readDeployment(settings, "local")?.evaluator, addr(9));
  t.throws(() => updateDeployment(settings, "local", { evaluator: "nobody" }), { code: "BAD_DEPLOYMENT" });
  t.equal(readDeployment(settings, "local")?.evaluator, addr(9), "unchanged after a refusal");
});

t.test("malformed files are clear errors naming the file and the fix", async (t) => {
  const settings = { deploymentsDir: mkdtempSync(join(tmpdir(), "qm-dep-")) };
  const file = deploymentFile(settings, "local");
  writeFileSync(file, "{not json");
  t.throws(() => readDeployment(settings, "local"), { code: "BAD_DEPLOYMENT", message: /local\.json is not a deployment file: it is not valid JSON/, fix: /quackmesh deploy/ });
  writeFileSync(file, JSON.stringify({ ...sample, contracts: { ...sample.contracts, TrainingPool: "0x12" } }));
  t.throws(() => readDeployment(settings, "local"), { code: "BAD_DEPLOYMENT", message: /contracts\.TrainingPool is not an address/ });
  writeFileSync(file, JSON.stringify({ ...sample, chainId: "31337" }));
  t.throws(() => readDeployment(settings, "local"), { code: "BAD_DEPLOYMENT", message: /'chainId'/ });
  writeFileSync(file, "[]");
  t.throws(() => readDeployment(settings, "local"), { code: "BAD_DEPLOYMENT", message: /not a JSON object/ });
});
