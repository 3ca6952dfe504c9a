/** `serve --tls-cert FILE --tls-key FILE`: the PEM pair Fastify serves HTTPS with, checked before anything starts. */
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import { QuackError } from "../protocol/errors.js";

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

/** Both files or neither; readable; a certificate and the private key that matches it. */
export function loadTls(certFile: string | undefined, keyFile: string | undefined): TlsFiles | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    throw new QuackError("MISSING_OPTION", `--tls-${certFile === undefined ? "cert" : "key"} is missing: HTTPS needs the certificate and its key.`, {
      fix: "Pass both --tls-cert FILE and --tls-key FILE (PEM), or neither for plain HTTP behind a TLS-terminating load balancer.",
    });
  }
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (cause) {
      throw new QuackError("TLS_UNUSABLE", `The TLS ${what} ${file} cannot be read: ${(cause as Error).message}.`, { fix: `Check the path and that this user may read it.`, cause });
    }
  };
  const tls = { cert: read(certFile, "certificate"), key: read(keyFile, "key") };
  try {
    createSecureContext(tls);
  } catch (cause) {
    throw new QuackError("TLS_UNUSABLE", `${certFile} and ${keyFile} are not a PEM certificate and its matching private key: ${(cause as Error).message}.`, {
      fix: "Pass the certificate (chain) as --tls-cert and the unencrypted private key it was issued for as --tls-key, both PEM.",
      cause,
    });
  }
  return tls;
}
