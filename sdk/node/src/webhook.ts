// Verifying webhook deliveries, as a receiver does. Both of Paygate's
// schemes are checked: the Standard Webhooks headers (`webhook-id`,
// `webhook-timestamp`, `webhook-signature`), preferred because the timestamp
// they sign bounds replays, and the plain `X-Webhook-Signature:
// sha256=<hex>` when only that one is present. Several secrets may be given
// at once, so a receiver keeps accepting while an endpoint's secret rotates.
// Every comparison is constant-time.

import { createHmac, timingSafeEqual } from "node:crypto";

import { WebhookVerificationError } from "./errors.js";

/** An event as a delivery carries it. */
export interface WebhookEvent {
  id: string;
  type: string;
  created_at: string;
  env: "test" | "live";
  data: { object: Record<string, unknown> };
}

export type WebhookHeaders =
  | Headers
  | Record<string, string | string[] | undefined>
  | Iterable<[string, string]>;

export interface VerifyOptions {
  /** How far `webhook-timestamp` may be from now, in seconds (default 300). */
  toleranceSecs?: number;
  /** The current time in Unix seconds (default: the clock). */
  now?: number;
}

interface Secret {
  text: string;
  key: Buffer;
}

function parseSecret(text: unknown): Secret {
  if (typeof text !== "string" || !text.startsWith("whsec_")) {
    throw new WebhookVerificationError("invalid_secret", "a webhook secret is whsec_ followed by base64");
  }
  const encoded = text.slice("whsec_".length);
  const key = Buffer.from(encoded, "base64");
  if (key.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) {
    throw new WebhookVerificationError("invalid_secret", "a webhook secret is whsec_ followed by base64");
  }
  return { text, key };
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function" && typeof (headers as Headers).has === "function") {
    return (headers as Headers).get(name) ?? undefined;
  }
  const entries: Iterable<[string, unknown]> =
    Symbol.iterator in (headers as object) ? (headers as Iterable<[string, string]>) : Object.entries(headers);
  const found: string[] = [];
  for (const [key, value] of entries) {
    if (key.toLowerCase() !== name) continue;
    if (Array.isArray(value)) found.push(...value.map(String));
    else if (value !== undefined) found.push(String(value));
  }
  if (found.length > 1) {
    throw new WebhookVerificationError("malformed_header", `the ${name} header is present more than once`);
  }
  return found[0];
}

function equal(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** `v1,` + base64(HMAC-SHA256(decoded secret, `id.timestamp.body`)). */
export function standardSignature(secret: string, msgId: string, timestamp: number, body: Uint8Array): string {
  const mac = createHmac("sha256", parseSecret(secret).key);
  mac.update(`${msgId}.${timestamp}.`);
  mac.update(body);
  return `v1,${mac.digest("base64")}`;
}

/** `sha256=` + hex(HMAC-SHA256(whole secret string, body)). */
export function plainSignature(secret: string, body: Uint8Array): string {
  return `sha256=${createHmac("sha256", Buffer.from(parseSecret(secret).text)).update(body).digest("hex")}`;
}

function rawBytes(rawBody: unknown): Buffer {
  if (typeof rawBody === "string") return Buffer.from(rawBody, "utf8");
  if (rawBody instanceof Uint8Array) return Buffer.from(rawBody.buffer, rawBody.byteOffset, rawBody.byteLength);
  if (rawBody instanceof ArrayBuffer) return Buffer.from(rawBody);
  throw new TypeError(
    "verifyWebhook needs the raw body (a string, Buffer or Uint8Array) exactly as received, not parsed JSON: " +
      "use express.raw({ type: 'application/json' }) or read the request stream",
  );
}

/**
 * Verifies one delivery and returns its event. Throws
 * {@link WebhookVerificationError} with a `reason`: `missing_header`,
 * `malformed_header`, `timestamp_out_of_range`, `invalid_signature`,
 * `invalid_payload` or `invalid_secret`. During a secret rotation pass both
 * the new and the old secret.
 */
export function verifyWebhook(
  rawBody: string | Uint8Array | ArrayBuffer,
  headers: WebhookHeaders,
  secrets: string | readonly string[],
  options: VerifyOptions = {},
): WebhookEvent {
  const list = (typeof secrets === "string" ? [secrets] : [...secrets]).map(parseSecret);
  if (list.length === 0) throw new WebhookVerificationError("invalid_secret", "no webhook secret given");
  const body = rawBytes(rawBody);
  const tolerance = options.toleranceSecs ?? 300;
  const now = options.now ?? Math.floor(Date.now() / 1000);

  const standard = header(headers, "webhook-signature");
  const plain = header(headers, "x-webhook-signature");
  let signedId: string | undefined;
  if (standard !== undefined) {
    const msgId = header(headers, "webhook-id");
    const timestampText = header(headers, "webhook-timestamp");
    if (msgId === undefined || timestampText === undefined) {
      throw new WebhookVerificationError("missing_header", "webhook-signature needs webhook-id and webhook-timestamp");
    }
    if (!/^\d{1,12}$/.test(timestampText.trim())) {
      throw new WebhookVerificationError("malformed_header", "webhook-timestamp is not Unix seconds");
    }
    const timestamp = Number(timestampText.trim());
    if (Math.abs(now - timestamp) > tolerance) {
      throw new WebhookVerificationError("timestamp_out_of_range", "webhook-timestamp is outside the tolerance");
    }
    const candidates = standard.split(" ").filter((c) => /^v1,[A-Za-z0-9+/]+={0,2}$/.test(c));
    if (candidates.length === 0) {
      throw new WebhookVerificationError("malformed_header", "webhook-signature holds no v1 signature");
    }
    const expected = list.map((s) => standardSignature(s.text, msgId, timestamp, body));
    checkAny(candidates, expected);
    signedId = msgId;
  } else if (plain !== undefined) {
    const candidates = plain.split(" ").filter((c) => /^sha256=[0-9a-f]{64}$/.test(c));
    if (candidates.length === 0) {
      throw new WebhookVerificationError("malformed_header", "X-Webhook-Signature holds no sha256=<hex> signature");
    }
    checkAny(candidates, list.map((s) => plainSignature(s.text, body)));
  } else {
    throw new WebhookVerificationError("missing_header", "no webhook-signature or X-Webhook-Signature header");
  }

  let event: WebhookEvent;
  try {
    event = JSON.parse(body.toString("utf8")) as WebhookEvent;
  } catch {
    throw new WebhookVerificationError("invalid_payload", "the signed body is not JSON");
  }
  if (!event || typeof event !== "object" || typeof event.id !== "string" || typeof event.type !== "string") {
    throw new WebhookVerificationError("invalid_payload", "the signed body is not a Paygate event");
  }
  // The signed id and the event's own must agree (receivers dedupe on it).
  if (signedId !== undefined && signedId !== event.id) {
    throw new WebhookVerificationError("invalid_payload", "webhook-id is not the event's id");
  }
  return event;
}

/** Compares every candidate with every expected signature, without stopping early. */
function checkAny(candidates: string[], expected: string[]): void {
  let matched = false;
  for (const candidate of candidates) {
    for (const signature of expected) matched = equal(candidate, signature) || matched;
  }
  if (!matched) throw new WebhookVerificationError("invalid_signature", "no signature matches a configured secret");
}
