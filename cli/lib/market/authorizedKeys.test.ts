import t from "tap";
import { mkdtempSync, readFileSync, statSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addRentalKey, listRentalKeys, removeRentalKey, rentalKeyLine } from "./authorizedKeys.js";
import { ensureKeyPair, parsePublicKey } from "../../../protocol/market/sshKeys.js";
import { forcedCommand } from "./gateLaunch.js";

const dir = mkdtempSync(join(tmpdir(), "qm-ak-"));
const pair = await ensureKeyPair(join(dir, "keys", "id_ed25519"), "renter@example");
const pub = readFileSync(pair.publicKeyFile, "utf8");
const command = forcedCommand({ argv: ["/usr/bin/node", "/opt/quack mesh/gate.js"] }, 7n, "/srv/rentals");

t.test("a generated key pair parses, with a private folder and a 0600 private key", async (t) => {
  t.equal(pair.created, true);
  t.equal(pair.publicKey.type, "ssh-ed25519");
  t.match(pair.publicKey.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
  t.equal(statSync(pair.privateKeyFile).mode & 0o777, 0o600);
  t.equal(statSync(join(dir, "keys")).mode & 0o777, 0o700);
  const again = await ensureKeyPair(pair.privateKeyFile);
  t.equal(again.created, false, "an existing pair is reused");
  t.equal(again.publicKey.fingerprint, pair.publicKey.fingerprint);
});

t.test("keys are validated: options, line breaks, wrong types and forged blobs are refused", async (t) => {
  const [type, b64] = pub.trim().split(" ");
  t.equal(parsePublicKey(`${type} ${b64} any comment here`).base64, b64);
  t.throws(() => parsePublicKey(`command="sh" ${type} ${b64}`), { code: "BAD_SSH_KEY", message: /options are not accepted/ });
  t.throws(() => parsePublicKey(`${type} ${b64}\nssh-ed25519 ${b64}`), { code: "BAD_SSH_KEY", message: /line break/ });
  t.throws(() => parsePublicKey(`${type} ${b64}\rx`), { code: "BAD_SSH_KEY" });
  t.throws(() => parsePublicKey(`ssh-dss ${b64}`), { code: "BAD_SSH_KEY" });
  t.throws(() => parsePublicKey(`ssh-rsa ${b64}`), { code: "BAD_SSH_KEY", message: /does not hold a ssh-rsa key/ });
  t.throws(() => parsePublicKey(`${type} not*base64`), { code: "BAD_SSH_KEY", message: /base64/ });
  t.throws(() => parsePublicKey(""), { code: "BAD_SSH_KEY", message: /empty/ });
  t.throws(() => parsePublicKey(`${type} ${"A".repeat(5000)}`), { code: "BAD_SSH_KEY", message: /characters long/ });
});

t.test("the forced command quotes paths with spaces and refuses quotes", async (t) => {
  t.equal(command, "exec /usr/bin/node '/opt/quack mesh/gate.js' --rental 7 --root /srv/rentals");
  t.throws(() => forcedCommand({ argv: ['/x"y'] }, 1, "/r"), { code: "BAD_GATE_PATH" });
  t.throws(() => forcedCommand({ argv: ["/x'y"] }, 1, "/r"), { code: "BAD_GATE_PATH" });
  t.throws(() => forcedCommand({ argv: ["/x"] }, 1, "relative"), { code: "BAD_GATE_PATH" });
  t.throws(() => forcedCommand({ argv: ["/x"] }, "1; rm", "/r"), { code: "BAD_ID" });
});

t.test("add, replace and remove rental keys; other lines stay byte for byte; mode 0600", async (t) => {
  const file = join(dir, "authorized_keys");
  const own = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOwnIhsBZ2kvJxg1j0eVhXp6Bx1cQbb7g3A3CLqZ9Xq5 me@laptop";
  writeFileSync(file, `# my keys\n${own}\n`, { mode: 0o644 });
  const line = addRentalKey(file, 7n, pub, command);
  t.equal(line, `command="${command}",restrict ${pair.publicKey.type} ${pair.publicKey.base64} quackmesh-rental-7`);
  t.notMatch(line, /renter@example/, "the renter's comment is dropped");
  addRentalKey(file, 8, pub, command.replace("--rental 7", "--rental 8"));
  addRentalKey(file, 7n, pub, command); // replacing, not duplicating
  t.equal(readFileSync(file, "utf8").split("\n").filter((l) => l.includes("quackmesh-rental-7")).length, 1);
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.same(listRentalKeys(file).map((k) => k.rentalId), ["8", "7"]);
  t.equal(removeRentalKey(file, 7), true);
  t.equal(removeRentalKey(file, 7), false, "removing twice finds nothing");
  t.equal(removeRentalKey(file, 70), false, "rental 70 is not rental 7");
  t.equal(removeRentalKey(file, 8), true);
  t.equal(readFileSync(file, "utf8"), `# my keys\n${own}\n`, "the owner's lines are untouched");
  t.same(readdirSync(dir).filter((f) => f.endsWith(".tmp")), [], "no temp files left");
});

t.test("a bad key changes nothing", async (t) => {
  const file = join(dir, "authorized_keys2");
  writeFileSync(file, "# keep\n");
  t.throws(() => addRentalKey(file, 1, `no-pty ${pub}`, command), { code: "BAD_SSH_KEY" });
  t.throws(() => rentalKeyLine(1, pub, 'x",no-restrict'), { code: "BAD_FORCED_COMMAND" });
  t.equal(readFileSync(file, "utf8"), "# keep\n");
});
