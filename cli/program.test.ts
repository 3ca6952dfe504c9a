import t from "tap";
import { buildProgram } from "./program.js";

t.test("--help lists every product subcommand", async (t) => {
  const help = buildProgram().helpInformation();
  for (const name of ["chain", "deploy", "serve", "job", "contribute", "provide", "market", "rent", "infer", "wallet", "bench", "aws", "demo"]) {
    t.match(help, new RegExp(`\\n  ${name}\\b`), `lists ${name}`);
  }
});
