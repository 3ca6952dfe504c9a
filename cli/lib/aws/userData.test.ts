import t from "tap";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DATA_DIR, UNIT_NAME, renderUserData, serveArgs, shellQuote, type UserDataOptions } from "./userData.js";

const base: UserDataOptions = {
  packageSpec: "https://example.com/quackmesh-0.1.0.tgz",
  port: 8080,
  network: "duckchain-testnet",
  region: "eu-west-1",
  deployment: { name: "duckchain-testnet", json: '{"network":"duckchain-testnet","chainId":202105}\n' },
};

function unitOf(script: string): string {
  const m = /<<'UNIT'\n([\s\S]*?)\nUNIT\n/.exec(script);
  if (!m) throw new Error("no unit in script");
  return m[1];
}

t.test("the script installs Node 20 and the package, and runs serve as a systemd unit", async (t) => {
  const s = renderUserData(base);
  t.ok(s.startsWith("#!/bin/bash\n"));
  t.match(s, /rpm\.nodesource\.com\/setup_20\.x/);
  t.match(s, /deb\.nodesource\.com\/setup_20\.x/);
  t.match(s, "npm install -g 'https://example.com/quackmesh-0.1.0.tgz'");
  const unit = unitOf(s);
  t.match(unit, `ExecStart=@QUACKMESH_BIN@ serve --host 0.0.0.0 --port 8080 --network duckchain-testnet --data-dir ${DATA_DIR} --json`);
  t.match(unit, "User=quackmesh");
  t.match(unit, `Environment=QUACKMESH_DEPLOYMENTS=${DATA_DIR}/deployments`);
  t.match(s, `systemctl enable --now ${UNIT_NAME}`);
  t.equal(renderUserData(base), s, "same options, same bytes");
});

t.test("the deployment file travels base64-encoded and decodes to the same bytes", async (t) => {
  const s = renderUserData(base);
  const m = /echo '([A-Za-z0-9+/=]+)' \| base64 -d > (\S+)/.exec(s);
  t.ok(m);
  t.equal(Buffer.from(m![1], "base64").toString("utf8"), base.deployment!.json);
  t.equal(m![2], `${DATA_DIR}/deployments/duckchain-testnet.json`);
});

t.test("evaluator key: from SSM when a parameter is named, else left to serve", async (t) => {
  const generated = renderUserData(base);
  t.notMatch(generated, /aws ssm/);
  t.notMatch(generated, /QUACKMESH_EVALUATOR_KEY=/);
  t.match(generated, /generates it into the data dir/);
  const ssm = renderUserData({ ...base, evaluatorSsmParam: "/quackmesh/evaluator-key" });
  t.match(ssm, "aws ssm get-parameter --region 'eu-west-1' --name '/quackmesh/evaluator-key' --with-decryption");
  t.match(ssm, "QUACKMESH_EVALUATOR_KEY=%s");
  t.match(unitOf(ssm), "EnvironmentFile=-/etc/quackmesh/env");
});

t.test("--rpc reaches serve", async (t) => {
  t.same(serveArgs({ port: 9000, network: "duckchain", rpc: "https://rpc.example.org" }).slice(-2), ["--rpc", "https://rpc.example.org"]);
  t.match(unitOf(renderUserData({ ...base, rpc: "https://rpc.example.org" })), "--rpc https://rpc.example.org");
});

t.test("the script is valid bash, and its key step really writes the env file", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "qm-userdata-"));
  const file = join(dir, "user-data.sh");
  writeFileSync(file, renderUserData({ ...base, evaluatorSsmParam: "/p", packageSpec: "https://x.example/a'b.tgz" }));
  execFileSync("bash", ["-n", file]);
  t.pass("bash -n accepts it");
  // Quoting survives a hostile value: the shell sees exactly one word, the original text.
  const echoed = execFileSync("bash", ["-c", `printf %s ${shellQuote("a'b $(touch /tmp/x) \"c\"")}`]).toString();
  t.equal(echoed, "a'b $(touch /tmp/x) \"c\"");
  // Run the SSM step with a stub `aws` on PATH, writing to a temp env file.
  const script = readFileSync(file, "utf8");
  const step = script.slice(script.indexOf('KEY="$(aws ssm'), script.indexOf("unset KEY"));
  writeFileSync(join(dir, "aws"), "#!/bin/sh\necho abcdef\n", { mode: 0o755 });
  const envFile = join(dir, "env");
  execFileSync("bash", ["-c", step.replace("install -d -m 0750 -o root -g quackmesh /etc/quackmesh", "true").replaceAll("/etc/quackmesh/env", envFile)], {
    env: { PATH: `${dir}:${process.env.PATH}` },
  });
  t.equal(readFileSync(envFile, "utf8"), "QUACKMESH_EVALUATOR_KEY=0xabcdef\n");
});

