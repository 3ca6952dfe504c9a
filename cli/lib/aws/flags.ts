/**
 * The flags of `quackmesh aws`, with the same names and help in every subcommand, and their
 * translation into checked inputs for the logic in this folder.
 */
import { parseWhole } from "../flags.js";
import { basename, dirname, resolve } from "node:path";
import { Option, type Command } from "commander";
import { resolveSettings } from "../../../protocol/config.js";
import { readDeployment } from "../../../protocol/chain/deployments.js";
import { NETWORKS, isNetworkName } from "../../../protocol/chain/networks.js";
import { parsePort } from "../../../protocol/chain/units.js";
import { QuackError } from "../../../protocol/errors.js";
import { resolveConnection, type AwsConnection, type AwsFlags } from "./connection.js";
import { DEFAULT_STACK, validateStackName, type PlanInput } from "./plan.js";

export interface CommonFlags extends AwsFlags {
  json?: boolean;
}

export interface StackFlags extends CommonFlags {
  stack: string;
  instanceType: string;
  ami?: string;
  keyName?: string;
  subnet?: string;
  instanceProfile?: string;
  disk: string;
  port: string;
  network: string;
  rpc?: string;
  package?: string;
  evaluatorSsmParam?: string;
  sshCidr?: string;
  allowCidr: string;
  deployment?: string;
  database: string;
  dbInstanceClass: string;
  dbStorage: string;
  dbEngineVersion: string;
  dbSubnetGroup?: string;
  /** undefined: on with --database rds. */
  elasticIp?: boolean;
  /** GiB; undefined: 20 with --database rds, else none. */
  dataVolume?: string;
}

/** --region, --endpoint, --profile and --json. */
export function addAwsOptions(cmd: Command): Command {
  return cmd
    .option("--region <region>", "AWS region, e.g. eu-west-1 (env AWS_REGION)")
    .option("--endpoint <url>", "EC2/SageMaker-compatible endpoint instead of AWS's own (env QUACKMESH_AWS_ENDPOINT)")
    .option("--profile <name>", "profile from ~/.aws/config (env AWS_PROFILE); credentials come from the AWS SDK's default chain")
    .option("--json", "machine-readable output: one JSON object per line");
}

export function addStackOption(cmd: Command, defaultValue?: string): Command {
  return defaultValue === undefined
    ? cmd.option("--stack <name>", "stack name (the quackmesh:stack tag); default: every stack")
    : cmd.option("--stack <name>", "stack name (the quackmesh:stack tag)", defaultValue);
}

/** The flags that describe what `up` creates (shared by `plan` and `up`). */
export function addStackPlanOptions(cmd: Command): Command {
  addStackOption(cmd, DEFAULT_STACK);
  return cmd
    .option("--instance-type <type>", "EC2 instance type", "t3.medium")
    .option("--ami <id>", "AMI (Amazon Linux 2023, Debian or Ubuntu); default: the latest Amazon Linux 2023")
    .option("--key-name <name>", "EC2 key pair for SSH access")
    .option("--ssh-cidr <cidr>", "open port 22 to this IPv4 range, e.g. 203.0.113.7/32")
    .option("--allow-cidr <cidr>", "who may reach the orchestrator's port", "0.0.0.0/0")
    .option("--port <port>", "orchestrator port", "8080")
    .option("--network <name>", "chain the orchestrator serves: duckchain-testnet | duckchain | an RPC URL", "duckchain-testnet")
    .option("--rpc <url>", "JSON-RPC URL for the orchestrator, overrides the network's default")
    .option("--package <spec>", "what the instance installs with `npm install -g`: a tarball URL, a git URL or name@version (env QUACKMESH_AWS_PACKAGE)")
    .option("--deployment <file>", "contracts to serve (default deployments/<network>.json)")
    .option("--evaluator-ssm-param <name>", "SSM parameter (SecureString) holding the evaluator key; default: generated on the instance")
    .option("--instance-profile <name>", "IAM instance profile (needed for --evaluator-ssm-param: ssm:GetParameter)")
    .option("--subnet <id>", "subnet to start in (default: the region's default VPC)")
    .addOption(new Option("--disk <GiB>", "root volume size").default("20"))
    .addOption(new Option("--database <kind>", "where the orchestrator keeps its state: sqlite (on the instance) or rds (PostgreSQL on RDS, made by up)").choices(["sqlite", "rds"]).default("sqlite"))
    .option("--db-instance-class <class>", "RDS instance class (with --database rds)", "db.t4g.micro")
    .option("--db-storage <GiB>", "RDS storage (with --database rds)", "20")
    .option("--db-engine-version <version>", "PostgreSQL version on RDS (with --database rds)", "15")
    .option("--db-subnet-group <name>", "DB subnet group (with --database rds; default: the default VPC's)")
    .option("--data-volume <GiB>", "an EBS volume of the stack mounted at the data dir, kept by `down` (default 20 with --database rds; 0: none)")
    .option("--elastic-ip", "keep the public address in an Elastic IP of the stack, so the URL survives --replace (default with --database rds)")
    .option("--no-elastic-ip", "use the instance's own public address");
}

export function connectionFrom(flags: AwsFlags, env: NodeJS.ProcessEnv = process.env): AwsConnection {
  return resolveConnection(flags, env);
}

