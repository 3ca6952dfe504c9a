/** @jsxRuntime automatic @jsxImportSource react */
// (the pragma: tsconfig.json leaves test files out, so the TypeScript loader would not see its "jsx" setting here)
import t from "tap";
import { render } from "ink-testing-library";
import { QuackError } from "../../../protocol/errors.js";
import { ProvideView } from "./ProvideView.js";
import { initialProvideState, provideEventJson, reduceProvide, type ProvideEvent } from "./provideView.js";

const DUCK = 10n ** 18n;
const renter = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const events: ProvideEvent[] = [
  { name: "listed", e: { machineId: 3n, pricePerHour: 5n * DUCK, endpoint: "root@127.0.0.1:2222", maxHours: 4, txHash: "0xaa" } },
  { name: "rented", e: { rentalId: 9n, machineId: 3n, renter, hours: 2, amount: 10n * DUCK, jobId: 1n } },
  { name: "keyInstalled", e: { rentalId: 9n, file: "/k", folder: "/r/rental-9" } },
  { name: "acknowledged", e: { rentalId: 9n, startedAt: 1_700_000_000, endsAt: 1_700_007_200, txHash: "0xbb" } },
  { name: "withdrawn", e: { rentalId: 9n, amount: 25n * 10n ** 17n, total: 25n * 10n ** 17n, txHash: "0xcc" } },
  { name: "error", e: { rentalId: 9n, error: new QuackError("RPC_UNREACHABLE", "The chain stopped answering.") } },
];

t.test("events fold into the view state", async (t) => {
  let state = initialProvideState({ endpoint: "root@127.0.0.1:2222", price: "5", maxHours: 4, specs: "2 cores" });
  for (const ev of events) state = reduceProvide(state, ev);
  t.equal(state.machineId, "3");
  t.same(state.rentals, [{ rentalId: "9", renter, hours: 2, amount: "10", status: "active", endsAt: 1_700_007_200 }]);
  t.equal(state.earned, "2.5");
  t.same(state.errors, ["rental 9: The chain stopped answering."]);
  state = reduceProvide(state, { name: "keyRemoved", e: { rentalId: 9n, reason: "expired" } });
  t.equal(state.rentals[0].status, "expired");

  const view = render(<ProvideView state={state} />);
  const frame = view.lastFrame() ?? "";
  view.unmount();
  t.match(frame, /Machine 3 listed at 5 DUCK\/h, at most 4 h on root@127\.0\.0\.1:2222/);
  t.match(frame, /rental 9\s+expired\s+2 h\s+10 DUCK/);
  t.match(frame, /Earned \(withdrawn\): 2\.5 DUCK/);
  t.match(frame, /The chain stopped answering/);
});

t.test("JSON lines carry the event name and plain fields", async (t) => {
  t.same(provideEventJson(events[0]), { event: "listed", machineId: 3n, pricePerHour: 5n * DUCK, endpoint: "root@127.0.0.1:2222", maxHours: 4, txHash: "0xaa" });
  t.same(provideEventJson(events[5]), { event: "error", rentalId: 9n, error: "RPC_UNREACHABLE", message: "The chain stopped answering.", fix: undefined });
});
