import t from "tap";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer } from "./server.js";
import { loadTls } from "./tls.js";

// A self-signed certificate for 127.0.0.1 made with openssl, and a second key that does not match it.
const dir = await mkdtemp(join(tmpdir(), "qm-tls-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const cert = join(dir, "cert.pem");
const key = join(dir, "key.pem");
const otherKey = join(dir, "other.pem");
execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", otherKey], { stdio: "ignore" });

t.test("--tls-cert and --tls-key: both or neither, readable, a matching pair", async (t) => {
  t.equal(loadTls(undefined, undefined), undefined, "plain HTTP");
  t.throws(() => loadTls(cert, undefined), { code: "MISSING_OPTION", message: /--tls-key is missing/, fix: /both/ });
  t.throws(() => loadTls(join(dir, "nope.pem"), key), { code: "TLS_UNUSABLE", message: /cannot be read/ });
  t.throws(() => loadTls(cert, otherKey), { code: "TLS_UNUSABLE", message: /matching private key/ });
  await writeFile(join(dir, "junk.pem"), "not a certificate");
  t.throws(() => loadTls(join(dir, "junk.pem"), key), { code: "TLS_UNUSABLE" });
  t.ok(loadTls(cert, key)?.cert.length);
});

t.test("the orchestrator serves HTTPS with them; a client trusting the certificate gets /api/info", async (t) => {
  const dataDir = join(dir, "data");
  const server = await startServer({ dataDir, port: 0, tls: loadTls(cert, key), chain: { chainId: 31337, trainingPool: "0x" + "11".repeat(20) } });
  t.teardown(() => server.close());
  t.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${server.url}/api/info`, { ca: readFileSync(cert) }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
  t.equal(status, 200);
  t.equal(JSON.parse(body).evaluator, server.app.evaluator.address);
  // Plain HTTP to the same port is not served.
  await t.rejects(fetch(server.url.replace("https:", "http:") + "/healthz", { signal: AbortSignal.timeout(5000) }));
});
