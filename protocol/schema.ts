/**
 * JSON schemas are written once, `as const`, and their TypeScript types are derived from them
 * with `FromSchema`, so a body's validator and its type cannot drift apart. Only the keywords
 * the orchestrator's schemas use are understood: type (or a list of types), properties,
 * required, items, enum, const, anyOf/oneOf, additionalProperties.
 */

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type RequiredKeys<S> = S extends { required: readonly (infer R)[] } ? R : never;

type ObjectOf<S> = S extends { properties: infer P }
  ? Simplify<
      { -readonly [K in keyof P & RequiredKeys<S>]: FromSchema<P[K]> } & {
        -readonly [K in Exclude<keyof P, RequiredKeys<S>>]?: FromSchema<P[K]>;
      } & (S extends { additionalProperties: true } ? Record<string, unknown> : unknown)
    >
  : Record<string, unknown>;

type FromType<T, S> = T extends "string"
  ? string
  : T extends "integer" | "number"
    ? number
    : T extends "boolean"
      ? boolean
      : T extends "null"
        ? null
        : T extends "array"
          ? S extends { items: infer I }
            ? FromSchema<I>[]
            : unknown[]
          : T extends "object"
            ? ObjectOf<S>
            : unknown;

type Each<A> = A extends unknown ? FromSchema<A> : never;

/** The TypeScript type of values that a JSON schema (declared `as const`) accepts. */
export type FromSchema<S> = S extends { const: infer C }
  ? C
  : S extends { enum: readonly (infer E)[] }
    ? E
    : S extends { anyOf: readonly (infer A)[] }
      ? Each<A>
      : S extends { oneOf: readonly (infer A)[] }
        ? Each<A>
        : S extends { type: readonly (infer T)[] }
          ? T extends unknown
            ? FromType<T, S>
            : never
          : S extends { type: infer T }
            ? FromType<T, S>
            : unknown;

/** Marks a literal as a schema while keeping its literal type (for FromSchema). */
export function schema<const S extends Record<string, unknown>>(s: S): S {
  return s;
}
