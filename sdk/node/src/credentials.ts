// The shapes of Paygate's credentials, checked before anything is sent (an
// API key's prefix, length, alphabet and checksum; a secret's prefix and
// length), their masked forms for display, and the refusal to hold a server
// credential in a browser.

import { PaygateConfigError } from "./errors.js";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const KEY_RANDOM_LEN = 30;
const KEY_CHECKSUM_LEN = 6;

export type Environment = "test" | "live";

let crcTable: Uint32Array | undefined;

function crc32(text: string): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of Buffer.from(text, "utf8")) {
    crc = (crcTable[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function keyChecksum(random: string): string {
  let n = crc32(random);
  let out = "";
  for (let i = 0; i < KEY_CHECKSUM_LEN; i++) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

/** The environment of a well-formed API key (`sk_test_`/`sk_live_` + 30 random + 6 checksum), or `undefined`. */
export function apiKeyEnvironment(key: string): Environment | undefined {
  const match = /^sk_(test|live)_([0-9A-Za-z]{36})$/.exec(key);
  if (!match) return undefined;
  const body = match[2] ?? "";
  const random = body.slice(0, KEY_RANDOM_LEN);
  return body.slice(KEY_RANDOM_LEN) === keyChecksum(random) ? (match[1] as Environment) : undefined;
}

/** The environment of a well-formed API secret (`sec_test_`/`sec_live_` + 43 base64url), or `undefined`. */
export function apiSecretEnvironment(secret: string): Environment | undefined {
  const match = /^sec_(test|live)_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/.exec(secret);
  return match ? (match[1] as Environment) : undefined;
}

/** `sk_test_AbCd…wxyz`: enough to tell keys apart, nothing to use. */
export function maskKey(key: string): string {
  const prefix = key.startsWith("sk_live_") ? "sk_live_" : "sk_test_";
  return `${prefix}${key.slice(8, 12)}…${key.slice(-4)}`;
}

const SERVER_CREDENTIAL = /\b(sk|sec)_(test|live)_/;

/** Whether this code runs in a browser (a window with a document, or a web worker). */
export function inBrowser(): boolean {
  const g = globalThis as Record<string, unknown>;
  const win = g["window"] as { document?: unknown } | undefined;
  const workerScope = typeof g["importScripts"] === "function" && typeof g["WorkerGlobalScope"] !== "undefined";
  return (typeof win === "object" && win !== null && typeof win.document !== "undefined") || workerScope;
}

/**
 * Refuses a server credential (`sk_...`, `sec_...`) in a browser: anyone who
 * opens the page could read it. Payor pages use a checkout session and the
 * browser SDK (`@paygate/browser`) instead.
 */
export function refuseInBrowser(values: Array<string | undefined>): void {
  if (!inBrowser()) return;
  if (values.some((v) => typeof v === "string" && SERVER_CREDENTIAL.test(v))) {
    throw new PaygateConfigError(
      "@paygate/node refuses to run in a browser with a server credential (sk_... or sec_...): " +
        "anyone who opens the page could read it. Keep keys on your server; give the browser a " +
        "checkout session (session_token and session_secret) and use @paygate/browser there.",
    );
  }
}
