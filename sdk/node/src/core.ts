// The one path every request takes: the credentials of the configured auth
// mode, a fresh timestamp, nonce and signature per attempt, an
// Idempotency-Key on every state-changing request (the same one for every
// retry of a call), retries of what is safe to repeat, and problem+json
// answers decoded into PaygateError.

import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

import { CachedToken, TokenCache, type TokenGrant } from "./auth.js";
import { PaygateConfigError, PaygateConnectionError, PaygateError, type FieldError } from "./errors.js";
import { type Outcome, parseRetryAfter, type RetryPolicy, retryDelay } from "./retry.js";
import { nonce, signRequest } from "./signing.js";
import type { Endpoint, RawResponse, Transport } from "./transport.js";

/** Which credentials a request carries. */
export type Access = "merchant" | "exchange" | "public";

export type Method = "GET" | "POST" | "PUT" | "DELETE";

export interface RequestOptions {
  /** Sent as `Idempotency-Key` instead of a generated UUID (state-changing requests only). */
  idempotencyKey?: string;
  /** Extra headers (e.g. `accept`); credentials cannot be set here. */
  headers?: Record<string, string>;
}

/** The secrets one client holds. Private fields: `util.inspect` and JSON never show them. */
export class Credentials {
  readonly #apiKey: string;
  readonly #apiSecret: string | undefined;
  readonly merchantId: string | undefined;
  readonly maskedKey: string;

  constructor(apiKey: string, apiSecret: string | undefined, merchantId: string | undefined, maskedKey: string) {
    this.#apiKey = apiKey;
    this.#apiSecret = apiSecret;
    this.merchantId = merchantId;
    this.maskedKey = maskedKey;
  }

  get signed(): boolean {
    return this.#apiSecret !== undefined;
  }

