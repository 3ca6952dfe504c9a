/**
 * What a job's "accuracy" figures are for its model: the share of validation samples classified
 * right, or a regression's R² (clipped to [0, 1]; protocol/regression.ts). No imports: the
 * dashboard bundles it.
 */
export type QualityName = "accuracy" | "R²";

export function qualityName(spec: { loss?: string }): QualityName {
  return spec.loss === "mse" ? "R²" : "accuracy";
}
