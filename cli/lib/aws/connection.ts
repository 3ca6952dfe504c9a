/**
 * Where the AWS clients point: region, an optional endpoint (any EC2/RDS/SSM/SageMaker-compatible API)
 * and an optional profile. Credentials always come from the SDK's default chain (env, profile,
 * SSO, instance role), so nothing secret passes through QuackMesh.
 */
import { EC2Client } from "@aws-sdk/client-ec2";
import { RDSClient } from "@aws-sdk/client-rds";
import { SageMakerClient } from "@aws-sdk/client-sagemaker";
import { SSMClient } from "@aws-sdk/client-ssm";
import { QuackError } from "../../../protocol/errors.js";

export interface AwsFlags {
  region?: string;
  endpoint?: string;
  profile?: string;
}

export interface AwsConnection {
  region: string;
  /** Custom endpoint URL; undefined means the public AWS endpoint of the region. */
  endpoint?: string;
  /** Named profile from ~/.aws/config; undefined leaves the SDK's choice (AWS_PROFILE or default). */
  profile?: string;
}

export const AWS_ENV = {
  AWS_REGION: "region of the stack (or --region); AWS_DEFAULT_REGION is read too",
  AWS_PROFILE: "profile from ~/.aws/config and ~/.aws/credentials (or --profile)",
  AWS_ACCESS_KEY_ID: "access key, with AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN when temporary)",
  QUACKMESH_AWS_ENDPOINT: "EC2/RDS/SSM/SageMaker-compatible endpoint URL (or --endpoint)",
} as const;

// Partition prefixes and directions, e.g. eu-west-1, us-gov-west-1, ap-southeast-4, il-central-1.
const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

export function parseRegion(text: string): string {
  const region = text.trim();
  if (!REGION_RE.test(region)) {
    throw new QuackError("AWS_BAD_REGION", `'${text}' is not an AWS region name.`, {
      fix: "Pass --region with a region code such as eu-west-1 or us-east-1 (or set AWS_REGION).",
    });
  }
  return region;
}

export function parseEndpoint(text: string): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    url = new URL("invalid:");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new QuackError("AWS_BAD_ENDPOINT", `AWS endpoint '${text}' is not an http:// or https:// URL.`, {
      fix: "Pass --endpoint https://host[:port] (or set QUACKMESH_AWS_ENDPOINT), or leave it unset for AWS itself.",
    });
  }
  return url.toString().replace(/\/$/, "");
}

/** Flags win over the environment; a region is required (it decides where the stack lives). */
export function resolveConnection(flags: AwsFlags, env: NodeJS.ProcessEnv = process.env): AwsConnection {
  const regionText = nonEmpty(flags.region) ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION);
  if (regionText === undefined) {
    throw new QuackError("AWS_NO_REGION", "No AWS region given.", { fix: "Pass --region eu-west-1 (or set AWS_REGION)." });
  }
  const endpointText = nonEmpty(flags.endpoint) ?? nonEmpty(env.QUACKMESH_AWS_ENDPOINT);
  const profile = nonEmpty(flags.profile);
  return {
    region: parseRegion(regionText),
    endpoint: endpointText === undefined ? undefined : parseEndpoint(endpointText),
    profile,
  };
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s.trim() === "" ? undefined : s.trim();
}

/** The config every SDK client takes: short connect timeout so an unreachable endpoint fails fast. */
export function clientConfig(conn: AwsConnection): {
  region: string;
  endpoint?: string;
  profile?: string;
  maxAttempts: number;
  requestHandler: { connectionTimeout: number; requestTimeout: number };
} {
  return {
    region: conn.region,
    ...(conn.endpoint === undefined ? {} : { endpoint: conn.endpoint }),
    ...(conn.profile === undefined ? {} : { profile: conn.profile }),
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
  };
}

export function ec2Client(conn: AwsConnection): EC2Client {
  return new EC2Client(clientConfig(conn));
}

export function sageMakerClient(conn: AwsConnection): SageMakerClient {
  return new SageMakerClient(clientConfig(conn));
}

export function rdsClient(conn: AwsConnection): RDSClient {
  return new RDSClient(clientConfig(conn));
}

export function ssmClient(conn: AwsConnection): SSMClient {
  return new SSMClient(clientConfig(conn));
}
