/**
 * Marks a plugin function the way fastify-plugin does: it shares its parent's scope (so its
 * decorators are visible to routes), carries a name, and declares the plugins and decorators
 * it needs, which Fastify checks at registration.
 */
import type { FastifyInstance } from "fastify";

export interface PluginMeta {
  name: string;
  dependencies?: string[];
  decorators?: { fastify?: string[]; request?: string[]; reply?: string[] };
}

export function definePlugin<O = Record<never, never>>(
  fn: (app: FastifyInstance, opts: O) => Promise<void>,
  meta: PluginMeta,
): (app: FastifyInstance, opts: O) => Promise<void> {
  const plugin = fn as typeof fn & Record<symbol, unknown>;
  plugin[Symbol.for("skip-override")] = true;
  plugin[Symbol.for("fastify.display-name")] = meta.name;
  plugin[Symbol.for("plugin-meta")] = { fastify: "5.x", ...meta };
  return plugin;
}
