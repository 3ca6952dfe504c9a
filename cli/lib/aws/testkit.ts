/**
 * Test helpers for the aws folder: fake credentials (so the SDK never looks for real ones and no
 * call leaves the process: every client is replaced by aws-sdk-client-mock), and service errors
 * shaped like the SDK's own.
 */
import { EC2ServiceException, type Instance } from "@aws-sdk/client-ec2";
import type { AwsConnection } from "./connection.js";
import { PORT_TAG, ROLE_TAG, STACK_TAG } from "./plan.js";

export function useFakeCredentials(env: NodeJS.ProcessEnv = process.env): void {
  env.AWS_ACCESS_KEY_ID = "AKIAQUACKMESHTEST000";
  env.AWS_SECRET_ACCESS_KEY = "quackmesh-test-secret";
  env.AWS_EC2_METADATA_DISABLED = "true";
  env.AWS_CONFIG_FILE = "/nonexistent/quackmesh-test/config";
  env.AWS_SHARED_CREDENTIALS_FILE = "/nonexistent/quackmesh-test/credentials";
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
  delete env.AWS_PROFILE;
  delete env.AWS_SESSION_TOKEN;
  delete env.QUACKMESH_AWS_ENDPOINT;
}

export const CONN: AwsConnection = { region: "eu-west-1" };

export function serviceError(name: string, message = `${name} (test)`): EC2ServiceException {
  return new EC2ServiceException({ name, $fault: "client", $metadata: { httpStatusCode: 400 }, message });
}

export function instance(id: string, state: string, opts: { stack?: string; ip?: string; port?: number; reason?: string } = {}): Instance {
  return {
    InstanceId: id,
    InstanceType: "t3.medium",
    State: { Name: state as never },
    PublicIpAddress: opts.ip,
    PrivateIpAddress: opts.ip ? "172.31.0.10" : undefined,
    StateReason: opts.reason ? { Message: opts.reason } : undefined,
    Tags: [
      { Key: STACK_TAG, Value: opts.stack ?? "quackmesh" },
      { Key: ROLE_TAG, Value: "orchestrator" },
      { Key: PORT_TAG, Value: String(opts.port ?? 8080) },
    ],
  };
}

export function reservations(...instances: Instance[]): { Reservations: { Instances: Instance[] }[] } {
  return { Reservations: instances.length ? [{ Instances: instances }] : [] };
}

/** Sleep that only advances a fake clock, so waits take no time in tests. */
export function fakeClock(): { now: () => number; sleep: (ms: number) => Promise<void>; slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
    slept,
  };
}

/** A minimal valid deployment file content. */
export function deploymentJson(network = "duckchain-testnet", chainId = 202105): Record<string, unknown> {
  const a = (n: number) => "0x" + n.toString(16).padStart(40, "0");
  return {
    network,
    chainId,
    block: 123,
    deployer: a(1),
    deployedAt: "2025-01-01T00:00:00.000Z",
    ackWindowSeconds: 600,
    duckTokenDeployed: false,
    contracts: { DuckToken: a(2), ComputeMarketplace: a(3), TrainingPool: a(4), InferencePool: a(5) },
  };
}
