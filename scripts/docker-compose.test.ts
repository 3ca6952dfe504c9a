import t from "tap";
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Wallet } from "ethers";
import { parse } from "yaml";
import { ENV_VARS } from "../protocol/config.js";
import { packageRoot } from "../protocol/package.js";
import { DEV_ACCOUNT_NAMES, devAccount } from "../cli/lib/chain/accounts.js";
import { buildProgram } from "../cli/program.js";

// docker-compose.yml and the Dockerfile cannot run here (no Docker engine): this checks that
// the compose file is valid, that every service runs a real `quackmesh` command with flags that
// exist (the CLI's own command tree) and only documented QUACKMESH_* variables.
const run = promisify(execFile);
const root = packageRoot();
const program = buildProgram();
/** Compose's `${VAR:-default}` as compose resolves it with VAR unset. */
const resolved = (v: string | undefined) => (v ?? "").replace(/\$\{\w+:-([^}]*)\}/g, "$1");

interface Service {
  image?: string;
  build?: unknown;
  entrypoint?: string[];
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
}
const compose = parse(readFileSync(join(root, "docker-compose.yml"), "utf8"), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const ours = Object.entries(services).filter(([, s]) => s.image === "quackmesh:dev");

t.test("docker-compose config accepts the file", async (t) => {
  const which = await run("sh", ["-c", "command -v docker-compose"]).catch(() => null);
  if (!which) {
    t.pass("skipped: docker-compose is not installed (Debian package docker-compose)");
    return;
  }
  const { stdout } = await run("docker-compose", ["-f", join(root, "docker-compose.yml"), "config", "--services"], { cwd: root });
  t.same(stdout.trim().split("\n").sort(), Object.keys(services).sort());
});

t.test("the services the local system needs are there, each built from the Dockerfile", async (t) => {
  for (const name of ["chain", "deploy", "postgres", "orchestrator-1", "orchestrator-2", "provider-1", "provider-2", "provider-3", "data", "job", "contributor-1", "contributor-2"]) {
    t.ok(services[name], name);
  }
  for (const [name, s] of ours) t.ok(s.build, `${name} builds the image`);
  t.same(Object.entries(services).filter(([, s]) => s.image !== "quackmesh:dev").map(([n]) => n), ["postgres"], "only PostgreSQL comes from elsewhere");
});

t.test("every quackmesh service runs a command with flags that exist", async (t) => {
  for (const [name, s] of ours) {
    const args = s.command ?? [];
    if (s.entrypoint) {
      // A one-shot script of the image: it must be one this package builds.
      const script = s.entrypoint.find((a) => a.startsWith("/app/dist/"));
      t.ok(script && existsSync(join(root, script.replace("/app/", ""))), `${name}: ${script} is built by this package`);
      continue;
    }
    let command = program.commands.find((c) => c.name() === args[0]);
    const key = command?.commands.length ? `${args[0]} ${args[1]}` : args[0];
    if (command?.commands.length) command = command.commands.find((c) => c.name() === args[1]);
    t.ok(command, `${name}: quackmesh ${key} exists`);
    const flags = new Set(command?.options.map((o) => o.long) ?? []);
    for (const flag of args.filter((a) => a.startsWith("--"))) t.ok(flags.has(flag), `${name}: quackmesh ${key} ${flag}`);
    const account = args[args.indexOf("--account") + 1];
    if (args.includes("--account")) t.ok((DEV_ACCOUNT_NAMES as readonly string[]).includes(account), `${name}: dev account ${account}`);
  }
});

t.test("environment: only documented variables; one evaluator key for both orchestrators, not a participant's", async (t) => {
  for (const [name, s] of ours) {
    for (const key of Object.keys(s.environment ?? {})) t.ok(key in ENV_VARS, `${name}: ${key} is documented in protocol/config.ts`);
  }
  const keys = ["orchestrator-1", "orchestrator-2"].map((n) => resolved(services[n].environment?.QUACKMESH_EVALUATOR_KEY));
  t.equal(keys[0], keys[1], "the orchestrators share the evaluator key");
  t.equal(new Wallet(keys[0]).address, devAccount("evaluator").address, "the public dev evaluator account, no contributor's or provider's");
  for (const n of ["orchestrator-1", "orchestrator-2"]) t.match(services[n].environment?.QUACKMESH_DATABASE_URL, /^postgres:\/\/.*@postgres:5432\//);
});

t.test("the Dockerfile builds in one stage and runs from another, on Node 20", async (t) => {
  const docker = readFileSync(join(root, "Dockerfile"), "utf8");
  const froms = docker.split("\n").filter((l) => l.startsWith("FROM "));
  t.equal(froms.length, 2);
  t.ok(froms.every((l) => /^FROM node:20[-\w]*/.test(l)));
  t.match(docker, /COPY --from=build .*build\/Release/, "the compiled addon is carried over");
  t.match(docker, /ENTRYPOINT \["node", "\/app\/dist\/cli\/index\.js"\]/);
});
