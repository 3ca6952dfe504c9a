/**
 * The demo's compute providers: three `quackmesh provide` processes, each serving its rentals
 * through its embedded SSH gateway (no OpenSSH needed), list their machines. They run until the
 * demo ends and are stopped with it. Skipped with --no-market.
 */
import { join } from "node:path";
import { QuackError } from "../../../protocol/errors.js";
import { formatAmount } from "../../../protocol/chain/units.js";
import { spawnCli, type CliChild } from "./processes.js";
import type { DemoContext } from "./types.js";

export interface DemoProvider {
  name: string;
  child: CliChild;
  machineId: string;
  endpoint: string;
  price: string;
  /** DUCK wei withdrawn so far, from the process's `withdrawn` lines. */
  withdrawn: bigint;
}

export const PRICES = ["2", "3", "4"];
const SKIPPED = "skipped (--no-market)";

export function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new QuackError("DEMO_ORDER", `The demo step needs ${what}, which an earlier step sets.`);
  return value;
}

/** Start one `quackmesh provide` process and resolve once its machine is listed. */
function startProvider(ctx: DemoContext, n: number, price: string): Promise<DemoProvider> {
  const name = `provider${n}`;
  const dir = join(ctx.workDir, "providers", name);
  const rpc = need(ctx.chain, "the chain").url;
  return new Promise((resolve, reject) => {
    let provider: DemoProvider | undefined;
    let timer: NodeJS.Timeout | undefined;
    const child = spawnCli(
      // --orchestrator: its liveness records let the cluster rent the machine, and its evaluator is the arbiter cluster rentals name.
      ["provide", "--price", price, "--hours-max", "24", "--account", name, "--rpc", rpc, "--orchestrator", need(ctx.server, "the orchestrator").url, "--rentals-dir", join(dir, "rentals"), "--gateway-key", join(dir, "gateway", "ssh_host_ed25519_key"), "--json"],
      {
        name,
        env: ctx.childEnv,
        onStdout: (line) => {
          let e: Record<string, unknown>;
          try {
            e = JSON.parse(line) as Record<string, unknown>;
          } catch {
            return;
          }
          if (e.event === "listed") {
            provider = { name, child, machineId: String(e.machineId), endpoint: String(e.endpoint), price, withdrawn: 0n };
            clearTimeout(timer);
            resolve(provider);
          }
          if (e.event === "withdrawn" && provider) provider.withdrawn = BigInt(String(e.total));
          if (e.event !== "starting") ctx.emit({ event: "log", source: name, text: describe(e) });
        },
      },
    );
    // Generous: on SIGTERM the provider unlists on chain and stops its gateway before exiting.
    ctx.onCleanup(() => child.stop(20_000));
    timer = setTimeout(() => reject(new QuackError("DEMO_PROVIDER_TIMEOUT", `${name} did not list its machine within 60 s.`, { details: { stderr: child.stderrTail() } })), 60_000);
    void child.exited.then(({ code }) => {
      clearTimeout(timer);
      if (!provider) reject(new QuackError("DEMO_PROVIDER_FAILED", `${name} (quackmesh provide) exited with code ${code} before listing: ${child.stderrTail().split("\n").at(-1) ?? ""}`));
    });
  });
}

function describe(e: Record<string, unknown>): string {
  switch (e.event) {
    case "listed":
      return `listed machine ${e.machineId} at ${e.endpoint}`;
    case "rented":
      return `rental ${e.rentalId} paid by ${String(e.renter).slice(0, 10)}…`;
    case "acknowledged":
      return `rental ${e.rentalId} acknowledged`;
    case "keyRemoved":
      return `rental ${e.rentalId}: renter key removed (${e.reason})`;
    case "withdrawn":
      return `withdrew ${formatAmount(BigInt(String(e.amount)))} DUCK`;
    default:
      return String(e.event);
  }
}

/** Why the marketplace steps are skipped, or null when they run (they need no OpenSSH). */
export function marketSkipped(ctx: DemoContext): string | null {
  return ctx.opts.market ? null : SKIPPED;
}

export async function providersStep(ctx: DemoContext): Promise<string> {
  const skipped = marketSkipped(ctx);
  if (skipped) return skipped;
  ctx.providers = await Promise.all(PRICES.map((price, i) => startProvider(ctx, i + 1, price)));
  const listed = [...ctx.providers].sort((a, b) => Number(a.machineId) - Number(b.machineId));
  return `3 machines listed by \`quackmesh provide\` (embedded SSH gateway): ${listed.map((p) => `#${p.machineId} ${p.endpoint} at ${p.price} DUCK/h`).join(", ")}`;
}

/** `quackmesh market list` as a person runs it; its table goes to the log. */
export function marketList(ctx: DemoContext): Promise<string[]> {
  const rows: string[] = [];
  const child = spawnCli(["market", "list", "--rpc", need(ctx.chain, "the chain").url], { name: "market", env: ctx.childEnv, onStdout: (l) => l.trim() && rows.push(l) });
  ctx.onCleanup(() => child.stop());
  return child.exited.then(({ code }) => {
    if (code !== 0) throw new QuackError("DEMO_MARKET_FAILED", `quackmesh market list exited with code ${code}: ${child.stderrTail()}`);
    return rows;
  });
}
