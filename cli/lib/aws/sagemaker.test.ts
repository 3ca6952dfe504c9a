import t from "tap";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { mockClient } from "aws-sdk-client-mock";
import { CreateProcessingJobCommand, SageMakerClient, SageMakerServiceException } from "@aws-sdk/client-sagemaker";
import { sageMakerClient } from "./connection.js";
import { INPUT_DIR, OUTPUT_DIR, createEvalJob, defaultJobName, processingJobRequest, type EvalJobInput } from "./sagemaker.js";
import { CONN, useFakeCredentials } from "./testkit.js";

useFakeCredentials();

const input: EvalJobInput = {
  jobId: 7,
  image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/quackmesh:0.1.0",
  roleArn: "arn:aws:iam::123456789012:role/SageMakerProcessing",
  instanceType: "ml.m5.large",
  instanceCount: 3,
  volumeGb: 30,
  maxRuntimeS: 3600,
  orchestrator: "http://203.0.113.9:8080/",
  dataS3: "s3://my-bucket/mnist-test/",
  outputS3: "s3://my-bucket/evals/",
  stack: "orch",
};
const now = new Date("2025-06-01T12:34:56.789Z");

t.test("the request: container runs quackmesh aws evaluate against the orchestrator, data sharded across instances", async (t) => {
  const req = processingJobRequest(input, now);
  t.equal(req.ProcessingJobName, "quackmesh-eval-7-20250601123456");
  t.match(req.ProcessingJobName, /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/);
  t.same(req.AppSpecification, {
    ImageUri: input.image,
    ContainerEntrypoint: ["quackmesh", "aws", "evaluate"],
    ContainerArguments: ["--job", "7", "--orchestrator", "http://203.0.113.9:8080", "--data", INPUT_DIR, "--out", OUTPUT_DIR, "--json"],
  });
  t.same(req.ProcessingResources, { ClusterConfig: { InstanceCount: 3, InstanceType: "ml.m5.large", VolumeSizeInGB: 30 } });
  t.same(req.StoppingCondition, { MaxRuntimeInSeconds: 3600 });
  t.equal(req.ProcessingInputs?.[0].S3Input?.S3DataDistributionType, "ShardedByS3Key");
  t.equal(req.ProcessingInputs?.[0].S3Input?.LocalPath, INPUT_DIR);
  t.same(req.ProcessingOutputConfig?.Outputs?.[0].S3Output, { S3Uri: "s3://my-bucket/evals/", LocalPath: OUTPUT_DIR, S3UploadMode: "EndOfJob" });
  t.same(req.Environment, { QUACKMESH_ORCHESTRATOR: "http://203.0.113.9:8080", QUACKMESH_JOB_ID: "7" });
  t.same(req.Tags, [
    { Key: "quackmesh:job", Value: "7" },
    { Key: "quackmesh:stack", Value: "orch" },
  ]);
});

t.test("without S3 data: one instance, bundled MNIST test set, no inputs or outputs", async (t) => {
  const req = processingJobRequest({ ...input, instanceCount: 1, dataS3: undefined, outputS3: undefined, stack: undefined }, now);
  t.equal(req.ProcessingInputs, undefined);
  t.equal(req.ProcessingOutputConfig, undefined);
  t.match(req.AppSpecification?.ContainerArguments, ["--job", "7", "--orchestrator", "http://203.0.113.9:8080", "--data", "mnist-test"]);
  t.throws(() => processingJobRequest({ ...input, dataS3: undefined }, now), { code: "BAD_ARGUMENT", message: /--instance-count/ });
});

