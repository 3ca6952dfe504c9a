/**
 * GET /api/stream: server-sent events for live pages. Rounds opening and closing, updates
 * accepted or refused, jobs activated or finished, and new contract events (`chain:polled`)
 * are forwarded as they are emitted; the page refetches what changed. `retry: 1000` makes a
 * browser reconnect within a second after an orchestrator restart.
 */
import type { ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import { ApiError } from "../errors.js";
import type { EventName, OrchestratorEvents } from "../events.js";
import { errorReplies } from "./schemas.js";

/** What a page can act on; nothing internal (no errors, no signatures) goes out. */
export const LIVE_EVENTS = ["job:activated", "job:finished", "round:opened", "round:closed", "update:accepted", "update:rejected", "chain:polled"] as const;

/** Streams open at once; more get 503 (each holds a socket). */
const MAX_STREAMS = 256;
/** A client that reads slower than this backlog is dropped instead of buffered. */
const MAX_BACKLOG_BYTES = 1024 * 1024;
const KEEPALIVE_MS = 15_000;

export async function streamRoutes(app: FastifyInstance): Promise<void> {
  const clients = new Set<ServerResponse>();
  const send = (res: ServerResponse, text: string) => {
    if (res.writableLength > MAX_BACKLOG_BYTES) {
      clients.delete(res);
      res.destroy();
      return;
    }
    res.write(text);
  };
  const live = new Set<EventName>(LIVE_EVENTS);
  const off = app.events.onAny(<K extends EventName>(name: K, payload: OrchestratorEvents[K]) => {
    if (!live.has(name) || clients.size === 0) return;
    if (name === "chain:polled" && (payload as OrchestratorEvents["chain:polled"]).events === 0) return;
    const text = `event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`;
    for (const res of clients) send(res, text);
  });
  const keepalive = setInterval(() => {
    for (const res of clients) send(res, ": keepalive\n\n");
  }, KEEPALIVE_MS);
  keepalive.unref();
  app.addHook("preClose", async () => {
    off();
    clearInterval(keepalive);
    for (const res of clients) res.end();
    clients.clear();
  });

  app.get(
    "/api/stream",
    {
      schema: {
        tags: ["explorer"],
        summary: `Server-sent events (text/event-stream): ${LIVE_EVENTS.join(", ")}; data is the event's JSON payload`,
        response: errorReplies,
      },
    },
    async (request, reply) => {
      if (clients.size >= MAX_STREAMS) throw new ApiError("UNAVAILABLE", `${MAX_STREAMS} live streams are open already; reload later.`);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no" });
      res.write(`retry: 1000\nevent: hello\ndata: ${JSON.stringify({ at: Date.now() })}\n\n`);
      clients.add(res);
      request.raw.on("close", () => clients.delete(res));
    },
  );
}
