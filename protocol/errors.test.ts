import t from "tap";
import { NATIVE_ERROR_CODES, NativeError, fromAddon } from "../native/errors.js";
import { ApiError, ERRORS } from "../orchestrator/errors.js";
import { refusalCode } from "../orchestrator/client.js";
import { ERROR_CODES, EXIT, EXIT_MEANINGS, QuackError, errorCodeOf, isErrorCode, isQuackError, isTransientError } from "./errors.js";

t.test("every code has an exit status, a retry flag and one line of meaning", async (t) => {
  const exits = new Set<number>(Object.values(EXIT));
  for (const [code, info] of Object.entries(ERROR_CODES)) {
    t.match(code, /^[A-Z][A-Z0-9_]+$/, `${code}: upper-case name`);
    t.ok(exits.has(info.exit), `${code}: exit ${info.exit} is one of EXIT`);
    t.equal(info.transient, info.exit === EXIT.TRANSIENT, `${code}: transient exactly when it exits ${EXIT.TRANSIENT}`);
    t.ok(info.doc.length > 10 && !info.doc.includes("\n"), `${code}: one line of doc`);
  }
  t.same(Object.keys(EXIT_MEANINGS).map(Number).sort((a, b) => a - b), Object.values(EXIT).sort((a, b) => a - b), "every exit status is explained");
});

t.test("the exit scheme: 1 refused, 2 internal, 3 transient, 130 interrupted", async (t) => {
  t.equal(new QuackError("BAD_ARGUMENT", "m").exitCode, 1);
  t.equal(new QuackError("INTERNAL", "m").exitCode, 2);
  t.equal(new QuackError("RPC_UNREACHABLE", "m").exitCode, 3);
  t.equal(new QuackError("ABORTED", "m").exitCode, 130);
  t.equal(new QuackError("NOT_A_CODE" as never, "m").exitCode, 2, "a code that slipped past the type reads as INTERNAL");
});

t.test("transient codes: the network, a busy server, a nonce race; not INTERNAL", async (t) => {
  for (const code of ["HTTP_502", "HTTP_503", "HTTP_504", "UNAVAILABLE", "RATE_LIMITED", "RPC_UNREACHABLE", "ORCHESTRATOR_UNREACHABLE", "NONCE_CONFLICT"] as const) {
    t.ok(isTransientError(new QuackError(code, "m")), code);
    t.ok(new QuackError(code, "m").transient, `${code}.transient`);
  }
  for (const code of ["INTERNAL", "ROUND_CLOSED", "BAD_ARGUMENT", "HTTP_ERROR", "TX_REVERTED"] as const) t.notOk(isTransientError(new QuackError(code, "m")), code);
  t.ok(isTransientError({ code: "RATE_LIMITED" }), "any object with a transient code");
  t.notOk(isTransientError({ code: "ECONNRESET" }), "a code outside the table");
  t.notOk(isTransientError(undefined));
  t.notOk(isTransientError(null));
  t.equal(errorCodeOf({ code: "NO_KEY" }), "NO_KEY");
  t.equal(errorCodeOf(new Error("plain")), undefined);
  t.ok(isErrorCode("DATA_NOT_FOUND"));
  t.notOk(isErrorCode("toString"), "inherited names are not codes");
});

t.test("NativeError and ApiError are QuackErrors with codes of the one table", async (t) => {
  for (const code of NATIVE_ERROR_CODES) t.ok(isErrorCode(code), `native ${code}`);
  for (const code of Object.keys(ERRORS)) t.ok(isErrorCode(code), `API ${code}`);

  const n = new NativeError("LENGTH_MISMATCH", "weights[1] is short", "weights[1]");
  t.ok(isQuackError(n));
  t.ok(n instanceof NativeError);
  t.match(n, { name: "NativeError", code: "LENGTH_MISMATCH", argument: "weights[1]", exitCode: 1, details: { argument: "weights[1]" } });
  t.same(n.toJSON(), { error: "LENGTH_MISMATCH", message: "weights[1] is short", fix: undefined, details: { argument: "weights[1]" } });
  t.equal(new NativeError("BUSY", "m").exitCode, 2, "a call on a busy object is a bug of the caller");
  const raw = Object.assign(new Error("bad y"), { code: "BAD_ARGUMENT", argument: "data.y" });
  t.match(fromAddon(raw), { name: "NativeError", code: "BAD_ARGUMENT", argument: "data.y" });
  t.match(fromAddon(Object.assign(new Error("odd"), { code: "SOMETHING_ELSE" })), { code: "INTERNAL" });

  const a = new ApiError("RATE_LIMITED", undefined, { limit: 5 }, { "retry-after": "3" });
  t.ok(isQuackError(a));
  t.match(a, { name: "ApiError", code: "RATE_LIMITED", status: 429, message: ERRORS.RATE_LIMITED.message, details: { limit: 5 }, headers: { "retry-after": "3" } });
  t.ok(a.transient);
  t.equal(new ApiError("BELOW_THRESHOLD", "too low").message, "too low");
});

t.test("an orchestrator refusal keeps the server's code when it is known", async (t) => {
  t.equal(refusalCode("ROUND_CLOSED", 409), "ROUND_CLOSED");
  t.equal(refusalCode(undefined, 502), "HTTP_502");
  t.equal(refusalCode(undefined, 503), "HTTP_503");
  t.equal(refusalCode("SOME_NEWER_CODE", 504), "HTTP_504");
  t.equal(refusalCode(undefined, 404), "HTTP_ERROR");
  t.equal(refusalCode("SOME_NEWER_CODE", 409), "HTTP_ERROR");
});
