// One HTTPS exchange over node:https, with verification that cannot be
// turned off: `rejectUnauthorized` is always passed as `true` (so even
// NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment changes nothing), and an
// extra CA is added to Node's bundled roots, never put in their place.
// Redirects are not followed: one could carry credentials to another host.

import { Agent, request as httpsRequest } from "node:https";
import { rootCertificates } from "node:tls";
import type { IncomingHttpHeaders } from "node:http";

import { PaygateConfigError, PaygateConnectionError } from "./errors.js";

/** Where the server is: an https origin with an optional path prefix. */
export interface Endpoint {
  /** `https://host:port` */
  origin: string;
  hostname: string;
  port: number;
  /** "" or `/prefix` without a trailing slash. */
  prefix: string;
}

/** Credentials go only to a plain https URL: no user info, query or fragment. */
export function parseBaseUrl(text: string): Endpoint {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new PaygateConfigError("the base URL is not a URL");
  }
  if (url.protocol !== "https:") {
    throw new PaygateConfigError("the base URL must be https: credentials are never sent in clear");
  }
  if (url.username || url.password) throw new PaygateConfigError("the base URL must not carry user info");
  if (url.search || url.hash || text.includes("?") || text.includes("#")) {
    throw new PaygateConfigError("the base URL must not carry a query or fragment");
  }
  const port = url.port ? Number(url.port) : 443;
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  return { origin: `https://${url.host}`, hostname, port, prefix: url.pathname.replace(/\/+$/, "") };
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface TransportOptions {
  /** Extra CA certificates (PEM), trusted beside Node's bundled roots. */
  ca?: string | Buffer | Array<string | Buffer> | undefined;
  /** The limit of one attempt, from connecting to the last byte (ms). */
  timeoutMs: number;
}

// Node's error codes for a certificate TLS refused: not worth a retry.
const TLS_REFUSALS = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REVOKED",
  "CERT_REJECTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "ERR_SSL_WRONG_VERSION_NUMBER",
]);

/** Sends requests to one endpoint over a keep-alive agent of its own. */
export class Transport {
  readonly #agent: Agent;
  readonly #endpoint: Endpoint;
  readonly #timeoutMs: number;

  constructor(endpoint: Endpoint, options: TransportOptions) {
    const extra = options.ca === undefined ? [] : Array.isArray(options.ca) ? options.ca : [options.ca];
    for (const pem of extra) {
      if (!String(pem).includes("-----BEGIN CERTIFICATE-----")) {
        throw new PaygateConfigError("ca must be PEM certificates (-----BEGIN CERTIFICATE-----)");
      }
    }
    this.#agent = new Agent({
      keepAlive: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
      ca: extra.length ? [...rootCertificates, ...extra] : undefined,
    });
    this.#endpoint = endpoint;
    this.#timeoutMs = options.timeoutMs;
  }

  /** One attempt. `target` is the request target (prefix included) as signed. */
  send(method: string, target: string, headers: Record<string, string>, body: Buffer | undefined): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          agent: this.#agent,
          hostname: this.#endpoint.hostname,
          port: this.#endpoint.port,
          method,
          path: target,
          headers: body ? { ...headers, "content-length": String(body.length) } : headers,
          rejectUnauthorized: true,
          timeout: this.#timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on("error", (err) => reject(connectionError(err)));
          res.on("aborted", () => reject(new PaygateConnectionError("the connection closed mid-answer", "ECONNRESET", false)));
        },
      );
      const deadline = setTimeout(() => req.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })), this.#timeoutMs);
      req.on("close", () => clearTimeout(deadline));
      req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })));
      req.on("error", (err) => reject(connectionError(err)));
      req.end(body);
    });
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.#agent.destroy();
  }
}

/** A Node error as a PaygateConnectionError: its code, never request details. */
function connectionError(err: unknown): PaygateConnectionError {
  const code = typeof (err as { code?: unknown }).code === "string" ? (err as { code: string }).code : undefined;
  const tls = code !== undefined && (TLS_REFUSALS.has(code) || code.startsWith("ERR_TLS_") || code.startsWith("ERR_SSL_"));
  const what = tls ? "TLS refused the server's certificate" : "the request got no answer";
  return new PaygateConnectionError(`${what} (${code ?? "unknown error"})`, code, tls);
}
