// Every merchant route of the served OpenAPI document, called through the
// SDK against a real server. The calls go through a recording proxy, and the
// last test checks that each documented method and path was answered 2xx.

import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { fetchDocument } from "../scripts/generate-types.mjs";
import { Paygate, PaygateError } from "../src/index.js";
import { CARD_OK, IBAN, RecordingProxy, client, startServer, type TestServer } from "./support.js";

let server: TestServer;
let proxy: RecordingProxy;
let pg: Paygate;

beforeAll(async () => {
  server = await startServer({ PAYGATE_RATE_LIMITS__ENABLED: "false" });
  proxy = await RecordingProxy.start(server);
  pg = client(server, { baseUrl: proxy.url });
});

afterAll(async () => {
  pg?.close();
  await proxy?.stop();
  await server?.stop();
});

/** A test-network `vpub` from BIP84's published `zpub` (same key, version bytes swapped). */
function testVpub(): string {
  const ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  const zpub = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs";
  let n = 0n;
  for (const c of zpub) n = n * 58n + BigInt(ALPHABET.indexOf(c));
  const bytes = Buffer.from(n.toString(16).padStart(164, "0"), "hex");
  const payload = Buffer.concat([Buffer.from("045f1cf6", "hex"), bytes.subarray(4, 78)]);
  const sha = (b: Buffer) => createHash("sha256").update(b).digest();
  const full = Buffer.concat([payload, sha(sha(payload)).subarray(0, 4)]);
  let m = BigInt(`0x${full.toString("hex")}`);
  let out = "";
  while (m > 0n) {
    out = ALPHABET[Number(m % 58n)] + out;
    m /= 58n;
  }
  return out;
}

