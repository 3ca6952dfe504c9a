/**
 * Request signing, shared by the orchestrator (verify) and its clients (sign). A write carries
 *   x-quackmesh-address    the caller's checksummed address
 *   x-quackmesh-timestamp  milliseconds since the epoch
 *   x-quackmesh-signature  EIP-191 personal_sign of
 *     "quackmesh:v1\n" + METHOD + "\n" + path + "\n" + timestamp + "\n" + hex(sha256(body))
 *   x-quackmesh-content-sha256  hex(sha256(body)), the hash the signature covers (may be left
 *                               out for an empty body)
 * where path is the request target as sent (path and query string) and the body hash is the
 * lowercase hex of the raw body bytes (the hash of no bytes for an empty body). The hash travels
 * as a header so that the server checks the signature before it reads a byte of the body, then
 * checks the body against the hash while it streams in.
 */
import { createHash } from "node:crypto";
import { getAddress, isAddress, verifyMessage } from "ethers";
import { ApiError } from "./errors.js";

export const SIGNING_PREFIX = "quackmesh:v1";
export const ADDRESS_HEADER = "x-quackmesh-address";
export const TIMESTAMP_HEADER = "x-quackmesh-timestamp";
export const SIGNATURE_HEADER = "x-quackmesh-signature";
export const BODY_HASH_HEADER = "x-quackmesh-content-sha256";
/** How far a request's timestamp may be from the server's clock, either way. */
export const DEFAULT_MAX_SKEW_MS = 5 * 60 * 1000;

/** What signRequest needs from a wallet; an ethers Wallet or Signer fits. */
export interface MessageSigner {
  getAddress(): Promise<string>;
  signMessage(message: string): Promise<string>;
}

export type SignedHeaders = {
  [ADDRESS_HEADER]: string;
  [TIMESTAMP_HEADER]: string;
  [SIGNATURE_HEADER]: string;
  [BODY_HASH_HEADER]: string;
};

export function sha256HexOf(body?: Uint8Array | string | null): string {
  const h = createHash("sha256");
  if (body !== undefined && body !== null) h.update(body);
  return h.digest("hex");
}

/** The exact text that gets signed. */
export function canonicalMessage(method: string, path: string, timestamp: number | string, bodySha256: string): string {
  return `${SIGNING_PREFIX}\n${method.toUpperCase()}\n${path}\n${timestamp}\n${bodySha256}`;
}

/**
 * Headers that sign one request. `path` is the request target exactly as it will be sent,
 * query string included (e.g. "/api/job/1/update?round=0&numSamples=500").
 */
