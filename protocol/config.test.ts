import t from "tap";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultDeploymentsDir, resolveSettings } from "./config.js";

t.test("flags win over env, env over the config file", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "qm-config-"));
  writeFileSync(join(home, "config.json"), JSON.stringify({ network: "duckchain", orchestrator: "http://file:1" }));
  const env = { QUACKMESH_ORCHESTRATOR: "http://env:2" };
  const s = resolveSettings({ home }, env);
  t.equal(s.network, "duckchain");
  t.equal(s.orchestrator, "http://env:2");
  const s2 = resolveSettings({ home, orchestrator: "http://flag:3" }, env);
  t.equal(s2.orchestrator, "http://flag:3");
});

t.test("defaults apply when nothing is set", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "qm-config-"));
  const s = resolveSettings({ home }, {});
  t.equal(s.network, "local");
  t.equal(s.orchestrator, "http://127.0.0.1:8080");
  t.equal(s.privateKey, undefined);
});

t.test("a malformed config file is a clear error naming the file", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "qm-config-"));
  writeFileSync(join(home, "config.json"), "[1,2");
  t.throws(() => resolveSettings({ home }, {}), { name: "QuackError", code: "BAD_CONFIG", message: /config\.json/ });
});

t.test("deployments are found from any folder: ./deployments where it exists, else the home's", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "qm-config-"));
  const elsewhere = mkdtempSync(join(tmpdir(), "qm-cwd-"));
  t.equal(defaultDeploymentsDir(home, elsewhere), join(home, "deployments"), "a folder without deployments/ reads the home's");
  mkdirSync(join(elsewhere, "deployments"));
  t.equal(defaultDeploymentsDir(home, elsewhere), join(elsewhere, "deployments"), "a checkout's own deployments/ wins");
  t.equal(resolveSettings({ home }, { QUACKMESH_DEPLOYMENTS: "/x/d" }).deploymentsDir, "/x/d", "QUACKMESH_DEPLOYMENTS wins over both");
});
