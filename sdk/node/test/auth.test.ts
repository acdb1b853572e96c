// The three auth modes against a real server: one token exchange for 20
// concurrent calls, renewal before expiry, signatures accepted, a body
// altered on its way refused, and an identical request replayed refused.

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { PaygateError } from "../src/index.js";
import { CARD_OK, RecordingProxy, client, startServer, type TestServer } from "./support.js";

let server: TestServer;
let proxy: RecordingProxy;

beforeAll(async () => {
  // Tokens live 12 s, so the client renews them after 6 s (half-way, under 20 s).
  server = await startServer({ PAYGATE_AUTH__TOKEN_TTL_SECS: "12", PAYGATE_RATE_LIMITS__ENABLED: "false" });
  proxy = await RecordingProxy.start(server);
});

afterAll(async () => {
  await proxy?.stop();
  await server?.stop();
});

describe("token auth", () => {
  it("makes one exchange for 20 concurrent calls, then sends only the token", async () => {
    const pg = client(server, { baseUrl: proxy.url, auth: "token", apiSecret: undefined });
    const sessionsMade = async () =>
      (await client(server).auditEvents.list({ limit: 100 }).toArray(5000)).filter((a) => a.action === "session.created").length;
    const sessionsBefore = await sessionsMade();
    const before = proxy.seen.length;
    const balances = await Promise.all(Array.from({ length: 20 }, () => pg.balance.retrieve()));
    expect(balances.every((b) => b.object === "balance")).toBe(true);
    const seen = proxy.seen.slice(before);
    expect(seen.filter((s) => s.url.startsWith("/v1/auth/token"))).toHaveLength(1);
    const calls = seen.filter((s) => s.url.startsWith("/v1/balance"));
    expect(calls).toHaveLength(20);
    for (const call of calls) {
      expect(call.headers["authorization"]).toMatch(/^Bearer ey/);
      expect(call.headers["x-session-id"]).toMatch(/^[0-9a-f-]{36}$/);
      expect(call.headers["x-api-key"]).toBeUndefined();
      expect(call.status).toBe(200);
    }
    // The server's own audit log agrees: one session made for the 20 calls.
    expect((await sessionsMade()) - sessionsBefore).toBe(1);
    pg.close();
  });

  it("renews the token before it expires, with one exchange", async () => {
    const pg = client(server, { baseUrl: proxy.url, auth: "token", apiSecret: undefined });
    await pg.balance.retrieve();
    const exchanges = () => proxy.calls("POST", "/v1/auth/token").length;
    const afterFirst = exchanges();
    await pg.balance.retrieve();
    expect(exchanges()).toBe(afterFirst);
    await new Promise((resolve) => setTimeout(resolve, 6_500));
    await Promise.all(Array.from({ length: 5 }, () => pg.balance.retrieve()));
    expect(exchanges()).toBe(afterFirst + 1);
    pg.close();
  });

  it("renews at once, with one exchange, when the server answers token_expired", async () => {
    const pg = client(server, { baseUrl: proxy.url, auth: "token", apiSecret: undefined });
    await pg.balance.retrieve();
    const exchanges = () => proxy.calls("POST", "/v1/auth/token").length;
    const before = exchanges();
    let refused = 0;
    proxy.rules = {
      answer: (seen) =>
        seen.url.startsWith("/v1/balance") && refused++ === 0
          ? { status: 401, headers: { "content-type": "application/problem+json" }, body: JSON.stringify({ status: 401, code: "token_expired", title: "Token expired", detail: "The access token has expired.", request_id: "req_x" }) }
          : undefined,
    };
    try {
      expect((await pg.balance.retrieve()).object).toBe("balance");
    } finally {
      proxy.rules = {};
    }
    expect(exchanges()).toBe(before + 1);
    const [last] = proxy.calls("GET", "/v1/balance").slice(-1);
    expect(last!.status).toBe(200);
    pg.close();
  });

  it("signs the exchange and every call when given the secret", async () => {
    const pg = client(server, { baseUrl: proxy.url, auth: "token" });
    await pg.payments.list({ limit: 1 });
    const [exchange] = proxy.calls("POST", "/v1/auth/token").slice(-1);
    const [list] = proxy.calls("GET", "/v1/payments").slice(-1);
    for (const call of [exchange!, list!]) {
      expect(call.headers["x-signature"]).toMatch(/^[0-9a-f]{64}$/);
      expect(call.status).toBe(200);
    }
    pg.close();
  });
});