t.test("with a database: both secrets from SSM into one env file, the key first, the URL appended", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "qm-userdata-db-"));
  const script = renderUserData({ ...base, evaluatorSsmParam: "/quackmesh/s/evaluator-key", databaseSsmParam: "/quackmesh/s/database-url" });
  t.notMatch(renderUserData(base), /QUACKMESH_DATABASE_URL/, "SQLite without one");
  t.equal(script.match(/command -v aws/g)?.length, 1, "the AWS CLI is installed once");
  const file = join(dir, "user-data.sh");
  writeFileSync(file, script);
  execFileSync("bash", ["-n", file]);
  // Both steps with a stub `aws` that answers each parameter by name.
  const steps = script.slice(script.indexOf('KEY="$(aws ssm'), script.indexOf("unset DB_URL"));
  writeFileSync(join(dir, "aws"), '#!/bin/sh\ncase "$*" in *database-url*) echo "postgres://quackmesh:pw@db.example:5432/quackmesh?sslmode=no-verify";; *) echo 0x12ab;; esac\n', { mode: 0o755 });
  const envFile = join(dir, "env");
  execFileSync("bash", ["-c", steps.replaceAll("install -d -m 0750 -o root -g quackmesh /etc/quackmesh", "true").replaceAll("/etc/quackmesh/env", envFile)], {
    env: { PATH: `${dir}:${process.env.PATH}` },
  });
  t.equal(readFileSync(envFile, "utf8"), "QUACKMESH_EVALUATOR_KEY=0x12ab\nQUACKMESH_DATABASE_URL=postgres://quackmesh:pw@db.example:5432/quackmesh?sslmode=no-verify\n");
  t.throws(() => renderUserData({ ...base, databaseSsmParam: "x y" }), { code: "BAD_ARGUMENT" });
});

t.test("with a data volume: the disk that is neither root nor instance storage gets a file system once, and is mounted by label", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "qm-userdata-vol-"));
  const script = renderUserData({ ...base, dataVolume: true });
  t.notMatch(renderUserData(base), /mkfs/, "none without one");
  t.ok(script.indexOf("mkfs.ext4") < script.indexOf(`install -d -m 0700 -o quackmesh -g quackmesh ${DATA_DIR}`), "mounted before the data dir is set up");
  const step = script.slice(script.indexOf('ROOT_DISK="$('), script.indexOf(`install -d -m 0700 -o quackmesh`));
  const calls = join(dir, "calls");
  const stub = (name: string, body: string) => writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  // A Nitro instance: root on nvme0n1, an instance-storage disk, and the attached EBS volume.
  stub("findmnt", "echo /dev/nvme0n1p1");
  stub("lsblk", `case "$*" in *PKNAME*) echo nvme0n1;; *) printf '%s\\n' '/dev/nvme0n1 disk Amazon Elastic Block Store' '/dev/nvme2n1 disk Amazon EC2 NVMe Instance Storage' '/dev/nvme1n1 disk Amazon Elastic Block Store';; esac`);
  stub("blkid", `[ -f ${dir}/formatted ]`);
  stub("mkfs.ext4", `echo "mkfs $*" >> ${calls}; touch ${dir}/formatted`);
  stub("mountpoint", "exit 1");
  stub("mount", `echo "mount $*" >> ${calls}`);
  const fstab = join(dir, "fstab");
  writeFileSync(fstab, "UUID=root / xfs defaults 0 0\n");
  const data = join(dir, "data");
  const run = () =>
    execFileSync("bash", ["-euo", "pipefail", "-c", step.replaceAll("/etc/fstab", fstab).replaceAll(DATA_DIR, data)], { env: { PATH: `${dir}:${process.env.PATH}` } });
  run();
  t.equal(readFileSync(calls, "utf8"), `mkfs -q -L quackmesh-data /dev/nvme1n1\nmount ${data}\n`, "the EBS volume is formatted, never the instance storage");
  t.equal(readFileSync(fstab, "utf8"), `UUID=root / xfs defaults 0 0\nLABEL=quackmesh-data ${data} ext4 defaults,nofail 0 2\n`);
  // The next instance gets the same volume: its data stays, its fstab line is written once.
  run();
  t.equal(readFileSync(calls, "utf8"), `mkfs -q -L quackmesh-data /dev/nvme1n1\nmount ${data}\nmount ${data}\n`, "not formatted again");
  t.equal(readFileSync(fstab, "utf8").match(/quackmesh-data/g)?.length, 1);
});

t.test("systemd accepts the unit", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "qm-unit-"));
  const file = join(dir, UNIT_NAME);
  writeFileSync(file, unitOf(renderUserData({ ...base, evaluatorSsmParam: "/p" })).replace("@QUACKMESH_BIN@", "/bin/true") + "\n");
  const r = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8", timeout: 60_000 });
  if (r.error) {
    t.skip("systemd-analyze is not installed");
    return;
  }
  t.equal(r.status, 0);
  t.notMatch(r.stderr, new RegExp(UNIT_NAME.replace(".", "\\.")), "no complaint about the unit");
});

t.test("values that cannot go into the script are refused", async (t) => {
  t.throws(() => renderUserData({ ...base, packageSpec: "a b" }), { code: "BAD_ARGUMENT", message: /--package/ });
  t.throws(() => renderUserData({ ...base, network: "duck chain" }), { code: "BAD_ARGUMENT", message: /--network/ });
  t.throws(() => renderUserData({ ...base, port: 70000 }), { code: "BAD_ARGUMENT", message: /--port/ });
  t.throws(() => renderUserData({ ...base, evaluatorSsmParam: "x;rm -rf /" }), { code: "BAD_ARGUMENT", message: /--evaluator-ssm-param/ });
  t.throws(() => renderUserData({ ...base, deployment: { name: "../x", json: "{}" } }), { code: "BAD_ARGUMENT" });
  t.throws(() => renderUserData({ ...base, deployment: { name: "big", json: "x".repeat(20_000) } }), { code: "AWS_USER_DATA_TOO_LARGE" });
});
