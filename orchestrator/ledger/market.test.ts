// The marketplace fold's stake and record: what the dashboard's machine table shows beside each
// listing, from ComputeMarketplace events alone (the same sums the contract keeps in its record).
import t from "tap";
import type { ChainEventRecord } from "../store/repository.js";
import { foldMarket } from "./market.js";

const PROVIDER = "0x00000000000000000000000000000000000000a1";
const RENTER = "0x00000000000000000000000000000000000000b2";
let block = 0;
const ev = (name: string, args: Record<string, unknown>): ChainEventRecord =>
  ({ source: "ComputeMarketplace", name, args, blockNumber: ++block, logIndex: 0, txHash: `0x${block.toString(16).padStart(64, "0")}` }) as ChainEventRecord;
const listed = (machineId: number) => ev("MachineListed", { machineId, provider: PROVIDER, pricePerHour: "5", maxHours: 0, specs: "", endpoint: "h:1" });

t.test("stake deposited, slashed for a renter, kept across a relist; downtime summed per machine from its rentals", async (t) => {
  const events = [
    listed(1),
    ev("StakeDeposited", { machineId: 1, amount: "10", stake: "10" }),
    listed(2),
    ev("MachineRented", { rentalId: 7, machineId: 1, renter: RENTER, jobId: 0, numHours: 1, amount: "5" }),
    ev("RentalAcknowledged", { rentalId: 7, startedAt: 100 }),
    ev("RentalEnded", { rentalId: 7, refund: "2", earned: "3" }),
    ev("DowntimeSettled", { rentalId: 7, downtimeSeconds: 1200, refund: "1" }),
    ev("StakeSlashed", { machineId: 1, rentalId: 7, amount: "4" }),
    // The provider restarts: the same machine id is listed again, its stake and record stay.
    listed(1),
    ev("StakeDeposited", { machineId: 1, amount: "1", stake: "7" }),
    ev("MachineRented", { rentalId: 8, machineId: 1, renter: RENTER, jobId: 0, numHours: 1, amount: "5" }),
    ev("RentalAcknowledged", { rentalId: 8, startedAt: 200 }),
    ev("RentalEnded", { rentalId: 8, refund: "5", earned: "0" }),
    ev("DowntimeSettled", { rentalId: 8, downtimeSeconds: 30, refund: "0" }),
  ];
  const { listings } = foldMarket(events, 10_000);
  const one = listings.find((l) => l.machineId === 1)!;
  const two = listings.find((l) => l.machineId === 2)!;
  t.same({ stake: one.stake, stakeLost: one.stakeLost, downtimeSeconds: one.downtimeSeconds }, { stake: "7", stakeLost: "4", downtimeSeconds: 1230 });
  t.same({ stake: two.stake, stakeLost: two.stakeLost, downtimeSeconds: two.downtimeSeconds }, { stake: "0", stakeLost: "0", downtimeSeconds: 0 }, "another machine's events do not leak into it");
  t.equal(one.rentalsServed, 2);

  const withdrawn = foldMarket([...events, ev("MachineUnlisted", { machineId: 1 }), ev("StakeWithdrawn", { machineId: 1, amount: "7" })], 10_000).listings.find((l) => l.machineId === 1)!;
  t.same({ status: withdrawn.status, stake: withdrawn.stake, stakeLost: withdrawn.stakeLost }, { status: "unlisted", stake: "0", stakeLost: "4" }, "a withdrawal empties the stake, the record stays");
});

t.test("a slash larger than the stake known here leaves zero, not a negative stake", async (t) => {
  const { listings } = foldMarket([listed(3), ev("StakeDeposited", { machineId: 3, amount: "2", stake: "2" }), ev("StakeSlashed", { machineId: 3, rentalId: 1, amount: "5" })], 0);
  t.same({ stake: listings[0].stake, stakeLost: listings[0].stakeLost }, { stake: "0", stakeLost: "5" });
});
