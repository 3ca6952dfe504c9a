/**
 * What the PostgreSQL end-to-end tests stand on: a temp folder, a real PostgreSQL server, a
 * Hardhat node and the contracts deployed to it, each stopped when the test ends. Returns null
 * (after a passing line saying why) where no PostgreSQL binaries exist.
 */
import type { Test } from "tap";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { findPostgres, startPostgres } from "../../orchestrator/testing/postgres.js";
import { makeProvider } from "../../protocol/chain/networks.js";
import { devAccount } from "../lib/chain/accounts.js";
import { deployAll } from "../lib/chain/deploy.js";
import { startLocalChain } from "../lib/chain/localChain.js";

export async function postgresNetwork(t: Test, prefix: string) {
  const found = findPostgres();
  if ("missing" in found) {
    t.pass(`skipped: ${found.missing}`);
    return null;
  }
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const pgServer = await startPostgres();
  t.teardown(() => pgServer.stop());
  const chain = await startLocalChain({ port: 0 });
  t.teardown(() => chain.stop());
  const provider = makeProvider(chain.url, chain.chainId);
  t.teardown(() => provider.destroy());
  const settings = { network: "local", rpc: chain.url, deploymentsDir: join(dir, "deployments"), duckToken: undefined };
  const deployment = await deployAll(settings, new Wallet(devAccount("operator").privateKey, provider));
  return { dir, pgServer, chain, provider, settings, deployment };
}
