import t from "tap";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadMachineKey, machineKeyFile } from "./machineKey.js";

t.test("made once, then the same key on every start", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "qm-machine-key-"));
  const file = machineKeyFile(home);
  const first = loadMachineKey(file);
  t.match(first, /^0x[0-9a-f]{64}$/);
  t.equal(loadMachineKey(file), first, "a restart reads the same key");
  t.equal(readFileSync(file, "utf8").trim(), first);
});

t.test("a file that holds no key is refused with the fix, and left as it is", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "qm-machine-key-"));
  const file = machineKeyFile(home);
  loadMachineKey(file);
  writeFileSync(file, "not a key\n");
  t.throws(() => loadMachineKey(file), { code: "BAD_KEY", fix: /Remove it/ });
  t.equal(readFileSync(file, "utf8"), "not a key\n");
});