export async function signRequest(
  wallet: MessageSigner,
  method: string,
  path: string,
  body?: Uint8Array | string | null,
  now: number = Date.now(),
): Promise<SignedHeaders> {
  const address = getAddress(await wallet.getAddress());
  const timestamp = String(Math.floor(now));
  const bodySha256 = sha256HexOf(body);
  const signature = await wallet.signMessage(canonicalMessage(method, path, timestamp, bodySha256));
  return { [ADDRESS_HEADER]: address, [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: signature, [BODY_HASH_HEADER]: bodySha256 };
}

export interface VerifiedCaller {
  address: string;
  timestamp: number;
  /** Identifies this exact signed request, for replay protection. */
  requestId: string;
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The signature headers, present and well formed, with a timestamp close to `now`. Cheap: run
 * it before reading a large body.
 */
export function readSignatureHeaders(
  headers: Record<string, string | string[] | undefined>,
  now: number,
  maxSkewMs: number = DEFAULT_MAX_SKEW_MS,
): { rawAddress: string; rawTimestamp: string; signature: string } {
  const rawAddress = header(headers, ADDRESS_HEADER);
  const rawTimestamp = header(headers, TIMESTAMP_HEADER);
  const signature = header(headers, SIGNATURE_HEADER);
  if (!rawAddress || !rawTimestamp || !signature) {
    const missing = [ADDRESS_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER].filter((h) => !header(headers, h));
    throw new ApiError("SIGNATURE_MISSING", `Missing header(s): ${missing.join(", ")}. Sign the request with signRequest().`, { missing });
  }
  if (!isAddress(rawAddress)) {
    throw new ApiError("SIGNATURE_INVALID", `${ADDRESS_HEADER} '${rawAddress}' is not an address.`);
  }
  if (!/^\d{1,16}$/.test(rawTimestamp)) {
    throw new ApiError("SIGNATURE_INVALID", `${TIMESTAMP_HEADER} must be milliseconds since the epoch, got '${rawTimestamp}'.`);
  }
  const timestamp = Number(rawTimestamp);
  if (Math.abs(now - timestamp) > maxSkewMs) {
    throw new ApiError(
      "SIGNATURE_STALE",
      `The request timestamp is ${Math.round((now - timestamp) / 1000)} s away from the server's clock (allowed: ${maxSkewMs / 1000} s). Check your clock and sign again.`,
      { serverTime: now, timestamp },
    );
  }
  return { rawAddress, rawTimestamp, signature };
}

/**
 * Check a request's signature headers against its method, target and body hash. Throws an
 * ApiError (SIGNATURE_MISSING, SIGNATURE_STALE or SIGNATURE_INVALID); replay is checked by the
 * caller with the returned requestId, which is the same for every encoding of the signature.
 */
export function verifySignedRequest(input: {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  bodySha256: string;
  now: number;
  maxSkewMs?: number;
}): VerifiedCaller {
  const { rawAddress, rawTimestamp, signature } = readSignatureHeaders(input.headers, input.now, input.maxSkewMs);
  const address = getAddress(rawAddress);
  const message = canonicalMessage(input.method, input.url, rawTimestamp, input.bodySha256);
  let signer: string;
  try {
    signer = verifyMessage(message, signature);
  } catch {
    throw new ApiError("SIGNATURE_INVALID", `${SIGNATURE_HEADER} is not a valid 65-byte signature.`);
  }
  if (signer !== address) {
    throw new ApiError("SIGNATURE_INVALID", `The signature was made by ${signer}, not ${address}, or over a different method, path, timestamp or body.`);
  }
  const requestId = createHash("sha256").update(`${address}\n${message}`).digest("hex");
  return { address, timestamp: Number(rawTimestamp), requestId };
}

const EMPTY_SHA256 = sha256HexOf();

/** A caller verified from the headers, with the body hash it signed (the body is checked against it). */
export type SignedCaller = VerifiedCaller & { bodySha256: string };

/**
 * The body hash a request declares in x-quackmesh-content-sha256 (the empty body's hash when the
 * header is absent): 64 hex digits, compared in lowercase.
 */
export function declaredBodySha256(headers: Record<string, string | string[] | undefined>): string {
  const raw = header(headers, BODY_HASH_HEADER);
  if (raw === undefined || raw === "") return EMPTY_SHA256;
  if (!/^[0-9a-fA-F]{64}$/.test(raw)) {
    throw new ApiError("SIGNATURE_INVALID", `${BODY_HASH_HEADER} must be the body's sha256 as 64 hex digits, got '${raw.slice(0, 80)}'.`);
  }
  return raw.toLowerCase();
}

/**
 * Verify a request from its headers alone, against the body hash it declares: what the server
 * runs before reading the body. The body must then hash to `bodySha256` (checked as it streams).
 */
export function verifySignedHeaders(input: {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  now: number;
  maxSkewMs?: number;
}): SignedCaller {
  // Missing or stale signature headers are reported before a malformed hash header.
  readSignatureHeaders(input.headers, input.now, input.maxSkewMs);
  const bodySha256 = declaredBodySha256(input.headers);
  return { ...verifySignedRequest({ ...input, bodySha256 }), bodySha256 };
}
