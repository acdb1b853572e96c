import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

import { PaygateCheckout, PaygateError, assertBrowserSafe, connectRealtime, signRequest } from "../src/paygate.js";

const shared = JSON.parse(readFileSync(new URL("../../../testdata/request-signing.json", import.meta.url), "utf8"));

const session = { sessionToken: "cst_" + "A".repeat(43), sessionSecret: "cs_secret_" + "B".repeat(43) };

describe("signRequest", () => {
  it("matches the vectors the Rust implementation is tested with", async () => {
    expect(shared.vectors.length).toBeGreaterThanOrEqual(4);
    for (const v of shared.vectors) {
      expect(await signRequest(v.secret, v.method, v.path, v.body, v.timestamp)).toBe(v.signature);
    }
  });

  it("changes with every part of the signed string", async () => {
    const base = await signRequest("s".repeat(20), "GET", "/a", "", "1");
    expect(await signRequest("s".repeat(20), "GET", "/a?x", "", "1")).not.toBe(base);
    expect(await signRequest("s".repeat(20), "GET", "/a", "", "2")).not.toBe(base);
    expect(await signRequest("t".repeat(20), "GET", "/a", "", "1")).not.toBe(base);
  });
});

describe("refusing server credentials", () => {
  for (const value of ["sk_test_" + "a".repeat(36), "sk_live_" + "a".repeat(36), "sec_live_" + "a".repeat(43)]) {
    it(`refuses ${value.slice(0, 9)}...`, () => {
      expect(() => new PaygateCheckout({ ...session, sessionSecret: value })).toThrow(PaygateError);
      expect(() => new PaygateCheckout({ ...session, sessionToken: value })).toThrow(/belong on your server/);
      expect(() => connectRealtime({ wsToken: value, WebSocketImpl: class {} })).toThrow(PaygateError);
    });
  }

  it("says which key belongs where", () => {
    expect(() => assertBrowserSafe("sessionSecret", "sec_test_x")).toThrow(/server API secret \(sec_\.\.\.\)/);
    expect(() => assertBrowserSafe("sessionToken", "sk_test_x")).toThrow(/server API key \(sk_\.\.\.\)/);
    expect(() => assertBrowserSafe("sessionToken", session.sessionToken)).not.toThrow();
  });

  it("refuses a key pasted into a card field", () => {
    const checkout = new PaygateCheckout({ ...session, fetch: async () => new Response("{}") });
    expect(() => checkout.pay({ method: "card", card: { number: "sk_live_" + "a".repeat(36) } })).toThrow(PaygateError);
  });
});

describe("PaygateCheckout", () => {
  it("sends the session token and a signature over exactly what it sends", async () => {
    const seen = [];
    const fetch = async (url, init) => {
      seen.push({ url, init });
      return new Response(JSON.stringify({ status: "succeeded" }), { status: 200 });
    };
    const checkout = new PaygateCheckout({ ...session, baseUrl: "https://pay.example", fetch, now: () => 1700000000 });
    const body = { method: "card", card: { number: "4242424242424242", exp_month: 12, exp_year: 2030, cvc: "123" } };
    await checkout.pay(body);
    const { url, init } = seen[0];
    const target = url.replace("https://pay.example", "");
    expect(target).toMatch(/^\/v1\/payor\/session\/pay\?n=[0-9a-f]+$/);
    expect(init.headers["x-session-token"]).toBe(session.sessionToken);
    expect(init.headers["x-timestamp"]).toBe("1700000000");
    expect(init.credentials).toBe("omit");
    const expected = await signRequest(session.sessionSecret, "POST", target, init.body, "1700000000");
    expect(init.headers["x-signature"]).toBe(expected);
    expect(JSON.parse(init.body)).toEqual(body);
  });

  it("mints a session-scoped socket token with a signed, bodiless POST", async () => {
    const seen = [];
    const fetch = async (url, init) => {
      seen.push({ url, init });
      return new Response(JSON.stringify({ ws_token: "wst_x", expires_in: 60 }), { status: 200 });
    };
    const checkout = new PaygateCheckout({ ...session, fetch, now: () => 1700000000 });
    expect(await checkout.realtimeToken()).toEqual({ ws_token: "wst_x", expires_in: 60 });
    const { url, init } = seen[0];
    expect(init.method).toBe("POST");
    expect(url).toMatch(/^\/v1\/payor\/session\/realtime\?n=/);
    expect(init.headers["content-type"]).toBeUndefined();
    expect(init.headers["x-signature"]).toBe(await signRequest(session.sessionSecret, "POST", url, "", "1700000000"));
  });

  it("gives two identical calls different signatures", async () => {
    const signatures = [];
    const fetch = async (_url, init) => {
      signatures.push(init.headers["x-signature"]);
      return new Response("{}", { status: 200 });
    };
    const checkout = new PaygateCheckout({ ...session, fetch, now: () => 1700000000 });
    await checkout.getSession();
    await checkout.getSession();
    expect(signatures[0]).not.toBe(signatures[1]);
  });

  it("turns a problem document into a PaygateError with its code and request id", async () => {
    const problem = { code: "invalid_session_token", detail: "The checkout session token is not valid.", request_id: "req_x", status: 401 };
    const fetch = async () => new Response(JSON.stringify(problem), { status: 401 });
    const checkout = new PaygateCheckout({ ...session, fetch });
    await expect(checkout.getSession()).rejects.toMatchObject({ code: "invalid_session_token", status: 401, requestId: "req_x" });
  });
});

describe("connectRealtime", () => {
  it("opens wss with the token in the query and hands over events", () => {
    const sockets = [];
    class FakeSocket {
      constructor(url) {
        this.url = url;
        this.listeners = {};
        sockets.push(this);
      }
      addEventListener(type, fn) {
        this.listeners[type] = fn;
      }
    }
    const events = [];
    connectRealtime({ baseUrl: "https://pay.example", wsToken: "wst_" + "c".repeat(43), onEvent: (e) => events.push(e), WebSocketImpl: FakeSocket });
    expect(sockets[0].url).toBe("wss://pay.example/v1/realtime?ws_token=wst_" + "c".repeat(43));
    sockets[0].listeners.message({ data: JSON.stringify({ id: "evt_1", type: "payment.succeeded" }) });
    sockets[0].listeners.message({ data: "not json" });
    expect(events).toEqual([{ id: "evt_1", type: "payment.succeeded" }]);
  });
});
