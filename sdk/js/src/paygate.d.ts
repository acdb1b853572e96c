/** Error thrown for a refused misuse or an API error answer. */
export class PaygateError extends Error {
  code: string;
  status: number;
  requestId: string | null;
  detail: string | null;
}

/** Throws a PaygateError if `value` looks like a server key (sk_...) or secret (sec_...). */
export function assertBrowserSafe(name: string, value: unknown): void;

/** hex(HMAC-SHA256(secret, METHOD + PATH + BODY + TIMESTAMP)) with WebCrypto. */
export function signRequest(
  secret: string,
  method: string,
  pathAndQuery: string,
  body: string | Uint8Array | undefined,
  timestamp: string | number,
): Promise<string>;

export interface Card {
  number: string;
  exp_month: number;
  exp_year: number;
  cvc: string;
}

export interface CheckoutOptions {
  baseUrl?: string;
  sessionToken: string;
  sessionSecret: string;
  fetch?: typeof fetch;
  now?: () => number;
}

export class PaygateCheckout {
  constructor(options: CheckoutOptions);
  getSession(): Promise<Record<string, unknown>>;
  pay(payment: { method: "card"; card: Card } | { method: "crypto" }): Promise<Record<string, unknown>>;
  realtimeToken(): Promise<{ ws_token: string; expires_in: number }>;
}

export interface RealtimeOptions {
  baseUrl?: string;
  wsToken: string;
  onEvent?: (event: { id: string; type: string; created_at: string; env: string; data: { object: unknown } }) => void;
  onClose?: (event: CloseEvent) => void;
  WebSocketImpl?: typeof WebSocket;
}

export function connectRealtime(options: RealtimeOptions): WebSocket;
