/** Text for people, from the values the aws logic returns (the --json output is those values). */
import type { CreateProcessingJobCommandInput } from "@aws-sdk/client-sagemaker";
import type { StackCost } from "./cost.js";
import type { DownResult } from "./down.js";
import type { EvaluationReport } from "./evaluate.js";
import type { ImageInfo, StackPlan } from "./plan.js";
import type { EvalJobResult } from "./sagemaker.js";
import type { AwsEvent } from "./stack.js";
import type { StatusResult } from "./status.js";
import type { UpResult } from "./up.js";

export function planText(plan: StackPlan, image?: ImageInfo): string {
  const ami = image ? `${image.id}${image.name ? ` (${image.name})` : ""}` : "id" in plan.image ? plan.image.id : `latest ${plan.image.latest}, looked up by \`up\``;
  const lines = [
    `Stack ${plan.stack} in ${plan.region}: \`quackmesh aws up\` would create`,
    `  security group ${plan.securityGroup.name}:`,
    ...plan.securityGroup.ingress.map((r) => `    tcp ${r.port} from ${r.cidr} (${r.description})`),
    `  instance ${plan.instanceType} (${plan.architecture}), AMI ${ami}, ${plan.diskGb} GiB gp3 root volume`,
    ...(plan.keyName ? [`    key pair ${plan.keyName}`] : []),
    ...(plan.subnet ? [`    subnet ${plan.subnet}`] : ["    default VPC"]),
    ...(plan.instanceProfile ? [`    instance profile ${plan.instanceProfile}`] : []),
    `  tags ${Object.entries(plan.tags)
      .map(([k, v]) => `${k}=${v}`)
      .join(", ")}`,
    ...(plan.database
      ? [
          `  RDS PostgreSQL ${plan.database.engineVersion} ${plan.database.identifier}: ${plan.database.instanceClass}, ${plan.database.storageGb} GiB gp3, encrypted, not public, 7 days of backups (kept by \`down\`)`,
          `    security group ${plan.database.securityGroupName}: tcp 5432 from the VPC`,
          `    password and URL in SSM ${plan.database.passwordParam}, ${plan.database.urlParam}`,
        ]
      : []),
    ...(plan.evaluatorParam ? [`  evaluator key in SSM ${plan.evaluatorParam}${plan.database ? " (made there if missing)" : ""}`] : []),
    ...(plan.elasticIp ? ["  an Elastic IP of the stack (kept by `down`, moved on --replace)"] : []),
    ...(plan.dataVolumeGb ? [`  a ${plan.dataVolumeGb} GiB gp3 data volume mounted at the data dir, encrypted (kept by \`down\`, attached to each new instance)`] : []),
    `  orchestrator at http://<${plan.elasticIp ? "Elastic IP" : "public IP"}>:${plan.port} once cloud-init finishes`,
    "",
    costText(plan.cost),
    "",
    `User data (${plan.userDataBytes} bytes):`,
    plan.userData,
  ];
  return lines.join("\n");
}

export function costText(c: StackCost): string {
  const usd = (n: number) => `$${n.toFixed(4)}/h`;
  return [
    `Cost, about ${usd(c.perHour)}${c.complete ? "" : " plus the sizes without a listed price"} (${c.basis}):`,
    ...c.lines.map((l) => `  ${l.what.padEnd(32)} ${l.perHour === null ? "no listed price here" : usd(l.perHour)}`),
  ].join("\n");
}

export function eventText(e: AwsEvent): string {
  if (e.event === "step") return e.message;
  const states = Object.entries(e.states)
    .map(([id, s]) => `${id} ${s}`)
    .join(", ");
  return `  waiting for ${e.target}: ${states} (${Math.round(e.elapsedMs / 1000)} s)`;
}

export function upText(r: UpResult): string {
  return [
    `Stack ${r.stack} is up in ${r.region}${r.replaced.length ? ` (replaced ${r.replaced.join(", ")})` : ""}.`,
    `  instance        ${r.instanceId} (${r.instanceType}, ${r.image.id})`,
    `  public IP       ${r.publicIp ?? "none (private subnet?)"}${r.privateIp ? `, private ${r.privateIp}` : ""}`,
    `  security group  ${r.securityGroupId}${r.securityGroupCreated ? "" : " (reused)"}`,
    `  orchestrator    ${r.url ?? "-"}`,
    ...(r.elasticIp ? [`  Elastic IP      ${r.elasticIp.publicIp} (${r.elasticIp.allocated ? "new" : "the stack's"}, ${r.elasticIp.allocationId})`] : []),
    ...(r.evaluator ? [`  evaluator       ${r.evaluator.address} (key ${r.evaluator.created ? "made and stored" : "kept"} in SSM ${r.evaluator.param})`] : []),
    ...(r.database ? [`  database        ${r.database.identifier} at ${r.database.host}:${r.database.port} (${r.database.created ? "new" : "kept"}; URL in SSM ${r.database.urlParam})`] : []),
    ...(r.dataVolume ? [`  data volume     ${r.dataVolume.volumeId} (${r.dataVolume.sizeGb} GiB, ${r.dataVolume.availabilityZone}, ${r.dataVolume.created ? "new" : "kept"})`] : []),
    "The orchestrator answers once cloud-init has installed it (a few minutes): GET " + (r.url ? `${r.url}/api/info` : "/api/info") + " shows its evaluator.",
    "Log on the instance: /var/log/quackmesh-bootstrap.log and `journalctl -u quackmesh-orchestrator`.",
  ].join("\n");
}

