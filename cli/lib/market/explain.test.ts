// Marketplace refusals in plain words: what `rent end` and `rent cancel` print instead of the
// decoded revert (issue: `rent cancel` printed AckWindowOpen(rentalId=5, deadline=…) and pointed
// at details.args.deadline).
import t from "tap";
import { QuackError } from "../../../protocol/errors.js";
import { explainRentalError } from "./marketplace.js";

const revert = (error: string, args: Record<string, string>) =>
  new QuackError("TX_REVERTED", `ComputeMarketplace refused: ${error}(${Object.entries(args).map(([k, v]) => `${k}=${v}`).join(", ")})`, { details: { error, args } });

t.test("the acknowledgement window, in words and chain time, with the command to run after it", async (t) => {
  const e = explainRentalError(revert("AckWindowOpen", { rentalId: "5", deadline: "1796044208" }), "cancel", 5n, 1796043608) as QuackError;
  t.equal(e.code, "TX_REVERTED");
  t.match(e.message, /^Rental 5 cannot be cancelled yet: its provider may still acknowledge it until 2026-11-30T\S+Z \(chain time, in 10 min\)\.$/);
  t.match(e.fix, /quackmesh rent cancel 5/);
  t.notMatch(`${e.message} ${e.fix}`, /AckWindowOpen|details/);
  const closed = explainRentalError(revert("AckWindowClosed", { rentalId: "5", deadline: "1796044208" }), "end", 5n, 1796045000) as QuackError;
  t.match(closed.fix, /full refund: `quackmesh rent cancel 5`/);
});

t.test("each status says what to do instead", async (t) => {
  const status = (n: string, action: "end" | "cancel") => explainRentalError(revert("InvalidRentalStatus", { rentalId: "3", status: n }), action, 3n, 0) as QuackError;
  t.match(status("1", "end").fix, /quackmesh rent cancel 3/, "pending: cancel once the window closed");
  t.match(status("2", "cancel").fix, /quackmesh rent end 3/, "running: end it");
  t.match(status("4", "cancel").message, /already cancelled/);
  t.match((explainRentalError(revert("NotRenter", { rentalId: "3", caller: "0xabc" }), "end", 3n, 0) as QuackError).fix, /--key/);
});

t.test("anything else comes back as it was", async (t) => {
  const other = new QuackError("RPC_UNREACHABLE", "down");
  t.equal(explainRentalError(other, "end", 1n, 0), other);
  const unknown = revert("SomethingNew", {});
  t.equal(explainRentalError(unknown, "end", 1n, 0), unknown);
});
