import t from "tap";
import { PassThrough } from "node:stream";
import { NativeError } from "../../native/errors.js";
import { QuackError } from "../../protocol/errors.js";
import { reportError } from "./output.js";

function report(err: unknown, json: boolean): { code: number; text: string } {
  const stderr = new PassThrough();
  let text = "";
  stderr.on("data", (d: Buffer) => (text += d.toString()));
  const code = reportError(err, json, stderr);
  return { code, text };
}

t.test("a QuackError is rendered with its own code, message, fix and exit status", async (t) => {
  const refused = new QuackError("NO_KEY", "Network 'duckchain' needs a wallet key.", { fix: "Pass --key FILE." });
  t.same(report(refused, false), { code: 1, text: "error: Network 'duckchain' needs a wallet key.\n  fix: Pass --key FILE.\n" });
  const json = report(refused, true);
  t.equal(json.code, 1);
  t.same(JSON.parse(json.text), { error: "NO_KEY", message: "Network 'duckchain' needs a wallet key.", fix: "Pass --key FILE." });
  t.equal(report(new QuackError("ORCHESTRATOR_UNREACHABLE", "Cannot reach it."), false).code, 3, "transient: 3");
  t.equal(report(new QuackError("INTERNAL", "Broken."), false).code, 2);
  t.equal(report(new QuackError("ABORTED", "Stopped."), false).code, 130);
});

t.test("a NativeError keeps its code and argument (it is not INTERNAL)", async (t) => {
  const r = report(new NativeError("CUDA_UNAVAILABLE", "no usable GPU", "opts.device"), true);
  t.equal(r.code, 1);
  t.same(JSON.parse(r.text), { error: "CUDA_UNAVAILABLE", message: "no usable GPU", details: { argument: "opts.device" } });
  t.equal(report(new NativeError("INTERNAL", "engine bug"), false).code, 2);
});

t.test("anything else is INTERNAL, exit 2", async (t) => {
  const r = report(new TypeError("x is undefined"), true);
  t.equal(r.code, 2);
  t.same(JSON.parse(r.text), { error: "INTERNAL", message: "x is undefined" });
  t.same(report("a string", false), { code: 2, text: "error: a string\n" });
  t.same(report({ code: "NO_KEY", message: "not a QuackError" }, false).code, 2);
});
