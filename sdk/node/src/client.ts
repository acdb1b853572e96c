// The Paygate client: checks its configuration (https-only base URL,
// credential shapes, matching environments, no server credential in a
// browser), then exposes each group of routes as an attribute. Its
// credentials live in private fields; `util.inspect` and JSON show a masked
// key prefix only.

import { type AuthMode } from "./auth.js";
import { Core, Credentials } from "./core.js";
import { apiKeyEnvironment, apiSecretEnvironment, type Environment, maskKey, refuseInBrowser } from "./credentials.js";
import { PaygateConfigError } from "./errors.js";
import { DEFAULT_RETRY, type RetryPolicy } from "./retry.js";
import { Balance, CheckoutSessions, Payments, TestHelpers, Wallet, Withdrawals } from "./resources/money.js";
import { BalanceTransactions, Refunds } from "./resources/refunds.js";
import { ApiKeys, AuditEvents, AuthSessions, Health, LeakedKeys, Lockdown, SecurityPolicy } from "./resources/security.js";
import { Events, RealtimeTokens, WebhookEndpoints } from "./resources/webhooks.js";
import { parseBaseUrl, Transport } from "./transport.js";

export interface PaygateOptions {
  /** The API key, `sk_test_...` or `sk_live_...`. */
  apiKey: string;
  /** The API secret, `sec_...`: every request is then signed; the secret itself is never sent. */
  apiSecret?: string;
  /** The merchant ID (`MCH-ZA-7K2Q9X`): sent with the key; required for `auth: "token"`. */
  merchantId?: string;
  /** The server, e.g. `https://localhost:8443` (https only). */
  baseUrl: string;
  /** Extra CA certificates (PEM) to trust beside Node's bundled roots, e.g. a sandbox's `cert.pem`. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** `"key"` (default), `"token"` (short-lived access tokens) or `"signed"` (requires `apiSecret`). */
  auth?: AuthMode;
  /** The limit of one attempt in ms (default 30 000). */
  timeoutMs?: number;
  /** How failed attempts are retried (default 3 retries, 500 ms doubling backoff, Retry-After up to 60 s). */
  retry?: Partial<RetryPolicy>;
}

export class Paygate {
  readonly #core: Core;
  readonly environment: Environment;

  readonly payments: Payments;
  readonly checkoutSessions: CheckoutSessions;
  readonly withdrawals: Withdrawals;
  readonly wallet: Wallet;
  readonly balance: Balance;
  readonly testHelpers: TestHelpers;
  readonly refunds: Refunds;
  readonly balanceTransactions: BalanceTransactions;
  readonly webhookEndpoints: WebhookEndpoints;
  readonly events: Events;
  readonly realtimeTokens: RealtimeTokens;
  readonly apiKeys: ApiKeys;
  readonly authSessions: AuthSessions;
  readonly auditEvents: AuditEvents;
  readonly securityPolicy: SecurityPolicy;
  readonly lockdown: Lockdown;
  readonly leakedKeys: LeakedKeys;
  readonly health: Health;

  constructor(options: PaygateOptions) {
    if (!options || typeof options !== "object") throw new PaygateConfigError("new Paygate({ apiKey, baseUrl, ... })");
    const { apiKey, apiSecret, merchantId, baseUrl } = options;
    refuseInBrowser([apiKey, apiSecret]);
    const auth = options.auth ?? "key";
    if (!["key", "token", "signed"].includes(auth)) throw new PaygateConfigError('auth is "key", "token" or "signed"');
    const endpoint = parseBaseUrl(baseUrl);
    const environment = typeof apiKey === "string" ? apiKeyEnvironment(apiKey) : undefined;
    if (!environment) throw new PaygateConfigError("apiKey is not a Paygate API key (sk_test_... or sk_live_...)");
    if (apiSecret !== undefined) {
      const secretEnvironment = typeof apiSecret === "string" ? apiSecretEnvironment(apiSecret) : undefined;
      if (!secretEnvironment) throw new PaygateConfigError("apiSecret is not a Paygate API secret (sec_test_... or sec_live_...)");
      if (secretEnvironment !== environment) throw new PaygateConfigError("the API key and secret belong to different environments");
    }
    if (auth === "signed" && apiSecret === undefined) throw new PaygateConfigError('auth: "signed" needs apiSecret');
    if (auth === "token" && !merchantId) throw new PaygateConfigError('auth: "token" needs merchantId');
    if (merchantId !== undefined && !/^MCH-[A-Z]{2}-[0-9A-Z]{6}$/.test(merchantId)) {
      throw new PaygateConfigError("merchantId is MCH-{country}-{6 characters}, e.g. MCH-ZA-7K2Q9X");
    }
    const timeoutMs = options.timeoutMs ?? 30_000;
    const transport = new Transport(endpoint, { ca: options.ca, timeoutMs });
    const credentials = new Credentials(apiKey, apiSecret, merchantId, maskKey(apiKey));
    this.#core = new Core(endpoint, credentials, transport, auth === "token", { ...DEFAULT_RETRY, ...options.retry });
    this.environment = environment;
    const core = this.#core;
    this.payments = new Payments(core);
    this.checkoutSessions = new CheckoutSessions(core);
    this.withdrawals = new Withdrawals(core);
    this.wallet = new Wallet(core);
    this.balance = new Balance(core);
    this.testHelpers = new TestHelpers(core);
    this.refunds = new Refunds(core);
    this.balanceTransactions = new BalanceTransactions(core);
    this.webhookEndpoints = new WebhookEndpoints(core);
    this.events = new Events(core);
    this.realtimeTokens = new RealtimeTokens(core);
    this.apiKeys = new ApiKeys(core);
    this.authSessions = new AuthSessions(core);
    this.auditEvents = new AuditEvents(core);
    this.securityPolicy = new SecurityPolicy(core);
    this.lockdown = new Lockdown(core);
    this.leakedKeys = new LeakedKeys(core);
    this.health = new Health(core);
  }

  /** Closes idle keep-alive connections (a process exits sooner). */
  close(): void {
    this.#core.close();
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    const c = this.#core.credentials.toJSON();
    return `Paygate { baseUrl: '${this.#core.endpoint.origin}${this.#core.endpoint.prefix}', environment: '${this.environment}', key: '${String(c["key"])}', signed: ${String(c["signed"])} }`;
  }

  toJSON(): Record<string, unknown> {
    return { baseUrl: `${this.#core.endpoint.origin}${this.#core.endpoint.prefix}`, environment: this.environment, credentials: this.#core.credentials.toJSON() };
  }
}
