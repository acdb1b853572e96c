import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { api, launchBrowser, screenshot, startServer, watchConsole } from "../support.mjs";

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

async function payWith(number) {
  const created = await api(server, "POST", "/v1/checkout/sessions", { amount: 4200, currency: "USD" });
  assert.equal(created.status, 200);
  const page = await browser.newPage();
  const console = watchConsole(page);
  const response = await page.goto(created.body.url);
  const csp = response.headers()["content-security-policy"];
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  await page.locator("#status[data-state='ready']").waitFor({ timeout: 15000 });
  assert.equal(await page.locator("#amount").innerText(), "42.00 USD");
  assert.equal(new URL(page.url()).hash, "", "the secret is taken out of the address bar");
  await page.fill("input[name=number]", number);
  await page.fill("input[name=expiry]", "12/35");
  await page.fill("input[name=cvc]", "123");
  await page.click("#pay");
  return { page, console, created };
}

test("a payor pays with 4242424242424242 and the page turns to succeeded over the socket", async () => {
  const { page, console, created } = await payWith("4242424242424242");
  await page.locator("#status[data-state='succeeded']").waitFor({ timeout: 15000 });
  assert.equal(await page.locator("#status").innerText(), "succeeded");
  await screenshot(page, "hosted-checkout-succeeded");
  const session = await api(server, "GET", `/v1/checkout/sessions/${created.body.id}`);
  assert.equal(session.body.status, "complete");
  assert.deepEqual(console.filter((m) => /Content Security Policy|Refused to|pageerror/.test(m)), []);
});

test("a declined card shows the decline", async () => {
  const { page, console } = await payWith("4000000000000002");
  await page.locator("#status[data-state='declined']").waitFor({ timeout: 15000 });
  assert.equal(await page.locator("#status").innerText(), "declined");
  assert.deepEqual(console.filter((m) => /Content Security Policy|Refused to|pageerror/.test(m)), []);
});
