// The wire beside the Rust SDK: one payment created by `paygate-cli` (the
// Rust client) and one by this package, through the same recording proxy,
// carry the same headers apart from the timestamp, signature and
// idempotency key, and the same body; the nonce is the only difference in
// the request target.

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { CARD_OK, RecordingProxy, client, startServer, type TestServer } from "./support.js";

let server: TestServer;
let proxy: RecordingProxy;
const cli = process.env.PAYGATE_CLI_BIN;

beforeAll(async () => {
  server = await startServer({ PAYGATE_RATE_LIMITS__ENABLED: "false" });
  proxy = await RecordingProxy.start(server);
});

afterAll(async () => {
  await proxy?.stop();
  await server?.stop();
});

const VARYING = new Set(["x-timestamp", "x-signature", "idempotency-key"]);
// Hop-by-hop: how each HTTP stack manages its connections, not part of the request.
const HOP_BY_HOP = new Set(["connection", "keep-alive"]);

// run.sh always sets PAYGATE_CLI_BIN; a bare `npx vitest` without it skips this file.
describe.runIf(cli)("the wire, beside the Rust SDK", () => {
  it("sends a payment creation with the same headers and body", async () => {
    await promisify(execFile)(cli!, ["--json", "payments", "create", "--amount", "2500", "--currency", "USD", "--test-card", CARD_OK.number], {
      env: {
        PATH: process.env.PATH,
        HOME: server.dataDir,
        PAYGATE_BASE_URL: proxy.url,
        PAYGATE_API_KEY: server.key,
        PAYGATE_API_SECRET: server.secret,
        PAYGATE_MERCHANT_ID: server.merchantId,
        PAYGATE_CA_FILE: server.caPath,
      },
    });
    const pg = client(server, { baseUrl: proxy.url });
    // The card paygate-cli sends for --test-card.
    await pg.payments.create({ amount: 2500, currency: "USD", method: "card", card: { ...CARD_OK, exp_year: 2099 } });
    pg.close();

    const [rust, node] = proxy.calls("POST", "/v1/payments");
    expect(rust!.status).toBe(200);
    expect(node!.status).toBe(200);
    const shown = (headers: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(headers).filter(([name]) => !VARYING.has(name) && !HOP_BY_HOP.has(name)).sort(([a], [b]) => a.localeCompare(b)));
    expect(shown(node!.headers)).toEqual(shown(rust!.headers));
    for (const name of VARYING) {
      expect(node!.headers[name], name).toBeDefined();
      expect(rust!.headers[name], name).toBeDefined();
    }
    expect(JSON.parse(node!.body.toString())).toEqual(JSON.parse(rust!.body.toString()));
    expect(rust!.url).toMatch(/^\/v1\/payments\?n=[0-9a-f]{32}$/);
    expect(node!.url).toMatch(/^\/v1\/payments\?n=[0-9a-f]{32}$/);
  });
});
