// The ways a client authenticates (docs/authentication.md) and the cache of
// access tokens.
//
// - "key": `x-api-key` (and `x-merchant-id` when given) on every request.
// - "token": the key goes only to POST /v1/auth/token; other requests carry
//   `Authorization: Bearer` and `x-session-id`. A token is reused until about
//   10 s before it expires, and renewed at once when the server answers
//   `token_expired`. Callers that need a new token at the same moment share
//   one exchange.
// - "signed": the key, plus a fresh `x-timestamp` and `x-signature` on every
//   attempt. With an API secret configured every request is signed, whichever
//   of "key" and "token" is chosen; "signed" only insists that there is one.

export type AuthMode = "key" | "token" | "signed";

/** Tokens are renewed this long (ms) before they expire. */
export const REFRESH_MARGIN_MS = 10_000;

export interface TokenGrant {
  access_token: string;
  token_type: string;
  expires_in: number;
  session_id: string;
}

/** An access token and its session, as cached. */
export class CachedToken {
  readonly #accessToken: string;
  readonly sessionId: string;
  readonly renewAt: number;

  constructor(grant: TokenGrant, startedAt: number) {
    this.#accessToken = grant.access_token;
    this.sessionId = grant.session_id;
    const lifeMs = grant.expires_in * 1000;
    // Renew 10 s early; a token shorter-lived than 20 s is renewed half-way.
    this.renewAt = startedAt + (lifeMs > 2 * REFRESH_MARGIN_MS ? lifeMs - REFRESH_MARGIN_MS : lifeMs / 2);
  }

  bearer(): string {
    return `Bearer ${this.#accessToken}`;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `CachedToken { sessionId: '${this.sessionId}', accessToken: '[redacted]' }`;
  }

  toJSON(): Record<string, unknown> {
    return { sessionId: this.sessionId, accessToken: "[redacted]" };
  }
}

/**
 * The current token, and the one exchange in flight: callers that find the
 * token stale while an exchange runs wait for that one instead of starting
 * their own.
 */
export class TokenCache {
  #current: CachedToken | undefined;
  #pending: Promise<CachedToken> | undefined;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** The cached token if fresh and not `rejected`; otherwise the result of one shared `exchange`. */
  async get(rejected: CachedToken | undefined, exchange: () => Promise<CachedToken>): Promise<CachedToken> {
    const current = this.#current;
    if (current && current !== rejected && this.#now() < current.renewAt) return current;
    if (!this.#pending) {
      this.#pending = exchange()
        .then((fresh) => {
          this.#current = fresh;
          return fresh;
        })
        .finally(() => {
          this.#pending = undefined;
        });
    }
    return this.#pending;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "TokenCache { [redacted] }";
  }
}