  keyHeaders(): Record<string, string> {
    const headers: Record<string, string> = { "x-api-key": this.#apiKey };
    if (this.merchantId) headers["x-merchant-id"] = this.merchantId;
    return headers;
  }

  sign(method: string, target: string, body: Buffer | undefined, timestamp: string): string {
    return signRequest(this.#apiSecret ?? "", method, target, body ?? "", timestamp);
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Credentials { key: '${this.maskedKey}', merchantId: ${JSON.stringify(this.merchantId)}, signed: ${this.signed} }`;
  }

  toJSON(): Record<string, unknown> {
    return { key: this.maskedKey, merchantId: this.merchantId, signed: this.signed };
  }
}

const RESERVED_HEADERS = /^(x-api-key|apikey|x-api-secret|authorization|x-session-id|x-signature|x-timestamp|x-merchant-id|idempotency-key|content-length|host)$/i;

export class Core {
  readonly endpoint: Endpoint;
  readonly credentials: Credentials;
  readonly #transport: Transport;
  readonly #tokens: TokenCache | undefined;
  readonly #retry: RetryPolicy;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(endpoint: Endpoint, credentials: Credentials, transport: Transport, useTokens: boolean, retry: RetryPolicy) {
    this.endpoint = endpoint;
    this.credentials = credentials;
    this.#transport = transport;
    this.#tokens = useTokens ? new TokenCache() : undefined;
    this.#retry = retry;
    this.#sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  }

  close(): void {
    this.#transport.close();
  }

  /** Sends a request and decodes a 2xx JSON answer; anything else throws. */
  async json<T>(method: Method, path: string, body?: unknown, options: RequestOptions = {}, access: Access = "merchant"): Promise<T> {
    const raw = await this.execute(method, path, body === undefined ? undefined : Buffer.from(JSON.stringify(body)), options, access);
    return decode<T>(raw);
  }

  /** `POST /v1/auth/token`: a new access token and session, sent with the key. */
  async exchangeToken(): Promise<TokenGrant> {
    return decode<TokenGrant>(await this.execute("POST", "/v1/auth/token", undefined, {}, "exchange"));
  }

  /** Sends a request and returns the final answer as received (after any retries), whatever its status. */
  async execute(method: Method, path: string, body: Buffer | undefined, options: RequestOptions, access: Access): Promise<RawResponse> {
    if (!path.startsWith("/")) throw new PaygateConfigError("a request path starts with /");
    for (const name of Object.keys(options.headers ?? {})) {
      if (RESERVED_HEADERS.test(name)) throw new PaygateConfigError(`the header ${name} is set by the client itself`);
    }
    const idempotencyKey = method !== "GET" && access !== "exchange" ? options.idempotencyKey ?? randomUUID() : undefined;
    if (idempotencyKey !== undefined && !/^[\x20-\x7e]{1,255}$/.test(idempotencyKey)) {
      throw new PaygateConfigError("an idempotency key is 1 to 255 printable ASCII characters");
    }
    const safeToRepeat = method === "GET" || method === "PUT" || (method === "POST" && idempotencyKey !== undefined);
    let rejected: CachedToken | undefined;
    let renewed = false;
    for (let retry = 0; ; ) {
      const token = this.#tokens && access === "merchant" ? await this.#tokens.get(rejected, () => this.#fetchToken()) : undefined;
      let outcome: Outcome;
      let answer: RawResponse | undefined;
      let failure: PaygateConnectionError | undefined;
      try {
        answer = await this.#attempt(method, path, body, access, idempotencyKey, token, options.headers);
        if (answer.status >= 200 && answer.status < 300) return answer;
        const code = problemCode(answer.body);
        if (code === "token_expired" && token && !renewed) {
          // Refused unread: renew once and send again.
          renewed = true;
          rejected = token;
          continue;
        }
        outcome = { kind: "answered", status: answer.status, code, retryAfter: parseRetryAfter(answer.headers["retry-after"]) };
      } catch (err) {
        if (!(err instanceof PaygateConnectionError)) throw err;
        failure = err;
        outcome = { kind: "transport", tls: err.tls };
      }
      const wait = retryDelay(this.#retry, retry, safeToRepeat, outcome);
      if (wait === undefined) {
        if (failure) throw failure;
        return answer as RawResponse;
      }
      await this.#sleep(wait);
      retry += 1;
    }
  }

  async #fetchToken(): Promise<CachedToken> {
    const started = Date.now();
    return new CachedToken(await this.exchangeToken(), started);
  }

  /** One attempt, signed afresh. */
  #attempt(
    method: Method,
    path: string,
    body: Buffer | undefined,
    access: Access,
    idempotencyKey: string | undefined,
    token: CachedToken | undefined,
    extra: Record<string, string> | undefined,
  ): Promise<RawResponse> {
    const signed = access !== "public" && this.credentials.signed;
    // A random query parameter: the signed string has no nonce, so two
    // identical requests in one second would otherwise share a signature,
    // which the server refuses as a replay.
    const target = signed ? `${this.endpoint.prefix}${path}${path.includes("?") ? "&" : "?"}n=${nonce()}` : `${this.endpoint.prefix}${path}`;
    // The same headers as the Rust SDK sends (reqwest's `accept: */*`, no
    // user agent), so a server or proxy cannot tell the two apart.
    const headers: Record<string, string> = { accept: "*/*", ...extra };
    if (access !== "public") {
      if (access === "merchant" && token) {
        headers["authorization"] = token.bearer();
        headers["x-session-id"] = token.sessionId;
      } else {
        Object.assign(headers, this.credentials.keyHeaders());
      }
    }
    if (signed) {
      const timestamp = String(Math.floor(Date.now() / 1000));
      headers["x-timestamp"] = timestamp;
      headers["x-signature"] = this.credentials.sign(method, target, body, timestamp);
    }
    if (idempotencyKey !== undefined) headers["idempotency-key"] = idempotencyKey;
    if (body) headers["content-type"] = "application/json";
    return this.#transport.send(method, target, headers, body);
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Core { origin: '${this.endpoint.origin}' }`;
  }
}

function problemCode(body: Buffer): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body.toString("utf8"));
    const code = (parsed as { code?: unknown }).code;
    return typeof code === "string" ? code : undefined;
  } catch {
    return undefined;
  }
}

/** A 2xx answer decoded as JSON, or the PaygateError it carries. */
export function decode<T>(raw: RawResponse): T {
  if (raw.status >= 200 && raw.status < 300) {
    try {
      return JSON.parse(raw.body.toString("utf8")) as T;
    } catch {
      throw new PaygateError({ status: raw.status, code: "invalid_response", detail: "the answer is not JSON", requestId: requestId(raw.headers) });
    }
  }
  throw problemError(raw);
}

function requestId(headers: IncomingHttpHeaders): string | undefined {
  const value = headers["x-request-id"];
  return typeof value === "string" ? value : undefined;
}

/** Decodes an error answer; never throws, whatever the server (or a proxy) sent. */
export function problemError(raw: RawResponse): PaygateError {
  let problem: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(raw.body.toString("utf8"));
    if (parsed && typeof parsed === "object") problem = parsed as Record<string, unknown>;
  } catch {
    // Not a problem document (a proxy's HTML page): described by status only.
  }
  const text = (key: string): string | undefined => (typeof problem[key] === "string" ? (problem[key] as string) : undefined);
  const errors = Array.isArray(problem["errors"]) ? (problem["errors"] as FieldError[]) : undefined;
  return new PaygateError({
    status: raw.status,
    code: text("code") ?? "unexpected_response",
    requestId: text("request_id") ?? requestId(raw.headers),
    title: text("title"),
    detail: text("detail") ?? (text("code") ? undefined : `the server answered ${raw.status} without a problem document`),
    type: text("type"),
    errors,
    retryAfter: parseRetryAfter(raw.headers["retry-after"]),
  });
}
