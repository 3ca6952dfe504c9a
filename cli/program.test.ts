import t from "tap";
import { buildProgram } from "./program.js";

t.test("--help lists every product subcommand", async (t) => {
  const help = buildProgram().helpInformation();
  for (const name of ["chain", "deploy", "serve", "job", "contribute", "provide", "market", "rent", "infer", "wallet", "bench", "aws", "demo"]) {
    t.match(help, new RegExp(`\\n  ${name}\\b`), `lists ${name}`);
  }
});

t.test("--help lists the environment variables of ENV_VARS; --version is package.json's", async (t) => {
  const { ENV_VARS } = await import("../protocol/config.js");
  const { packageVersion } = await import("../protocol/package.js");
  const program = buildProgram();
  let out = "";
  program.configureOutput({ writeOut: (s) => (out += s) });
  program.outputHelp();
  for (const [name, v] of Object.entries(ENV_VARS)) {
    if ("setBy" in v) t.notMatch(out, name, `${name} is set by ${v.setBy}, not listed`);
    else t.match(out, new RegExp(`\\n  ${name} +\\S`), `lists ${name}`);
  }
  t.equal(program.version(), packageVersion());
});
