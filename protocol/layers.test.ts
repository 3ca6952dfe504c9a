import t from "tap";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { packageRoot } from "./package.js";
import { layerViolations, relativeImports, type SourceFile } from "./layers.js";

function sources(): SourceFile[] {
  const root = packageRoot();
  const out: SourceFile[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.tsx?$/.test(name) && !name.endsWith(".d.ts")) out.push({ path: relative(root, p).split("\\").join("/"), text: readFileSync(p, "utf8") });
    }
  };
  for (const top of ["protocol", "native", "orchestrator", "cli", "scripts"]) walk(join(root, top));
  return out;
}

t.test("every non-test source file imports only downhill", async (t) => {
  const files = sources();
  t.ok(files.length > 100, `read ${files.length} source files`);
  t.same(layerViolations(files), []);
});

t.test("a planted uphill import is caught", async (t) => {
  const planted = (path: string, spec: string) => layerViolations([{ path, text: `import { x } from "${spec}";\n` }]);
  t.match(planted("native/data.ts", "../cli/lib/output.js"), [{ file: "native/data.ts", imports: "cli/lib/output.ts" }]);
  t.match(planted("protocol/errors.ts", "../native/index.js"), [{ imports: "native/index.ts" }]);
  t.match(planted("orchestrator/app.ts", "../cli/lib/output.js"), [{ imports: "cli/lib/output.ts" }]);
  t.match(planted("cli/lib/job/create.ts", "../../../orchestrator/rounds/engine.js"), [{ rule: /only through/ }]);
  t.match(planted("cli/commands/worker.ts", "./contribute.js"), [{ rule: /does not import another command/ }]);
  t.same(planted("cli/lib/job/create.ts", "../../../orchestrator/client.js"), []);
  t.same(planted("cli/commands/job.ts", "./job/create.js"), []);
  t.same(planted("native/data.test.ts", "../cli/lib/output.js"), [], "test files may reach across");
});

t.test("imports are read from static, side-effect and dynamic forms", async (t) => {
  t.same(relativeImports(`import a from "./a.js";\nimport "./b.js";\nconst c = await import("../c.js");\nimport x from "node:fs";`), ["./a.js", "./b.js", "../c.js"]);
});