describe("signed requests", () => {
  it("are accepted: a fresh timestamp, nonce and signature per request, never the secret", async () => {
    const pg = client(server, { baseUrl: proxy.url, auth: "signed" });
    const before = proxy.seen.length;
    await pg.balance.retrieve();
    await pg.balance.retrieve();
    const [a, b] = proxy.seen.slice(before);
    for (const call of [a!, b!]) {
      expect(call.status).toBe(200);
      expect(call.headers["x-timestamp"]).toMatch(/^\d{10}$/);
      expect(call.headers["x-api-secret"]).toBeUndefined();
      expect(JSON.stringify(call.headers)).not.toContain(server.secret);
      expect(call.url).toMatch(/^\/v1\/balance\?n=[0-9a-f]{32}$/);
    }
    expect(a!.headers["x-signature"]).not.toBe(b!.headers["x-signature"]);
    pg.close();
  });

  it("are refused when the body is altered on the way", async () => {
    const pg = client(server, { baseUrl: proxy.url, auth: "signed", retry: { maxRetries: 0 } });
    proxy.rules = {
      rewriteBody: (seen) => (seen.url.startsWith("/v1/payments") ? Buffer.from(seen.body.toString().replace("1234", "9999")) : undefined),
    };
    try {
      const refused = await pg.payments.create({ amount: 1234, currency: "USD", method: "card", card: CARD_OK }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(PaygateError);
      expect(refused).toMatchObject({ status: 401, code: "invalid_signature" });
      expect((refused as PaygateError).requestId).toMatch(/^req_/);
    } finally {
      proxy.rules = {};
    }
    const payments = await pg.payments.list({ limit: 100 }).toArray();
    expect(payments.some((p) => p.amount === 9999 || p.amount === 1234)).toBe(false);
    pg.close();
  });

  it("are refused when replayed as sent", async () => {
    const pg = client(server, { baseUrl: proxy.url, auth: "signed" });
    await pg.balance.retrieve();
    const [sent] = proxy.calls("GET", "/v1/balance").slice(-1);
    const { request } = await import("node:https");
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}${sent!.url}`, { headers: sent!.headers, ca: server.ca }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(401);
    pg.close();
  });
});

describe("a merchant's security policy", () => {
  it("requiring signatures refuses the key alone and accepts signed requests", async () => {
    const signed = client(server);
    const keyOnly = client(server, { apiSecret: undefined });
    await signed.securityPolicy.update({ require_signature: true });
    try {
      await expect(keyOnly.balance.retrieve()).rejects.toMatchObject({ status: 401, code: "signature_required" });
      expect((await signed.balance.retrieve()).object).toBe("balance");
    } finally {
      await signed.securityPolicy.update({ require_signature: false });
    }
    expect((await keyOnly.balance.retrieve()).object).toBe("balance");
    signed.close();
    keyOnly.close();
  });

  it("requiring tokens refuses the key alone and accepts token clients", async () => {
    const admin = client(server);
    const keyOnly = client(server, { apiSecret: undefined });
    const tokens = client(server, { apiSecret: undefined, auth: "token" });
    await admin.securityPolicy.update({ require_token: true });
    try {
      await expect(keyOnly.balance.retrieve()).rejects.toMatchObject({ status: 401, code: "missing_credentials" });
      expect((await tokens.balance.retrieve()).object).toBe("balance");
    } finally {
      await tokens.securityPolicy.update({ require_token: false });
    }
    admin.close();
    keyOnly.close();
    tokens.close();
  });
});
