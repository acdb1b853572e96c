// What the client refuses and what it never shows: configuration checks,
// credentials kept out of inspect/JSON/error output, object IDs that cannot
// change the route, no server credential in a browser, and the retry
// policy's decisions.

import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Paygate, PaygateConfigError, PaygateError } from "../src/index.js";
import { backoff, DEFAULT_RETRY, retryDelay } from "../src/retry.js";
import { TokenCache, CachedToken } from "../src/auth.js";
import { client, startServer, type TestServer } from "./support.js";

let server: TestServer;

beforeAll(async () => {
  server = await startServer({ PAYGATE_RATE_LIMITS__ENABLED: "false" });
});

afterAll(async () => {
  await server?.stop();
});

describe("configuration", () => {
  const base = () => ({ apiKey: server.key, baseUrl: server.url, ca: server.ca });

  it("refuses anything but a plain https base URL", () => {
    for (const baseUrl of ["http://localhost:8443", "https://u:p@localhost", "https://localhost/?x=1", "https://localhost/#f", "ftp://x", "nope"]) {
      expect(() => new Paygate({ ...base(), baseUrl }), baseUrl).toThrow(PaygateConfigError);
    }
  });

  it("refuses credentials of the wrong shape or of different environments", () => {
    const key = server.key;
    const flipped = key.slice(0, 20) + (key[20] === "a" ? "b" : "a") + key.slice(21);
    expect(() => new Paygate({ ...base(), apiKey: flipped })).toThrow(/not a Paygate API key/);
    expect(() => new Paygate({ ...base(), apiSecret: "sec_test_short" })).toThrow(/not a Paygate API secret/);
    const liveSecret = server.secret.replace("sec_test_", "sec_live_");
    expect(() => new Paygate({ ...base(), apiSecret: liveSecret })).toThrow(/different environments/);
    expect(() => new Paygate({ ...base(), auth: "token" })).toThrow(/merchantId/);
    expect(() => new Paygate({ ...base(), auth: "signed" })).toThrow(/apiSecret/);
    expect(() => new Paygate({ ...base(), ca: "not a certificate" })).toThrow(/PEM/);
  });

  it("refuses to run in a browser with a server credential", () => {
    const g = globalThis as Record<string, unknown>;
    g["window"] = { document: {} };
    try {
      expect(() => new Paygate(base())).toThrow(/refuses to run in a browser/);
    } finally {
      delete g["window"];
    }
    expect(() => new Paygate(base())).not.toThrow();
  });

  it("checks object IDs before they go into a path", async () => {
    const pg = client(server);
    for (const bad of ["../balance", "pay_1?x=1", "pay_1#", "a/b", "pay 1", "pay_%2F", ""]) {
      await expect(async () => pg.payments.retrieve(bad)).rejects.toThrow(PaygateConfigError);
    }
    pg.close();
  });

  it("refuses to let callers set credential headers", async () => {
    const pg = client(server);
    const core = (pg as unknown as { balance: { core: { execute: (...a: unknown[]) => Promise<unknown> } } }).balance.core;
    await expect(core.execute("GET", "/v1/balance", undefined, { headers: { "X-Api-Key": "x" } }, "merchant")).rejects.toThrow(
      PaygateConfigError,
    );
    pg.close();
  });
});

describe("credentials never shown", () => {
  it("not by util.inspect, JSON, or an error", async () => {
    const pg = client(server, { auth: "token" });
    await pg.balance.retrieve();
    const shown = [inspect(pg, { depth: 10, showHidden: true }), JSON.stringify(pg), inspect(pg.payments, { depth: 10 })];
    const bad = new Paygate({ apiKey: server.key, apiSecret: server.secret, baseUrl: server.url, ca: server.ca, merchantId: "MCH-ZZ-000000" });
    const error = await bad.balance.retrieve().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PaygateError);
    shown.push(inspect(error, { depth: 10, showHidden: true }), String(error), JSON.stringify(error), (error as Error).stack ?? "");
    for (const text of shown) {
      expect(text).not.toContain(server.key);
      expect(text).not.toContain(server.secret);
      expect(text).not.toMatch(/Bearer|eyJ/);
    }
    expect(shown[0]).toContain(`${server.key.slice(0, 12)}…`);
    pg.close();
    bad.close();
  });
});

describe("retry policy", () => {
  const answered = (status: number, retryAfter?: number, code?: string) => ({ kind: "answered" as const, status, code, retryAfter });

  it("repeats only what is safe", () => {
    expect(retryDelay(DEFAULT_RETRY, 0, false, { kind: "transport", tls: false })).toBeUndefined();
    expect(retryDelay(DEFAULT_RETRY, 0, false, answered(500))).toBeUndefined();
    expect(retryDelay(DEFAULT_RETRY, 0, false, answered(503, 1))).toBeUndefined();
    expect(retryDelay(DEFAULT_RETRY, 0, true, { kind: "transport", tls: true })).toBeUndefined();
    expect(retryDelay(DEFAULT_RETRY, 0, true, { kind: "transport", tls: false })).toBeDefined();
    expect(retryDelay(DEFAULT_RETRY, 0, true, answered(502))).toBeDefined();
    expect(retryDelay(DEFAULT_RETRY, 0, true, answered(409, undefined, "idempotency_in_progress"))).toBeDefined();
    expect(retryDelay(DEFAULT_RETRY, 0, true, answered(400))).toBeUndefined();
    expect(retryDelay(DEFAULT_RETRY, 0, true, answered(422))).toBeUndefined();
  });

  it("waits for Retry-After on a 429 whatever the method, within bounds", () => {
    const wait = retryDelay(DEFAULT_RETRY, 0, false, answered(429, 3))!;
    expect(wait).toBeGreaterThanOrEqual(3000);
    expect(wait).toBeLessThanOrEqual(3100);
    expect(retryDelay(DEFAULT_RETRY, 0, true, answered(429, 3600))).toBeUndefined();
    expect(retryDelay(DEFAULT_RETRY, 3, true, answered(429, 1))).toBeUndefined();
  });

  it("backs off with full jitter under a doubling cap", () => {
    for (let retry = 0; retry < 3; retry++) {
      for (let i = 0; i < 200; i++) expect(backoff(DEFAULT_RETRY, retry)).toBeLessThanOrEqual(500 * 2 ** retry);
    }
    expect(new Set(Array.from({ length: 50 }, () => backoff(DEFAULT_RETRY, 2))).size).toBeGreaterThan(10);
    expect(Array.from({ length: 200 }, () => backoff(DEFAULT_RETRY, 30)).every((w) => w <= 8000)).toBe(true);
  });
});

describe("token cache", () => {
  it("shares one exchange among concurrent callers, and renews a rejected token once", async () => {
    const cache = new TokenCache();
    let exchanges = 0;
    const exchange = async () => {
      exchanges += 1;
      await new Promise((resolve) => setTimeout(resolve, 30));
      return new CachedToken({ access_token: "t", token_type: "Bearer", expires_in: 60, session_id: "s" }, Date.now());
    };
    const tokens = await Promise.all(Array.from({ length: 20 }, () => cache.get(undefined, exchange)));
    expect(exchanges).toBe(1);
    expect(new Set(tokens).size).toBe(1);
    await Promise.all([cache.get(tokens[0], exchange), cache.get(tokens[0], exchange)]);
    expect(exchanges).toBe(2);
    expect(inspect(tokens[0])).not.toContain("'t'");
  });
});
