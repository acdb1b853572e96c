// Request signatures: `hex(HMAC-SHA256(secret, METHOD + PATH + BODY +
// TIMESTAMP))`, as docs/authentication.md describes, and the nonce that
// keeps two identical requests in one second from sharing a signature.

import { createHmac, randomBytes } from "node:crypto";

/**
 * The `x-signature` of one request. `path` is the request target exactly as
 * sent (path, plus `?` and the query); `body` the raw body ("" when none);
 * `timestamp` the decimal Unix seconds sent as `x-timestamp`.
 */
export function signRequest(
  secret: string,
  method: string,
  path: string,
  body: string | Uint8Array,
  timestamp: string,
): string {
  const mac = createHmac("sha256", Buffer.from(secret, "utf8"));
  mac.update(method.toUpperCase());
  mac.update(path);
  mac.update(typeof body === "string" ? Buffer.from(body, "utf8") : body);
  mac.update(timestamp);
  return mac.digest("hex");
}

/** 32 random hex characters. */
export function nonce(): string {
  return randomBytes(16).toString("hex");
}