t.test("invalid arguments are refused before any call", async (t) => {
  t.throws(() => processingJobRequest({ ...input, roleArn: "SageMakerRole" }), { code: "BAD_ARGUMENT", message: /--role/ });
  t.throws(() => processingJobRequest({ ...input, instanceType: "m5.large" }), { code: "BAD_ARGUMENT", message: /--instance-type/ });
  t.throws(() => processingJobRequest({ ...input, dataS3: "my-bucket/x" }), { code: "BAD_ARGUMENT", message: /--data-s3/ });
  t.throws(() => processingJobRequest({ ...input, name: "bad_name" }), { code: "BAD_ARGUMENT", message: /--name/ });
  t.throws(() => processingJobRequest({ ...input, orchestrator: "http://127.0.0.1:8080" }), { code: "BAD_ARGUMENT", fix: /loopback/ });
  t.throws(() => processingJobRequest({ ...input, maxRuntimeS: 0 }), { code: "BAD_ARGUMENT", message: /--max-runtime/ });
  t.ok(defaultJobName(Number.MAX_SAFE_INTEGER, now).length <= 63);
});

t.test("createEvalJob sends the request and answers the ARN and console link", async (t) => {
  const sm = mockClient(SageMakerClient);
  t.teardown(() => sm.restore());
  sm.on(CreateProcessingJobCommand).resolves({ ProcessingJobArn: "arn:aws:sagemaker:eu-west-1:123456789012:processing-job/quackmesh-eval-7-20250601123456" });
  const req = processingJobRequest(input, now);
  const r = await createEvalJob(new SageMakerClient({ region: "eu-west-1" }), CONN, req);
  t.same(sm.commandCalls(CreateProcessingJobCommand)[0].args[0].input, req);
  t.match(r, { name: "quackmesh-eval-7-20250601123456", arn: /processing-job/, consoleUrl: /eu-west-1.*processing-jobs\/quackmesh-eval-7/ });
});

t.test("a refusal names the permissions sagemaker-eval needs", async (t) => {
  const sm = mockClient(SageMakerClient);
  t.teardown(() => sm.restore());
  sm.on(CreateProcessingJobCommand).rejects(new SageMakerServiceException({ name: "AccessDeniedException", $fault: "client", $metadata: {}, message: "no" }));
  await t.rejects(createEvalJob(new SageMakerClient({ region: "eu-west-1" }), CONN, processingJobRequest(input, now)), {
    code: "AWS_UNAUTHORIZED",
    fix: /sagemaker:CreateProcessingJob.*iam:PassRole/,
  });
});

t.test("the SDK serializes every field of the request: all are members of the API (through --endpoint, on loopback)", async (t) => {
  let seen: { headers: IncomingHttpHeaders; body: string } | undefined;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      seen = { headers: req.headers, body };
      res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
      res.end(JSON.stringify({ ProcessingJobArn: "arn:aws:sagemaker:eu-west-1:123456789012:processing-job/x" }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const conn = { region: "eu-west-1", endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
  const client = sageMakerClient(conn);
  t.teardown(() => client.destroy());
  const req = processingJobRequest(input, now);
  const r = await createEvalJob(client, conn, req);
  t.equal(r.arn, "arn:aws:sagemaker:eu-west-1:123456789012:processing-job/x");
  t.equal(seen?.headers["x-amz-target"], "SageMaker.CreateProcessingJob");
  t.match(seen?.headers.authorization, /^AWS4-HMAC-SHA256 Credential=AKIAQUACKMESHTEST000\/\d{8}\/eu-west-1\/sagemaker\/aws4_request/);
  t.same(JSON.parse(seen!.body), JSON.parse(JSON.stringify(req)), "nothing dropped: the API model knows every field");
});

t.test("several instances need a prefix of CSV shards, not one file", async (t) => {
  t.throws(() => processingJobRequest({ ...input, dataS3: "s3://my-bucket/test/data.csv" }, now), { code: "BAD_ARGUMENT", message: /--data-s3/ });
  t.throws(() => processingJobRequest({ ...input, dataS3: "s3://my-bucket/test/t10k-images-idx3-ubyte" }, now), { code: "BAD_ARGUMENT" });
  const one = processingJobRequest({ ...input, instanceCount: 1, dataS3: "s3://my-bucket/test/data.csv" }, now);
  t.equal(one.ProcessingInputs?.[0].S3Input?.S3DataDistributionType, "FullyReplicated", "one instance may read a single file");
});