export function stackFlag(text: string | undefined): string | undefined {
  return text === undefined ? undefined : validateStackName(text);
}

/** The deployment file for the orchestrator's chain, read and checked here; it travels in the user-data. */
function deploymentFor(flags: StackFlags, env: NodeJS.ProcessEnv): { name: string; json: string } {
  const network = flags.network;
  if (network === "local") {
    throw new QuackError("BAD_ARGUMENT", "An orchestrator on EC2 cannot use the local chain of this machine.", {
      fix: "Pass --network duckchain-testnet, --network duckchain, or --network <RPC URL> of a chain the instance can reach.",
    });
  }
  if (!isNetworkName(network) && !/^https?:\/\/\S+$/i.test(network)) {
    throw new QuackError("UNKNOWN_NETWORK", `Unknown network '${network}'.`, { fix: "Use --network duckchain-testnet | duckchain | an RPC URL." });
  }
  const file = flags.deployment !== undefined ? resolve(flags.deployment) : undefined;
  if (file === undefined && !isNetworkName(network)) {
    throw new QuackError("NO_DEPLOYMENT", `With --network ${network}, name the deployment of the contracts on that chain.`, {
      fix: "Pass --deployment deployments/chain-<id>.json (written by `quackmesh deploy --network <RPC URL>`).",
    });
  }
  const dir = file ? dirname(file) : resolveSettings({}, env).deploymentsDir;
  const fileName = file ? basename(file).replace(/\.json$/i, "") : network;
  const deployment = readDeployment({ deploymentsDir: dir }, fileName);
  if (deployment === undefined) {
    throw new QuackError("NO_DEPLOYMENT", `No deployment of the contracts for ${network} (looked for ${resolve(dir, `${fileName}.json`)}).`, {
      fix: `Run \`quackmesh deploy --network ${network}\` first, or pass --deployment FILE.`,
    });
  }
  // A file of another chain would have the instance restart forever with WRONG_CHAIN: refuse it before anything exists.
  if (isNetworkName(network) && deployment.chainId !== NETWORKS[network].chainId) {
    throw new QuackError("WRONG_CHAIN", `${resolve(dir, `${fileName}.json`)} is a deployment on chain ${deployment.chainId}; ${network} is chain ${NETWORKS[network].chainId}.`, {
      fix: `Pass --deployment with the file \`quackmesh deploy --network ${network}\` wrote (deployments/${network}.json), or the --network that file was deployed on.`,
    });
  }
  // `serve` looks for deployments/<name>.json: the network's name, or chain-<id> for an RPC URL.
  const name = isNetworkName(network) ? network : `chain-${deployment.chainId}`;
  return { name, json: JSON.stringify(deployment, null, 2) + "\n" };
}

export function planInputFrom(flags: StackFlags, conn: AwsConnection, env: NodeJS.ProcessEnv = process.env): PlanInput {
  const pkg = flags.package ?? env.QUACKMESH_AWS_PACKAGE;
  if (pkg === undefined || pkg.trim() === "") {
    throw new QuackError("AWS_NO_PACKAGE", "No --package given: the instance needs to know where to install quackmesh from.", {
      fix: "Pass --package with a tarball URL (`npm pack`, then upload it), a git URL (git+https://…), or name@version (or set QUACKMESH_AWS_PACKAGE).",
    });
  }
  if (flags.evaluatorSsmParam !== undefined && flags.instanceProfile === undefined) {
    throw new QuackError("BAD_ARGUMENT", "--evaluator-ssm-param needs --instance-profile: the instance reads the parameter with its own role.", {
      fix: "Pass --instance-profile NAME of a profile whose role allows ssm:GetParameter on the parameter (and kms:Decrypt on its key).",
    });
  }
  const rds = flags.database === "rds";
  if (!rds && (flags.dbSubnetGroup !== undefined)) {
    throw new QuackError("BAD_ARGUMENT", "--db-subnet-group is for --database rds.", { fix: "Add --database rds, or leave --db-subnet-group out." });
  }
  return {
    stack: flags.stack,
    region: conn.region,
    instanceType: flags.instanceType,
    ...(rds
      ? {
          database: {
            instanceClass: flags.dbInstanceClass,
            storageGb: parseWhole(flags.dbStorage, "--db-storage", 20, 65536),
            engineVersion: flags.dbEngineVersion,
            ...(flags.dbSubnetGroup === undefined ? {} : { subnetGroup: flags.dbSubnetGroup }),
          },
        }
      : {}),
    ...(flags.elasticIp === undefined ? {} : { elasticIp: flags.elasticIp }),
    ...(flags.dataVolume !== undefined ? { dataVolumeGb: parseWhole(flags.dataVolume, "--data-volume", 0, 16384) } : rds ? { dataVolumeGb: 20 } : {}),
    ami: flags.ami,
    keyName: flags.keyName,
    subnet: flags.subnet,
    instanceProfile: flags.instanceProfile,
    diskGb: parseWhole(flags.disk, "--disk", 8, 16384),
    allowCidr: flags.allowCidr,
    sshCidr: flags.sshCidr,
    userData: {
      packageSpec: pkg.trim(),
      port: parsePort(flags.port, "--port", false),
      network: flags.network,
      rpc: flags.rpc,
      evaluatorSsmParam: flags.evaluatorSsmParam,
      deployment: deploymentFor(flags, env),
    },
  };
}
