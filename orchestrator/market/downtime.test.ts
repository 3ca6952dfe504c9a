import t from "tap";
import { DowntimeLedger } from "./downtime.js";

t.test("counts failed spans inside the rental's window only", async (t) => {
  const l = new DowntimeLedger();
  l.observe("1", "running", 0);
  l.observe("1", "failed", 10_000);
  l.observe("1", "failed", 15_000); // still down: the first failure counts
  l.observe("1", "ready", 40_000);
  l.observe("1", "failed", 90_000);
  t.equal(l.secondsDown("1", 0, 100_000), 30 + 10, "closed span plus the open one up to the end");
  t.equal(l.secondsDown("1", 20_000, 95_000), 20 + 5, "clipped to the window");
  t.equal(l.secondsDown("2", 0, 100_000), 0, "another rental has none");
});

t.test("a machine that never came back is down until the end", async (t) => {
  const l = new DowntimeLedger();
  l.down("7", 1_000);
  t.equal(l.secondsDown("7", 0, 3_600_000), 3599);
  l.up("7", 500); // an up before the down changes nothing
  t.equal(l.secondsDown("7", 0, 3_600_000), 3599);
});
