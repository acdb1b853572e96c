// Webhook verification: deliveries the real server sends to a local
// receiver verified (both schemes, across a secret rotation), and a
// tampered body, a stale timestamp, a wrong secret and malformed headers
// refused; then the shared vectors (Standard Webhooks' own, and the request
// signing vectors the Rust and browser suites use).

import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { signRequest, standardSignature, verifyWebhook, WebhookVerificationError, type Paygate } from "../src/index.js";
import { CARD_OK, client, eventually, startServer, type TestServer } from "./support.js";

interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

let server: TestServer;
let receiver: Server;
let pg: Paygate;
const received: Received[] = [];

beforeAll(async () => {
  server = await startServer({ PAYGATE_WEBHOOKS__ALLOW_PRIVATE_TARGETS: "true", PAYGATE_RATE_LIMITS__ENABLED: "false" });
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  pg = client(server);
});

afterAll(async () => {
  pg?.close();
  receiver?.close();
  await server?.stop();
});

function rejection(fn: () => unknown): WebhookVerificationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookVerificationError);
    return error as WebhookVerificationError;
  }
  throw new Error("accepted");
}

/** The delivery of the event about `paymentId`, once it arrives. */
function deliveryFor(paymentId: string): Promise<Received> {
  return eventually(async () => received.find((r) => r.body.toString().includes(paymentId)));
}

describe("a delivery from the server", () => {
  it("verifies, and tampered, stale, wrongly keyed or malformed ones are refused", async () => {
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const endpoint = await pg.webhookEndpoints.create({ url, events: ["payment.succeeded"] });
    const payment = await pg.payments.create({ amount: 777, currency: "USD", method: "card", card: CARD_OK });
    const { headers, body } = await deliveryFor(payment.id);
    const secret = endpoint.secret;

    const event = verifyWebhook(body, headers, secret);
    expect(event.type).toBe("payment.succeeded");
    expect(event.data.object["id"]).toBe(payment.id);
    expect(event.id).toBe(headers["webhook-id"]);
    // A Fetch Headers object and a string body work the same.
    expect(verifyWebhook(body.toString(), new Headers(headers as Record<string, string>), [secret]).id).toBe(event.id);

    const tampered = Buffer.from(body.toString().replace('"amount":777', '"amount":778'));
    expect(tampered.equals(body)).toBe(false);
    expect(rejection(() => verifyWebhook(tampered, headers, secret)).reason).toBe("invalid_signature");

    const timestamp = Number(headers["webhook-timestamp"]);
    expect(rejection(() => verifyWebhook(body, headers, secret, { now: timestamp + 301 })).reason).toBe("timestamp_out_of_range");
    expect(rejection(() => verifyWebhook(body, headers, secret, { toleranceSecs: 10, now: timestamp - 11 })).reason).toBe(
      "timestamp_out_of_range",
    );
    expect(verifyWebhook(body, headers, secret, { now: timestamp + 299 }).id).toBe(event.id);

    const stranger = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;
    expect(rejection(() => verifyWebhook(body, headers, stranger)).reason).toBe("invalid_signature");

    expect(rejection(() => verifyWebhook(body, { ...headers, "webhook-timestamp": "soon" }, secret)).reason).toBe("malformed_header");
    expect(rejection(() => verifyWebhook(body, { ...headers, "webhook-signature": "v2,abc" }, secret)).reason).toBe("malformed_header");
    expect(rejection(() => verifyWebhook(body, { "content-type": "application/json" }, secret)).reason).toBe("missing_header");
    expect(rejection(() => verifyWebhook(body, headers, "sk_test_nope")).reason).toBe("invalid_secret");
    expect(rejection(() => verifyWebhook(body, headers, [])).reason).toBe("invalid_secret");
    expect(() => verifyWebhook(JSON.parse(body.toString()) as never, headers, secret)).toThrow(/raw body/);

    // The plain scheme alone, as a receiver that reads only X-Webhook-Signature.
    const plain = { "x-webhook-signature": headers["x-webhook-signature"] as string };
    expect(verifyWebhook(body, plain, secret).id).toBe(event.id);
    expect(rejection(() => verifyWebhook(tampered, plain, secret)).reason).toBe("invalid_signature");
    expect(rejection(() => verifyWebhook(body, plain, stranger)).reason).toBe("invalid_signature");
    expect(rejection(() => verifyWebhook(body, { "x-webhook-signature": "md5=00" }, secret)).reason).toBe("malformed_header");

    // A rotation: deliveries carry both signatures; either secret verifies.
    const rotated = await pg.webhookEndpoints.rotateSecret(endpoint.id);
    const next = await pg.payments.create({ amount: 778, currency: "USD", method: "card", card: CARD_OK });
    const second = await deliveryFor(next.id);
    expect(String(second.headers["webhook-signature"]).split(" ")).toHaveLength(2);
    for (const secrets of [[rotated.secret], [secret], [stranger, rotated.secret]]) {
      expect(verifyWebhook(second.body, second.headers, secrets).data.object["id"]).toBe(next.id);
    }
    expect(rejection(() => verifyWebhook(second.body, second.headers, [stranger])).reason).toBe("invalid_signature");
  });
});

const repo = (path: string) => new URL(`../../../${path}`, import.meta.url);

describe("shared vectors", () => {
  interface Vector {
    secret: string;
    msg_id: string;
    timestamp: number;
    payload: string;
    signature: string;
  }
  const standard = JSON.parse(readFileSync(repo("crates/paygate-proto/tests/vectors/standard-webhooks.json"), "utf8")) as {
    vectors: Vector[];
    must_fail: Vector[];
  };

  it("signs Standard Webhooks' own vectors identically, and refuses the altered one", () => {
    expect(standard.vectors.length).toBeGreaterThanOrEqual(2);
    for (const v of standard.vectors) {
      expect(standardSignature(v.secret, v.msg_id, v.timestamp, Buffer.from(v.payload))).toBe(v.signature);
      const headers = { "webhook-id": v.msg_id, "webhook-timestamp": String(v.timestamp), "webhook-signature": v.signature };
      // The signature passes; the payload is not a Paygate event.
      expect(rejection(() => verifyWebhook(v.payload, headers, v.secret, { now: v.timestamp })).reason).toBe("invalid_payload");
    }
    for (const v of standard.must_fail) {
      const headers = { "webhook-id": v.msg_id, "webhook-timestamp": String(v.timestamp), "webhook-signature": v.signature };
      expect(rejection(() => verifyWebhook(v.payload, headers, v.secret, { now: v.timestamp })).reason).toBe("invalid_signature");
    }
  });

  it("computes every request-signing vector", () => {
    const signing = JSON.parse(readFileSync(repo("testdata/request-signing.json"), "utf8")) as {
      vectors: Array<{ secret: string; method: string; path: string; body: string; timestamp: string; signature: string }>;
    };
    expect(signing.vectors.length).toBeGreaterThanOrEqual(4);
    for (const v of signing.vectors) {
      expect(signRequest(v.secret, v.method, v.path, v.body, v.timestamp)).toBe(v.signature);
    }
  });
});