describe("every route", () => {
  it("health, balance and the security policy", async () => {
    expect((await pg.health.live()).status).toBeDefined();
    expect((await pg.health.ready()).status).toBeDefined();
    expect((await pg.balance.retrieve()).object).toBe("balance");
    const policy = await pg.securityPolicy.retrieve();
    expect(policy.require_signature).toBe(false);
    const updated = await pg.securityPolicy.update({ require_signature: true });
    expect(updated.require_signature).toBe(true);
    // Signed requests still pass; the policy is put back.
    expect((await pg.securityPolicy.update({ require_signature: false })).require_signature).toBe(false);
  });

  it("payments: create, retrieve, list across pages, cancel", async () => {
    const made = [];
    for (let i = 0; i < 3; i++) {
      made.push(await pg.payments.create({ amount: 1000 + i, currency: "USD", method: "card", card: CARD_OK, metadata: { i: String(i) } }));
    }
    expect(made.map((p) => p.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
    expect((await pg.payments.retrieve(made[0]!.id)).amount).toBe(1000);
    const first = await pg.payments.list({ limit: 2 });
    expect(first.data).toHaveLength(2);
    expect(first.has_more).toBe(true);
    const all = await pg.payments.list({ limit: 2, order: "asc" }).toArray();
    expect(all.map((p) => p.id)).toEqual(expect.arrayContaining(made.map((p) => p.id)));
    expect(new Set(all.map((p) => p.id)).size).toBe(all.length);
    // A caller's own idempotency key: the second call replays the first.
    const order = { amount: 1500, currency: "USD", method: "card", card: CARD_OK };
    const once = await pg.payments.create(order, { idempotencyKey: `order-${made[0]!.id}` });
    const again = await pg.payments.create(order, { idempotencyKey: `order-${made[0]!.id}` });
    expect(again.id).toBe(once.id);
    expect(proxy.calls("POST", "/v1/payments").slice(-1)[0]!.responseHeaders!["idempotent-replayed"]).toBe("true");
    const crypto = await pg.payments.create({ amount: 5000, currency: "BTC", method: "crypto" });
    expect(crypto.status).toBe("requires_payment");
    expect((await pg.payments.cancel(crypto.id)).status).toBe("canceled");
  });

  it("refunds: create (partial, then the rest), retrieve, list by payment; balance transactions", async () => {
    const payment = await pg.payments.create({ amount: 3000, currency: "USD", method: "card", card: CARD_OK });
    const partial = await pg.refunds.create({ payment: payment.id, amount: 1000, reason: "damaged" });
    expect(partial).toMatchObject({ object: "refund", payment: payment.id, amount: 1000, currency: "USD", reason: "damaged" });
    expect(partial.id).toMatch(/^re_/);
    expect(proxy.calls("POST", "/v1/refunds").slice(-1)[0]!.headers["idempotency-key"]).toBeTruthy();
    const rest = await pg.refunds.create({ payment: payment.id });
    expect(rest.amount).toBe(2000);
    const over = await pg.refunds.create({ payment: payment.id, amount: 1 }).catch((e: unknown) => e);
    expect(over).toBeInstanceOf(PaygateError);
    expect((over as PaygateError).status).toBe(422);
    expect((over as PaygateError).code).toBe("refund_exceeds_payment");
    expect((await pg.refunds.retrieve(partial.id)).amount).toBe(1000);
    const page = await pg.refunds.list({ payment: payment.id, limit: 1 });
    expect(page.data).toHaveLength(1);
    expect(page.has_more).toBe(true);
    const listed = await pg.refunds.list({ payment: payment.id, limit: 1 }).toArray();
    expect(listed.map((r) => r.id).sort()).toEqual([partial.id, rest.id].sort());
    expect(proxy.calls("GET", "/v1/refunds").some((c) => c.url.includes(`payment=${payment.id}`))).toBe(true);

    const moves = await pg.balanceTransactions.list({ currency: "USD", limit: 2 }).toArray();
    const refundMoves = moves.filter((t) => t.type === "refund" && (t.source === partial.id || t.source === rest.id));
    expect(refundMoves.map((t) => t.amount).sort((a, b) => a - b)).toEqual([-2000, -1000]);
    expect(moves.every((t) => t.currency === "USD")).toBe(true);
    const future = await pg.balanceTransactions.list({ from: "2999-01-01" });
    expect(future.data).toEqual([]);
    expect(future.has_more).toBe(false);
  });

  it("checkout sessions and realtime tokens", async () => {
    const session = await pg.checkoutSessions.create({ amount: 4200, currency: "USD" });
    expect(session.session_token).toMatch(/^cst_/);
    expect((await pg.checkoutSessions.retrieve(session.id)).id).toBe(session.id);
    expect((await pg.realtimeTokens.create()).ws_token).toMatch(/^wst_/);
  });

  it("wallets and test deposits", async () => {
    const wallet = await pg.wallet.configure({ network: "bitcoin", xpub: testVpub() });
    expect(wallet).toMatchObject({ sandbox: false, next_index: 0 });
    const address = await pg.wallet.generateAddress({ network: "bitcoin" });
    expect(address.derivation_path).toBe("m/0/0");
    const deposit = await pg.testHelpers.deposit({ address: address.address, amount: 20_000 });
    expect(deposit.amount).toBe(20_000);
  });

  it("withdrawals: create, retrieve, list, approve, reject", async () => {
    const one = await pg.withdrawals.create({ amount: 100, currency: "USD", destination: IBAN });
    const two = await pg.withdrawals.create({ amount: 200, currency: "USD", destination: IBAN });
    expect(one.status).toBe("pending_approval");
    expect((await pg.withdrawals.retrieve(one.id)).id).toBe(one.id);
    expect((await pg.withdrawals.list().toArray()).map((w) => w.id)).toEqual(expect.arrayContaining([one.id, two.id]));
    expect(["processing", "paid"]).toContain((await pg.withdrawals.approve(one.id)).status);
    expect((await pg.withdrawals.reject(two.id)).status).toBe("rejected");
    const again = await pg.withdrawals.reject(two.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(PaygateError);
    expect((again as PaygateError).code).toBe("invalid_state");
  });

  it("webhook endpoints, events and deliveries", async () => {
    const endpoint = await pg.webhookEndpoints.create({ url: "https://hooks.example.com/paygate", events: ["*"] });
    expect(endpoint.secret).toMatch(/^whsec_/);
    expect((await pg.webhookEndpoints.retrieve(endpoint.id)).secret).toMatch(/^whsec_\*{4}/);
    expect((await pg.webhookEndpoints.list().toArray()).some((e) => e.id === endpoint.id)).toBe(true);
    const rotated = await pg.webhookEndpoints.rotateSecret(endpoint.id);
    expect(rotated.secret).not.toBe(endpoint.secret);
    const events = await pg.events.list({ limit: 5 });
    expect(events.data.length).toBeGreaterThan(0);
    const event = await pg.events.retrieve(events.data[0]!.id);
    expect(event.id).toBe(events.data[0]!.id);
    const redelivered = await pg.events.redeliver(event.id, { endpoint: endpoint.id });
    expect(redelivered.data[0]?.endpoint).toBe(endpoint.id);
    const deliveries = await pg.webhookEndpoints.listDeliveries(endpoint.id).toArray();
    expect(deliveries.some((d) => d.event === event.id)).toBe(true);
    expect((await pg.webhookEndpoints.del(endpoint.id)).deleted).toBe(true);
  });

  it("API keys, token sessions, audit events and leaked-key reports", async () => {
    const issued = await pg.apiKeys.create({ name: "reporting", scopes: ["payments:read"] });
    expect(issued.key).toMatch(/^sk_test_/);
    expect((await pg.apiKeys.list().toArray()).some((k) => k.id === issued.id)).toBe(true);
    const rolled = await pg.apiKeys.roll(issued.id, { expire_old_in: 0 });
    expect(rolled.key).not.toBe(issued.key);
    const revoked = await pg.apiKeys.revoke(rolled.id);
    expect(revoked.id).toBe(rolled.id);

    const grant = await pg.authSessions.create();
    expect(grant.token_type).toBe("Bearer");
    expect((await pg.authSessions.end(grant.session_id)).revoked).toBe(true);
    const audit = await pg.auditEvents.list({ limit: 100 }).toArray(500);
    expect(audit.some((a) => a.action === "session.revoked")).toBe(true);

    const leaked = await pg.apiKeys.create({ name: "leaked" });
    expect((await pg.leakedKeys.report(leaked.key)).received).toBe(true);
    const report = proxy.calls("POST", "/v1/leaked-keys")[0]!;
    expect(report.headers["x-api-key"]).toBeUndefined();
    const leakedClient = new Paygate({ apiKey: leaked.key, baseUrl: server.url, ca: server.ca });
    await expect(leakedClient.balance.retrieve()).rejects.toMatchObject({ code: "invalid_api_key", status: 401 });
    leakedClient.close();
  });

  it("lockdown issues one fresh key, and the old one stops", async () => {
    const reply = await pg.lockdown.create();
    await expect(pg.balance.retrieve()).rejects.toMatchObject({ status: 401 });
    const fresh = new Paygate({ apiKey: reply.new_key.key, apiSecret: reply.new_key.secret, baseUrl: proxy.url, ca: server.ca });
    expect((await fresh.balance.retrieve()).object).toBe("balance");
    fresh.close();
  });

  it("covered every method and path the server documents", async () => {
    const document = (await fetchDocument(server)) as { paths: Record<string, Record<string, unknown>> };
    const missing: string[] = [];
    for (const [template, operations] of Object.entries(document.paths)) {
      const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`);
      for (const method of Object.keys(operations)) {
        const hit = proxy.seen.some(
          (s) => s.method === method.toUpperCase() && pattern.test(s.url.split("?")[0]!) && (s.status ?? 0) >= 200 && (s.status ?? 0) < 300,
        );
        if (!hit) missing.push(`${method.toUpperCase()} ${template}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