export function statusText(r: StatusResult, stack?: string): string {
  if (r.stacks.length === 0 || r.stacks.every((s) => s.instances.length === 0 && !s.data?.database && !s.data?.dataVolume && !s.data?.elasticIp)) return stack ? `No stack ${stack} in ${r.region}.` : `No QuackMesh stacks in ${r.region}.`;
  const rows = r.stacks.flatMap((s) => s.instances.map((i) => [s.stack, i.role, i.instanceId, i.state, i.instanceType ?? "-", i.publicIp ?? "-", i.url ?? "-"]));
  const head = ["STACK", "ROLE", "INSTANCE", "STATE", "TYPE", "PUBLIC IP", "URL"];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const table = [head, ...rows].map((row) => row.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd());
  const answers = r.stacks.flatMap((s) => (s.orchestrator ? [`${s.stack}: ${orchestratorLine(s.orchestrator)}`] : []));
  const data = r.stacks.flatMap((s) => (s.data ? [`${s.stack}: ${dataLine(s.data)}`] : []));
  return [...table, ...(answers.length ? ["", ...answers] : []), ...(data.length ? ["", ...data] : [])].join("\n");
}

/** What outlives a stack's instances, in one line. */
function dataLine(d: NonNullable<StatusResult["stacks"][number]["data"]>): string {
  const parts = [
    d.database ? `database ${d.database.identifier} ${d.database.state}${d.database.endpoint ? ` at ${d.database.endpoint}` : ""}` : "no database",
    d.dataVolume ? `data volume ${d.dataVolume.volumeId} (${d.dataVolume.sizeGb} GiB, ${d.dataVolume.availabilityZone}, ${d.dataVolume.state})` : "no data volume",
    d.elasticIp ? `Elastic IP ${d.elasticIp.publicIp}${d.elasticIp.instanceId ? ` → ${d.elasticIp.instanceId}` : " (not associated)"}` : "no Elastic IP",
    ...d.unchecked.map((u) => `not checked: ${u}`),
  ];
  return parts.join("; ");
}

/** One line of what an orchestrator answered. */
function orchestratorLine(a: NonNullable<StatusResult["stacks"][number]["orchestrator"]>): string {
  if (a.healthz === null) return `orchestrator not answering (${a.error})`;
  const info = a.info ?? {};
  const about = [info.version && `version ${String(info.version)}`, info.evaluator && `evaluator ${String(info.evaluator)}`, info.chainId && `chain ${String(info.chainId)}`].filter(Boolean).join(", ");
  const why = a.healthy ? "healthy" : `unhealthy (HTTP ${a.healthz}${typeof a.health === "object" && a.health && "reason" in a.health ? `: ${String((a.health as { reason: unknown }).reason)}` : ""})`;
  return `orchestrator ${why}${about ? `; ${about}` : ""}`;
}

export function downText(r: DownResult): string {
  const kept = r.kept?.length ? `\nKept for the next \`up\` (\`down --delete-data\` removes them): ${r.kept.join("; ")}.` : "";
  const d = r.deleted;
  const deleted = d
    ? `\nDeleted the data: ${[d.database ? `database ${d.database.identifier} (final snapshot ${d.database.snapshot})` : "no database", d.elasticIp ? `Elastic IP ${d.elasticIp}` : "no Elastic IP", d.dataVolume ? `data volume ${d.dataVolume}` : "no data volume", `SSM parameters ${d.parameters.join(", ") || "none"}`].join("; ")}. The evaluator key stays in SSM.`
    : "";
  if (r.terminated.length === 0 && r.deletedSecurityGroups.length === 0) return `Nothing of stack ${r.stack} left to remove in ${r.region}.${kept}${deleted}`;
  return `Stack ${r.stack} removed from ${r.region}: terminated ${r.terminated.join(", ") || "no instances"}; deleted ${r.deletedSecurityGroups.join(", ") || "no security groups"}.${kept}${deleted}`;
}

export function sageMakerText(request: CreateProcessingJobCommandInput, created?: EvalJobResult): string {
  const cluster = request.ProcessingResources?.ClusterConfig;
  const head = created
    ? [`Started SageMaker processing job ${created.name}`, `  arn      ${created.arn}`, `  console  ${created.consoleUrl}`]
    : [`Would start SageMaker processing job ${request.ProcessingJobName} (dry run; request below):`];
  return [
    ...head,
    `  ${cluster?.InstanceCount} × ${cluster?.InstanceType}, image ${request.AppSpecification?.ImageUri}`,
    `  runs: ${[...(request.AppSpecification?.ContainerEntrypoint ?? []), ...(request.AppSpecification?.ContainerArguments ?? [])].join(" ")}`,
    ...(created ? [] : [JSON.stringify(request, null, 2)]),
  ].join("\n");
}

export function evaluationText(r: EvaluationReport, file: string): string {
  return `Job ${r.jobId} model ${r.modelHash.slice(0, 18)}… (round ${r.round}, ${r.status}): accuracy ${(r.accuracy * 100).toFixed(2)} % on ${r.samples} samples, loss ${r.loss.toFixed(4)}. Report: ${file}`;
}
