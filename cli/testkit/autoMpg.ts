/**
 * A real regression data set for tests: Auto MPG (UCI Machine Learning Repository; Quinlan 1993),
 * as the npm package vega-datasets ships it (data/cars.json, BSD-3-Clause): fuel use in miles per
 * gallon of 1970-82 cars from their cylinders, displacement, horsepower, weight, acceleration and
 * model year. The 392 cars with every value known, in the file's order; features standardized
 * (z-scores over those cars, as a requester would prepare them), the target in miles per gallon.
 */
import { readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { ModelSpec } from "../../native/types.js";

export const AUTO_MPG_FEATURES = ["Cylinders", "Displacement", "Horsepower", "Weight_in_lbs", "Acceleration", "Year"] as const;

/** A small regression model of the set: 6 features → 16 ReLU units → miles per gallon. */
export const AUTO_MPG_SPEC: ModelSpec = {
  input: [AUTO_MPG_FEATURES.length],
  layers: [{ type: "dense", units: 16, activation: "relu" }, { type: "dense", units: 1, activation: "none" }],
  loss: "mse",
};

type Car = Record<string, number | string | null>;

/** Rows of [mpg, ...standardized features], one per complete car. */
export async function autoMpgRows(): Promise<number[][]> {
  const file = join(dirname(createRequire(import.meta.url).resolve("vega-datasets/package.json")), "data", "cars.json");
  const cars = (JSON.parse(await readFile(file, "utf8")) as Car[]).filter((c) => c.Miles_per_Gallon !== null && AUTO_MPG_FEATURES.every((f) => c[f] !== null));
  const raw = cars.map((c) => AUTO_MPG_FEATURES.map((f) => (f === "Year" ? new Date(String(c.Year)).getUTCFullYear() : Number(c[f]))));
  const stats = AUTO_MPG_FEATURES.map((_, j) => {
    const mean = raw.reduce((s, r) => s + r[j], 0) / raw.length;
    const sd = Math.sqrt(raw.reduce((s, r) => s + (r[j] - mean) ** 2, 0) / raw.length);
    return { mean, sd };
  });
  return cars.map((c, i) => [Number(c.Miles_per_Gallon), ...raw[i].map((v, j) => (v - stats[j].mean) / stats[j].sd)]);
}

/** Write rows as a CSV with a header (target first, as a regression job reads it). */
export async function writeRegressionCsv(file: string, rows: number[][]): Promise<string> {
  const header = ["mpg", ...AUTO_MPG_FEATURES].join(",");
  await writeFile(file, [header, ...rows.map((r) => r.map((v) => Number(v.toPrecision(9))).join(","))].join("\n") + "\n");
  return file;
}
