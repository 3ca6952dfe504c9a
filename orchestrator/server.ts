/** Make the app listen; close it on request. The `serve` command and integration tests use this. */
import type { FastifyInstance } from "fastify";
import { buildApp } from "./app.js";
import type { AppOptions } from "./options.js";

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startServer(opts: AppOptions & { host?: string; port?: number }): Promise<RunningServer> {
  const app = await buildApp(opts);
  const host = opts.host ?? "127.0.0.1";
  try {
    await app.listen({ host, port: opts.port ?? 8080 });
  } catch (err) {
    await app.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : (opts.port ?? 8080);
  const url = `${opts.tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`;
  app.events.emit("listening", { url });
  let closing: Promise<void> | undefined;
  return { app, url, port, close: () => (closing ??= app.close()) };
}
