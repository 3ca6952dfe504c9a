import { Command } from "commander";
import { QuackError } from "../../protocol/errors.js";
import { parseAmount, parsePort } from "../../protocol/chain/units.js";
import { eventSink } from "../views/live.js";
import { OrchestratorEmitter } from "../../orchestrator/index.js";
import { startServe } from "../../orchestrator/index.js";
import { initialServe, reduceServe, serveLine, ServeView, type ServeEvent } from "../views/ServeView.js";
import { waitForSignal } from "../lib/signals.js";

function parseCount(text: string, what: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n)) throw new QuackError("BAD_ARGUMENT", `${what} '${text}' is not a whole number.`, { fix: `Pass ${what} as digits, e.g. ${what} 2.` });
  return n;
}

export function serveCommand(): Command {
  return new Command("serve")
    .description("run the orchestrator: API, store, rounds, evaluator, chain listener")
    .option("--port <port>", "TCP port to listen on (0 picks a free one)", "8080")
    .option("--host <address>", "interface to bind", "127.0.0.1")
    .option("--data-dir <dir>", "SQLite store, model files and the evaluator key (default ~/.quackmesh/orchestrator)")
    .option("--database <url>", "postgres://USER:PASSWORD@HOST:5432/DB: keep the state in PostgreSQL, shared by every orchestrator given it (env QUACKMESH_DATABASE_URL; default SQLite in the data dir)")
    .option("--tls-cert <file>", "PEM certificate (chain): serve HTTPS instead of HTTP (with --tls-key)")
    .option("--tls-key <file>", "PEM private key of --tls-cert")
    .option("--network <name>", "chain: local | duckchain-testnet | duckchain | an RPC URL (env QUACKMESH_NETWORK; default local)")
    .option("--rpc <url>", "JSON-RPC URL, overrides the network's default endpoint (env QUACKMESH_RPC_URL)")
    .option("--confirmations <n>", "blocks to wait before a contract event counts (default 0 on the local chain, 2 elsewhere)")
    .option("--poll <ms>", "how often to read contract events (default 500 local, 4000 elsewhere)")
    .option("--upload-limit <MiB>", "largest upload accepted (weights, validation sets, updates)", "256")
    .option("--max-model-params <n>", "most trainable parameters of a job's model", "20000000")
    .option("--max-activation <MiB>", "most activation memory per evaluation block of 256 samples", "64")
    .option("--max-dataset <MiB>", "largest validation set or cluster training data, as sent and once unpacked", "64")
    .option("--max-drafts <n>", "most drafts one address may hold unbound to a job (created in the last 24 h)", "16")
    .option("--max-stored <MiB>", "most bytes one address's unbound drafts may hold (weights, validation, training data; last 24 h)", "1024")
    .option("--payout <address>", "address that inference usage statements pay (env QUACKMESH_PAYOUT_ADDRESS; default the evaluator's)")
    .option("--inference-price <duck>", "DUCK charged per second of inference compute", "0.01")
    .option("--inference-min-fee <duck>", "least DUCK charged for one inference job (never above its escrow)", "0.001")
    .option("--public-url <url>", "URL rented cluster workers use to reach this orchestrator (env QUACKMESH_ORCHESTRATOR_PUBLIC_URL; default where it listens)")
    .option("--private-endpoints", "connect to rented machines listed on loopback, private or link-local addresses (default: on the local chain only)")
    .option("--json", "structured logs and events, one JSON object per line, on stdout")
    .addHelpText(
      "after",
      `
Reads the contracts from deployments/<network>.json (run \`quackmesh deploy\` first). The
evaluator key comes from QUACKMESH_EVALUATOR_KEY, or is generated on first start into the data
dir (mode 0600); its address is printed, served at /api/info, and is what requesters name as
evaluator in TrainingPool.createTrainingJob, and as orchestrator in InferencePool.createInferenceJob.
Inference (\`quackmesh infer\`) runs here and is charged by compute time: the usage statement the
evaluator key signs pays --payout. API documentation: http://HOST:PORT/docs.
Every signed request is checked from its headers (signature over the declared body hash, rate
limit, body size, the caller's quota) before its body is read; limits are shown at /api/info.
Off the local chain it opens SSH connections only to rented machines listed on public addresses
(--private-endpoints also allows loopback, private and link-local ones: machines on your own network).
Stops cleanly on Ctrl-C or SIGTERM; after a crash it resumes open rounds from the store.

Examples:
  $ quackmesh serve                                   # local chain, 127.0.0.1:8080
  $ quackmesh serve --port 0 --data-dir /tmp/orch --json
  $ quackmesh serve --database postgres://quackmesh:secret@db.internal:5432/quackmesh --data-dir /mnt/efs/orch
  $ quackmesh serve --host 0.0.0.0 --port 8443 --tls-cert fullchain.pem --tls-key privkey.pem
  $ quackmesh serve --payout 0xYourPayoutAddress --inference-price 0.02
  $ quackmesh serve --max-drafts 4 --max-stored 256 --max-dataset 32   # a public endpoint`,
    )
    .action(async (opts: { port: string; host: string; dataDir?: string; database?: string; tlsCert?: string; tlsKey?: string; network?: string; rpc?: string; confirmations?: string; poll?: string; uploadLimit: string; maxModelParams: string; maxActivation: string; maxDataset: string; maxDrafts: string; maxStored: string; payout?: string; inferencePrice: string; inferenceMinFee: string; publicUrl?: string; privateEndpoints?: boolean; json?: boolean }) => {
      const json = Boolean(opts.json);
      const events = new OrchestratorEmitter();
      const sink = eventSink<typeof initialServe, ServeEvent>({ json, view: ServeView, reduce: reduceServe, initial: initialServe, line: serveLine });
      const off = events.onAny((name, payload) => sink.push({ event: name, ...payload } as ServeEvent));
      const stop = waitForSignal();
      try {
        const handle = await startServe({
          host: opts.host,
          port: parsePort(opts.port),
          dataDir: opts.dataDir,
          database: opts.database,
          tlsCert: opts.tlsCert,
          tlsKey: opts.tlsKey,
          network: opts.network,
          rpc: opts.rpc,
          confirmations: opts.confirmations === undefined ? undefined : parseCount(opts.confirmations, "--confirmations"),
          pollMs: opts.poll === undefined ? undefined : Math.max(50, parseCount(opts.poll, "--poll")),
          limits: {
            uploadBytes: parseCount(opts.uploadLimit, "--upload-limit") * 1024 * 1024,
            modelParameters: parseCount(opts.maxModelParams, "--max-model-params"),
            activationBytes: parseCount(opts.maxActivation, "--max-activation") * 1024 * 1024,
            datasetBytes: parseCount(opts.maxDataset, "--max-dataset") * 1024 * 1024,
            draftsPerAddress: parseCount(opts.maxDrafts, "--max-drafts"),
            storedBytesPerAddress: parseCount(opts.maxStored, "--max-stored") * 1024 * 1024,
          },
          payout: opts.payout,
          inferencePrice: parseAmount(opts.inferencePrice, "--inference-price"),
          inferenceMinFee: parseAmount(opts.inferenceMinFee, "--inference-min-fee"),
          publicUrl: opts.publicUrl,
          privateEndpoints: opts.privateEndpoints,
          json,
          events,
        });
        sink.push(handle.ready);
        const signal = await stop.promise;
        await handle.close();
        sink.push({ event: "stopped", signal });
      } finally {
        off();
        stop.dispose();
        await sink.close();
      }
    });
}
