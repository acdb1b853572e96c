// Paygate's browser SDK.
//
// A payor's browser holds only the two values of one checkout session: its
// `session_token` (cst_...) and `session_secret` (cs_secret_...). Every payor
// request is signed with the session secret (docs/api.md sections 4.3 and 9):
//
//   x-signature = hex(HMAC-SHA256(secret, METHOD + PATH + BODY + TIMESTAMP))
//
// Server credentials (sk_..., sec_...) never belong in a browser: the SDK
// refuses to start when handed anything shaped like one.

const SERVER_CREDENTIAL = /\b(sk|sec)_(test|live)_/;

/** Error thrown for a misuse the SDK refuses, or an API error answer. */
export class PaygateError extends Error {
  constructor(message, { code = "sdk_refused", status = 0, requestId = null, detail = null } = {}) {
    super(message);
    this.name = "PaygateError";
    this.code = code;
    this.status = status;
    this.requestId = requestId;
    this.detail = detail;
  }
}

/** Throws if `value` looks like a server API key or secret. */
export function assertBrowserSafe(name, value) {
  if (typeof value === "string" && SERVER_CREDENTIAL.test(value)) {
    const kind = /\bsk_/.test(value) ? "a server API key (sk_...)" : "a server API secret (sec_...)";
    throw new PaygateError(
      `${name} looks like ${kind}. Server credentials belong on your server only: ` +
        "create a checkout session there (POST /v1/checkout/sessions) and give the browser " +
        "its session_token (cst_...) and session_secret, nothing else.",
    );
  }
}

const encoder = new TextEncoder();

function toHex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

function subtle() {
  const crypto = globalThis.crypto;
  if (!crypto || !crypto.subtle) {
    throw new PaygateError("WebCrypto is not available: Paygate needs a secure context (https).");
  }
  return crypto.subtle;
}

/**
 * The request signature: lowercase hex HMAC-SHA256 keyed with the whole
 * secret string, over METHOD + PATH (with query) + BODY + TIMESTAMP.
 */
export async function signRequest(secret, method, pathAndQuery, body, timestamp) {
  const key = await subtle().importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const bodyBytes = typeof body === "string" ? encoder.encode(body) : body ?? new Uint8Array();
  const head = encoder.encode(String(method).toUpperCase() + pathAndQuery);
  const tail = encoder.encode(String(timestamp));
  const message = new Uint8Array(head.length + bodyBytes.length + tail.length);
  message.set(head, 0);
  message.set(bodyBytes, head.length);
  message.set(tail, head.length + bodyBytes.length);
  return toHex(await subtle().sign("HMAC", key, message));
}

/** A payor's view of one checkout session. */
export class PaygateCheckout {
  /**
   * @param {{ baseUrl?: string, sessionToken: string, sessionSecret: string, fetch?: typeof fetch, now?: () => number }} options
   */
  constructor({ baseUrl = "", sessionToken, sessionSecret, fetch: fetchImpl, now } = {}) {
    assertBrowserSafe("sessionToken", sessionToken);
    assertBrowserSafe("sessionSecret", sessionSecret);
    assertBrowserSafe("baseUrl", baseUrl);
    if (typeof sessionToken !== "string" || !sessionToken.startsWith("cst_")) {
      throw new PaygateError("sessionToken must be the checkout session's session_token (cst_...).");
    }
    if (typeof sessionSecret !== "string" || sessionSecret.length < 16) {
      throw new PaygateError("sessionSecret must be the checkout session's session_secret.");
    }
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.sessionToken = sessionToken;
    this.sessionSecret = sessionSecret;
    this.fetch = fetchImpl ?? globalThis.fetch.bind(globalThis);
    this.now = now ?? (() => Math.floor(Date.now() / 1000));
  }

  /** `GET /v1/payor/session`: the session's amount, currency and status. */
  getSession() {
    return this.#send("GET", "/v1/payor/session", undefined);
  }

  /** `POST /v1/payor/session/pay`: pay with `{ method: "card", card }` or `{ method: "crypto" }`. */
  pay(payment) {
    for (const value of Object.values(payment?.card ?? {})) assertBrowserSafe("card", value);
    return this.#send("POST", "/v1/payor/session/pay", JSON.stringify(payment));
  }

  /**
   * `POST /v1/payor/session/realtime`: a socket token for this session's
   * events only (for pages without a server of their own).
   */
  realtimeToken() {
    return this.#send("POST", "/v1/payor/session/realtime", undefined);
  }

  async #send(method, path, body) {
    // A query that changes each call keeps two identical requests in the
    // same second from sharing a signature (which the server refuses as a replay).
    const nonce = (globalThis.crypto?.randomUUID?.() ?? String(Math.random()).slice(2)).replace(/-/g, "");
    const target = `${path}?n=${nonce}`;
    const timestamp = String(this.now());
    const signature = await signRequest(this.sessionSecret, method, target, body ?? "", timestamp);
    // `body` stays undefined for a bodiless request, so no content type is sent.
    const headers = { "x-session-token": this.sessionToken, "x-timestamp": timestamp, "x-signature": signature };
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await this.fetch(this.baseUrl + target, { method, headers, body, credentials: "omit" });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      throw new PaygateError(data?.detail ?? `HTTP ${response.status}`, {
        code: data?.code ?? "http_error",
        status: response.status,
        requestId: data?.request_id ?? null,
        detail: data?.detail ?? null,
      });
    }
    return data;
  }
}

/**
 * Opens the realtime socket with a `ws_token` minted by the merchant's
 * server (POST /v1/realtime/tokens) and calls `onEvent` with each event,
 * the same objects webhooks deliver. Returns the WebSocket.
 */
export function connectRealtime({ baseUrl = "", wsToken, onEvent, onClose, WebSocketImpl } = {}) {
  assertBrowserSafe("wsToken", wsToken);
  if (typeof wsToken !== "string" || !wsToken.startsWith("wst_")) {
    throw new PaygateError("wsToken must be a realtime token (wst_...) minted by your server.");
  }
  const origin = baseUrl || globalThis.location?.origin || "";
  const url = new URL("/v1/realtime", origin);
  url.protocol = url.protocol === "http:" ? "ws:" : "wss:";
  url.searchParams.set("ws_token", wsToken);
  const Socket = WebSocketImpl ?? globalThis.WebSocket;
  const socket = new Socket(url.toString());
  socket.addEventListener("message", (message) => {
    try {
      onEvent?.(JSON.parse(message.data));
    } catch {
      // Not an event: ignore.
    }
  });
  if (onClose) socket.addEventListener("close", onClose);
  return socket;
}
