import t from "tap";
import { checkRentalServerFlags, type RentalServerFlags } from "./gatewayChoice.js";

const base: RentalServerFlags = { sshdHost: "127.0.0.1", sshdPort: "0", diskPerRental: "2048", connectionsPerRental: "4", idleMinutes: "15" };

t.test("the gateway is the default; bad choices are refused with a fix before anything starts", async (t) => {
  t.doesNotThrow(() => checkRentalServerFlags(base));
  t.doesNotThrow(() => checkRentalServerFlags({ ...base, sshd: true }));
  t.doesNotThrow(() => checkRentalServerFlags({ ...base, systemSshd: true, endpoint: "quack@203.0.113.7:22" }));
  const cases: Array<[Partial<RentalServerFlags>, string, RegExp]> = [
    [{ sshd: true, systemSshd: true }, "BAD_ARGUMENT", /exclude each other/],
    [{ systemSshd: true }, "MISSING_OPTION", /--system-sshd needs --endpoint/],
    [{ endpoint: "no port here" }, "BAD_ENDPOINT", /has no :PORT/],
    [{ sshdPort: "70000" }, "BAD_PORT", /--sshd-port/],
    [{ diskPerRental: "0" }, "BAD_ARGUMENT", /--disk-per-rental/],
    [{ connectionsPerRental: "lots" }, "BAD_ARGUMENT", /--connections-per-rental/],
    [{ idleMinutes: "-1" }, "BAD_ARGUMENT", /--idle-minutes/],
  ];
  for (const [over, code, message] of cases) {
    t.throws(() => checkRentalServerFlags({ ...base, ...over }), { code, message, fix: /\S/ }, JSON.stringify(over));
  }
});
