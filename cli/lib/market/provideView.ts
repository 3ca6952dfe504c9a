import { formatAmount } from "../../../protocol/chain/units.js";
import type { ProviderEvents } from "./provider.js";

/** What `quackmesh provide` shows: the listing, its rentals, the earnings, the last problems. */
export interface ProvideState {
  machineId?: string;
  endpoint: string;
  price: string;
  maxHours: number;
  specs: string;
  rentals: Array<{ rentalId: string; renter: string; hours: number; amount: string; status: string; endsAt?: number }>;
  /** DUCK withdrawn so far. */
  earned: string;
  errors: string[];
  stopping: boolean;
}

export function initialProvideState(init: Pick<ProvideState, "endpoint" | "price" | "maxHours" | "specs">): ProvideState {
  return { ...init, rentals: [], earned: "0", errors: [], stopping: false };
}

export type ProvideEvent = { [K in keyof ProviderEvents]: { name: K; e: ProviderEvents[K] } }[keyof ProviderEvents];

/** Fold one provider event into the view's state (pure). */
export function reduceProvide(state: ProvideState, ev: ProvideEvent): ProvideState {
  const setRental = (id: bigint, patch: Partial<ProvideState["rentals"][number]>) => ({
    ...state,
    rentals: state.rentals.map((r) => (r.rentalId === id.toString() ? { ...r, ...patch } : r)),
  });
  switch (ev.name) {
    case "listed":
      return { ...state, machineId: ev.e.machineId.toString() };
    case "unlisted":
      return { ...state, stopping: true };
    case "rented":
      return {
        ...state,
        rentals: [...state.rentals, { rentalId: ev.e.rentalId.toString(), renter: ev.e.renter, hours: ev.e.hours, amount: formatAmount(ev.e.amount), status: "pending" }],
      };
    case "declined":
      return setRental(ev.e.rentalId, { status: "declined" });
    case "keyInstalled":
      return setRental(ev.e.rentalId, { status: "key installed" });
    case "acknowledged":
      return setRental(ev.e.rentalId, { status: "active", endsAt: ev.e.endsAt });
    case "keyRemoved":
      return setRental(ev.e.rentalId, { status: ev.e.reason });
    case "withdrawn":
      return { ...state, earned: formatAmount(ev.e.total) };
    case "error":
      return { ...state, errors: [...state.errors, `${ev.e.rentalId === undefined ? "" : `rental ${ev.e.rentalId}: `}${ev.e.error.message}`].slice(-3) };
  }
}

/** The event as one JSON line for --json / non-TTY output (bigints as strings). */
export function provideEventJson(ev: ProvideEvent): Record<string, unknown> {
  if (ev.name === "error") return { event: "error", rentalId: ev.e.rentalId, error: ev.e.error.code, message: ev.e.error.message, fix: ev.e.error.fix };
  return { event: ev.name, ...ev.e };
}
