/**
 * What a stack costs per hour at AWS's published us-east-1 on-demand list prices, as last seen
 * (this machine is offline: nothing is looked up). Shown by `aws plan` so an operator sees the
 * order of magnitude before `up`; other regions and sizes differ, and a size not listed here is
 * shown without a price.
 */
const HOURS_PER_MONTH = 730;

/** USD per hour, Linux on-demand, us-east-1. */
const EC2_HOURLY: Record<string, number> = {
  "t3.micro": 0.0104,
  "t3.small": 0.0208,
  "t3.medium": 0.0416,
  "t3.large": 0.0832,
  "t4g.small": 0.0168,
  "t4g.medium": 0.0336,
  "t4g.large": 0.0672,
};

/** USD per hour, RDS for PostgreSQL, single-AZ, us-east-1. */
const RDS_HOURLY: Record<string, number> = {
  "db.t4g.micro": 0.016,
  "db.t4g.small": 0.032,
  "db.t4g.medium": 0.065,
  "db.t3.micro": 0.018,
  "db.t3.small": 0.036,
  "db.t3.medium": 0.072,
};

/** USD per GiB-month. */
const EBS_GP3 = 0.08;
const RDS_GP3 = 0.115;
/** USD per hour for a public IPv4 address, an Elastic IP included. */
const PUBLIC_IPV4 = 0.005;

export interface CostLine {
  what: string;
  /** USD per hour; null when the size is not in the table above. */
  perHour: number | null;
}

export interface StackCost {
  lines: CostLine[];
  /** Sum of the known lines. */
  perHour: number;
  /** Whether every line has a price. */
  complete: boolean;
  basis: string;
}

export function stackCost(s: { instanceType: string; diskGb: number; elasticIp: boolean; database?: { instanceClass: string; storageGb: number }; dataVolumeGb?: number }): StackCost {
  const lines: CostLine[] = [
    { what: `EC2 ${s.instanceType}`, perHour: EC2_HOURLY[s.instanceType] ?? null },
    { what: `EBS gp3 ${s.diskGb} GiB`, perHour: (s.diskGb * EBS_GP3) / HOURS_PER_MONTH },
    ...(s.dataVolumeGb ? [{ what: `EBS gp3 ${s.dataVolumeGb} GiB data volume`, perHour: (s.dataVolumeGb * EBS_GP3) / HOURS_PER_MONTH }] : []),
    { what: s.elasticIp ? "Elastic IP (public IPv4)" : "public IPv4 address", perHour: PUBLIC_IPV4 },
  ];
  if (s.database) {
    lines.push({ what: `RDS PostgreSQL ${s.database.instanceClass}`, perHour: RDS_HOURLY[s.database.instanceClass] ?? null });
    lines.push({ what: `RDS gp3 ${s.database.storageGb} GiB`, perHour: (s.database.storageGb * RDS_GP3) / HOURS_PER_MONTH });
  }
  const perHour = lines.reduce((sum, l) => sum + (l.perHour ?? 0), 0);
  return { lines, perHour, complete: lines.every((l) => l.perHour !== null), basis: "AWS on-demand list prices, us-east-1, as last seen (not looked up); check your region's pricing" };
}
