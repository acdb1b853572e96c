// Retries against a real server: a 429 waited out as Retry-After says, an
// answer lost after the server acted retried into one object (the same
// Idempotency-Key, replayed), and TLS verification that nothing turns off.

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Paygate, PaygateConnectionError, PaygateError } from "../src/index.js";
import { CARD_OK, RecordingProxy, client, startServer, type TestServer } from "./support.js";

let server: TestServer;
let limited: TestServer;

beforeAll(async () => {
  [server, limited] = await Promise.all([
    startServer({ PAYGATE_RATE_LIMITS__ENABLED: "false" }),
    // Three requests per 3 s per client IP on the standard tier.
    startServer({ PAYGATE_RATE_LIMITS__STANDARD__LIMIT: "3", PAYGATE_RATE_LIMITS__STANDARD__WINDOW_SECS: "3" }),
  ]);
});

afterAll(async () => {
  await server?.stop();
  await limited?.stop();
});

describe("rate limits", () => {
  it("a 429 is waited out as Retry-After says, then the call succeeds", async () => {
    const proxy = await RecordingProxy.start(limited);
    const pg = client(limited, { baseUrl: proxy.url });
    try {
      const started = Date.now();
      for (let i = 0; i < 5; i++) expect((await pg.balance.retrieve()).object).toBe("balance");
      const refused = proxy.seen.filter((s) => s.status === 429);
      expect(refused.length).toBeGreaterThanOrEqual(1);
      const retryAfter = Number(refused[0]!.responseHeaders!["retry-after"]);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      // Nothing was sent again before the time the server gave.
      const refusedAt = proxy.seen.indexOf(refused[0]!);
      expect(proxy.seen[refusedAt + 1]?.status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(retryAfter * 1000 - 50);
    } finally {
      pg.close();
      await proxy.stop();
    }
  });

  it("with retries off, a 429 is a PaygateError carrying retryAfter", async () => {
    const pg = client(limited, { retry: { maxRetries: 0 } });
    let error: unknown;
    for (let i = 0; i < 6 && !error; i++) error = await pg.balance.retrieve().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(PaygateError);
    expect(error).toMatchObject({ status: 429, code: "rate_limited" });
    expect((error as PaygateError).retryAfter).toBeGreaterThanOrEqual(1);
    pg.close();
  });
});

describe("a lost answer", () => {
  it("to a POST is retried into one object, with the same Idempotency-Key", async () => {
    const proxy = await RecordingProxy.start(server);
    const pg = client(server, { baseUrl: proxy.url, retry: { baseDelayMs: 50 } });
    const order = randomUUID();
    let dropped = 0;
    proxy.rules = { dropAnswer: (seen) => seen.method === "POST" && seen.url.startsWith("/v1/payments") && dropped++ === 0 };
    try {
      const payment = await pg.payments.create({ amount: 4321, currency: "USD", method: "card", card: CARD_OK, metadata: { order } });
      const posts = proxy.calls("POST", "/v1/payments");
      expect(posts).toHaveLength(2);
      expect(posts[0]!.dropped).toBe(true);
      expect(posts[0]!.status).toBe(200);
      expect(posts[1]!.headers["idempotency-key"]).toBe(posts[0]!.headers["idempotency-key"]);
      expect(posts[1]!.responseHeaders!["idempotent-replayed"]).toBe("true");
      // Each attempt is signed afresh.
      expect(posts[1]!.headers["x-signature"]).not.toBe(posts[0]!.headers["x-signature"]);
      const mine = (await pg.payments.list({ limit: 100 }).toArray()).filter((p) => p.metadata["order"] === order);
      expect(mine.map((p) => p.id)).toEqual([payment.id]);
    } finally {
      pg.close();
      await proxy.stop();
    }
  });

  it("to a DELETE is not retried", async () => {
    const proxy = await RecordingProxy.start(server);
    const pg = client(server, { baseUrl: proxy.url, retry: { baseDelayMs: 50 } });
    const endpoint = await pg.webhookEndpoints.create({ url: "https://hooks.example.com/x", events: ["*"] });
    proxy.rules = { dropAnswer: (seen) => seen.method === "DELETE" };
    try {
      await expect(pg.webhookEndpoints.del(endpoint.id)).rejects.toBeInstanceOf(PaygateConnectionError);
      expect(proxy.seen.filter((s) => s.method === "DELETE")).toHaveLength(1);
    } finally {
      pg.close();
      await proxy.stop();
    }
  });
});

describe("answers that are not the server's", () => {
  it("a 503 with Retry-After is waited out for a GET; a proxy's HTML page is a PaygateError by status", async () => {
    const proxy = await RecordingProxy.start(server);
    const pg = client(server, { baseUrl: proxy.url, retry: { baseDelayMs: 20 } });
    let n = 0;
    proxy.rules = { answer: (seen) => (seen.url.startsWith("/v1/balance") && n++ === 0 ? { status: 503, headers: { "retry-after": "1" }, body: "" } : undefined) };
    try {
      const started = Date.now();
      expect((await pg.balance.retrieve()).object).toBe("balance");
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      proxy.rules = { answer: () => ({ status: 502, headers: { "content-type": "text/html" }, body: "<html>Bad gateway</html>" }) };
      const error = await pg.balance.retrieve().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PaygateError);
      expect(error).toMatchObject({ status: 502, code: "unexpected_response" });
      // Three retries after the first attempt.
      expect(proxy.calls("GET", "/v1/balance").filter((s) => s.status === 502)).toHaveLength(4);
    } finally {
      pg.close();
      await proxy.stop();
    }
  });
});

describe("timeouts", () => {
  it("an attempt that gets no answer ends at timeoutMs, and a GET is tried again", async () => {
    const proxy = await RecordingProxy.start(server);
    const pg = client(server, { baseUrl: proxy.url, timeoutMs: 300, retry: { maxRetries: 1, baseDelayMs: 10 } });
    proxy.rules = { stall: () => true };
    try {
      const started = Date.now();
      const error = await pg.balance.retrieve().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PaygateConnectionError);
      expect((error as PaygateConnectionError).errno).toBe("ETIMEDOUT");
      expect(proxy.calls("GET", "/v1/balance")).toHaveLength(2);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      pg.close();
      await proxy.stop();
    }
  });
});

describe("TLS", () => {
  it("refuses a server it cannot verify, even with NODE_TLS_REJECT_UNAUTHORIZED=0, and does not retry", async () => {
    const saved = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
    const pg = new Paygate({ apiKey: server.key, baseUrl: server.url });
    try {
      const started = Date.now();
      const error = await pg.balance.retrieve().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PaygateConnectionError);
      expect((error as PaygateConnectionError).tls).toBe(true);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      if (saved === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = saved;
      pg.close();
    }
  });
});
