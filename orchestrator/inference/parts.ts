/**
 * The arithmetic of cluster inference, kept pure: the input cut into parts, the answers put back
 * in input order, and what each provider is owed for the compute time its machines returned.
 */

/** Rows [from, from + count) of the input. */
export interface Part {
  part: number;
  from: number;
  count: number;
}

/**
 * Cut `rows` into parts of at most `partRows` rows, and into at least `2 × machines` parts when
 * there are that many rows: a machine that dies then loses one small part, not its whole share.
 */
export function splitRows(rows: number, machines: number, partRows: number): Part[] {
  if (!Number.isSafeInteger(rows) || rows < 1) throw new RangeError(`rows ${rows} is not a positive whole number`);
  if (!Number.isSafeInteger(machines) || machines < 1) throw new RangeError(`machines ${machines} is not a positive whole number`);
  if (!Number.isSafeInteger(partRows) || partRows < 1) throw new RangeError(`partRows ${partRows} is not a positive whole number`);
  const count = Math.min(rows, Math.max(Math.ceil(rows / partRows), 2 * machines));
  const parts: Part[] = [];
  for (let i = 0; i < count; i++) {
    const from = Math.floor((i * rows) / count);
    parts.push({ part: i, from, count: Math.floor(((i + 1) * rows) / count) - from });
  }
  return parts;
}

/** One part's answer: who returned it, its probabilities and the compute time paid for it. */
export interface PartResult {
  part: number;
  rentalId: string;
  provider: string;
  /** DUCK wei per hour of the rental that returned it. */
  pricePerHour: bigint;
  /** The worker's compute time, never above what the renter saw the part take. */
  computeMs: number;
  probabilities: Float32Array;
}

/** The probabilities of every part in input order (rows × classes); throws when a part is missing. */
export function assemble(parts: Part[], results: Array<PartResult | undefined>, classes: number): Float32Array {
  const rows = parts.reduce((n, p) => n + p.count, 0);
  const out = new Float32Array(rows * classes);
  for (const p of parts) {
    const r = results[p.part];
    if (!r) throw new RangeError(`part ${p.part} has no answer`);
    if (r.probabilities.length !== p.count * classes) throw new RangeError(`part ${p.part} holds ${r.probabilities.length} values for ${p.count} rows × ${classes} classes`);
    out.set(r.probabilities, p.from * classes);
  }
  return out;
}

/** What one rental returned and earned. */
export interface RentalUsage {
  rentalId: string;
  provider: string;
  pricePerHour: bigint;
  parts: number;
  rows: number;
  computeMs: number;
  /** DUCK wei: computeMs at pricePerHour, rounded up to a whole wei. */
  amount: bigint;
}

/** The usage statement's lines: one per provider (its rentals summed), in the order first seen. */
export interface Usage {
  rentals: RentalUsage[];
  providers: string[];
  amounts: bigint[];
  total: bigint;
}

const MS_PER_HOUR = 3_600_000n;

/**
 * Each rental is owed its returned parts' compute time at its price per hour; each provider the
 * sum over its rentals. `everyone` lists rentals that returned nothing (they get a 0 line). When
 * the total passes `cap` (the escrow), every line is scaled down to fit, rounding down.
 */
export function usageOf(parts: Part[], results: Array<PartResult | undefined>, everyone: Array<{ rentalId: string; provider: string; pricePerHour: bigint }>, cap: bigint): Usage {
  const byRental = new Map<string, RentalUsage>();
  for (const r of everyone) byRental.set(r.rentalId, { rentalId: r.rentalId, provider: r.provider, pricePerHour: r.pricePerHour, parts: 0, rows: 0, computeMs: 0, amount: 0n });
  for (const p of parts) {
    const r = results[p.part];
    if (!r) continue;
    let u = byRental.get(r.rentalId);
    if (!u) byRental.set(r.rentalId, (u = { rentalId: r.rentalId, provider: r.provider, pricePerHour: r.pricePerHour, parts: 0, rows: 0, computeMs: 0, amount: 0n }));
    u.parts++;
    u.rows += p.count;
    u.computeMs += r.computeMs;
  }
  const rentals = [...byRental.values()];
  for (const u of rentals) u.amount = (BigInt(u.computeMs) * u.pricePerHour + MS_PER_HOUR - 1n) / MS_PER_HOUR;
  let total = rentals.reduce((s, u) => s + u.amount, 0n);
  if (total > cap) {
    for (const u of rentals) u.amount = (u.amount * cap) / total;
    total = rentals.reduce((s, u) => s + u.amount, 0n);
  }
  const byProvider = new Map<string, bigint>();
  for (const u of rentals) {
    const key = u.provider.toLowerCase();
    byProvider.set(key, (byProvider.get(key) ?? 0n) + u.amount);
  }
  const first = new Map<string, string>();
  for (const u of rentals) if (!first.has(u.provider.toLowerCase())) first.set(u.provider.toLowerCase(), u.provider);
  return { rentals, providers: [...byProvider.keys()].map((k) => first.get(k)!), amounts: [...byProvider.values()], total };
}
