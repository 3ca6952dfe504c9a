/**
 * The web dashboard (web/, built into dist/web by `npm run build:web`) at `/`: its pages'
 * paths answer index.html and the client renders the page; /assets/* are the bundle's files.
 * The files are read once at start into a fixed map, so no request path reaches the disk.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { extname, join } from "node:path";
import type { FastifyInstance, FastifyReply } from "fastify";
import { packageRoot } from "../../protocol/package.js";
import { ApiError } from "../errors.js";

/** The client's routes (web/src/routes.ts): each answers the same page. */
export const DASHBOARD_PAGES = ["/", "/job/:jobId", "/market", "/transactions", "/address/:address"];

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".map": "application/json",
};

/** Only this origin: no request leaves for a CDN, nothing is framed. */
const CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function notBuilt(indexFile: string): string {
  return `<!doctype html><meta charset="utf-8"><title>QuackMesh: dashboard not built</title>
<h1>The dashboard is not built</h1>
<p>${escapeHtml(indexFile)} is missing.</p>
<p>fix: run <code>npm run build:web</code> (or <code>npm run build</code>) in the quackmesh checkout, then restart <code>quackmesh serve</code>.</p>
<p>The API answers under <a href="/api/overview">/api</a>; its docs are at <a href="/docs">/docs</a>.</p>
`;
}

export function defaultDashboardDir(): string {
  return join(packageRoot(), "dist", "web");
}

function readAssets(dir: string): Map<string, { body: Buffer; type: string }> {
  const files = new Map<string, { body: Buffer; type: string }>();
  const assets = join(dir, "assets");
  if (!existsSync(assets)) return files;
  for (const name of readdirSync(assets)) {
    const type = TYPES[extname(name)];
    if (type) files.set(name, { body: readFileSync(join(assets, name)), type });
  }
  return files;
}

export async function dashboardRoutes(app: FastifyInstance, opts: { dir?: string }): Promise<void> {
  const dir = opts.dir ?? defaultDashboardDir();
  const indexFile = join(dir, "index.html");
  const index = existsSync(indexFile) ? readFileSync(indexFile) : null;
  const assets = readAssets(dir);

  const page = async (_request: unknown, reply: FastifyReply) => {
    if (!index) {
      // A person opens this in a browser: say what is missing and how to fix it, in the page.
      return reply.code(503).type("text/html; charset=utf-8").header("content-security-policy", CSP).send(notBuilt(indexFile));
    }
    return reply.type("text/html; charset=utf-8").header("content-security-policy", CSP).header("cache-control", "no-cache").send(index);
  };
  for (const path of DASHBOARD_PAGES) app.get(path, { schema: { hide: true } }, page);

  app.get<{ Params: { name: string } }>("/assets/:name", { schema: { hide: true } }, async (request, reply) => {
    const file = assets.get(request.params.name);
    if (!file) throw new ApiError("NOT_FOUND", `No dashboard file ${request.params.name}.`);
    // Names carry a content hash (web build): a changed file has a new name.
    return reply.type(file.type).header("cache-control", "public, max-age=31536000, immutable").send(file.body);
  });
}
