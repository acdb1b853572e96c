import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { launchBrowser, startServer, watchConsole } from "../support.mjs";

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser(server);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("the error catalog renders every code with its cause and fix", async () => {
  const page = await browser.newPage();
  const console = watchConsole(page);
  const response = await page.goto(`${server.baseUrl}/docs/errors`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()["content-security-policy"], /default-src 'none'/);
  assert.equal(await page.title(), "Paygate error codes");
  const sections = await page.locator("section[id]").count();
  assert.equal(sections, 42);
  const invalidSignature = page.locator("section#invalid_signature");
  assert.match(await invalidSignature.innerText(), /Cause\..*Fix\./s);
  assert.deepEqual(console.filter((m) => /Content Security Policy|pageerror/.test(m)), []);
});

test("the browser reaches the API only over HTTPS with the pinned certificate", async () => {
  const page = await browser.newPage();
  const response = await page.goto(`${server.baseUrl}/healthz`);
  assert.equal(response.status(), 200);
  assert.equal(await page.evaluate(() => window.isSecureContext), true);
});
