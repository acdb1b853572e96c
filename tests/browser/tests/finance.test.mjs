// Finance in the dashboard, in Chromium: a refund made from the payment page,
// the statement's CSV downloaded through its Export button, and the
// server-drawn SVG charts with data, screenshotted at 1280 and 390 px with no
// CSP violation.

import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
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

function newestMail() {
  const dir = join(server.dataDir, "outbox");
  const files = readdirSync(dir).map((name) => join(dir, name));
  files.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
  return readFileSync(files.at(-1), "utf8").replace(/=\r\n/g, "").replace(/=3D/g, "=");
}

const violations = (messages) => messages.filter((m) => /Content Security Policy|Refused to|pageerror/.test(m));

test("refund from the payment page, export the statement, draw the charts", async () => {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const messages = watchConsole(page);
  const email = "books@example.com";
  const password = "correct horse battery staple";
  await page.goto(`${server.baseUrl}/dashboard/register`);
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", password);
  await page.fill("input[name=country]", "ZA");
  await page.click("button[type=submit]");
  await page.getByRole("heading", { name: "Check your email" }).waitFor();
  const verify = newestMail().match(/https:\/\/\S+(\/dashboard\/verify\?token=[A-Za-z0-9_-]+)/);
  await page.goto(`${server.baseUrl}${verify[1]}`);
  await page.goto(`${server.baseUrl}/dashboard/login`);
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.getByRole("heading", { name: "Balances" }).waitFor();

  await page.click("nav.sections >> text=API keys");
  await page.fill("#create-key input[name=name]", "Shop");
  await page.click("text=Create key");
  const key = (await page.locator("#issued-key").innerText()).trim();
  const payments = [];
  for (const amount of [25000, 4000, 12000]) {
    const made = await api(server, "POST", "/v1/payments", {
      amount, currency: "USD", method: "card",
      card: { number: "4242424242424242", exp_month: 12, exp_year: 2099, cvc: "123" },
    }, { key });
    assert.equal(made.body.status, "succeeded", JSON.stringify(made.body));
    payments.push(made.body);
  }

  // The refund, from the payment page.
  await page.goto(`${server.baseUrl}/dashboard/payments/${payments[0].id}`);
  await page.fill("#refund input[name=amount]", "50.25");
  await page.fill("#refund input[name=reason]", "damaged");
  await page.click("#refund button[type=submit]");
  await page.getByText("Refund made").waitFor();
  assert.equal((await page.locator("#refunded").innerText()).trim(), "50.25 USD");
  const after = await api(server, "GET", `/v1/payments/${payments[0].id}`, undefined, { key });
  assert.equal(after.body.amount_refunded, 5025);

  // The statement: charts with data, and the CSV through the Export button.
  await page.click("nav.sections >> text=Statement");
  await page.locator("svg#volume-chart rect.bar").first().waitFor();
  assert.equal(await page.locator("svg#balance-chart circle.dot").count(), 30);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
  const csv = readFileSync(await download.path(), "utf8");
  const lines = csv.trimEnd().split("\r\n");
  assert.equal(lines[0], "id,type,source,amount,currency,balance_after,created_at");
  assert.equal(lines.length, 5, csv);
  assert.ok(lines[4].includes(",refund,re_") && lines[4].includes(",-5025,USD,35975,"), csv);
  const balance = await api(server, "GET", "/v1/balance", undefined, { key });
  assert.equal(Number(lines[4].split(",")[5]), balance.body.balances.USD.available);

  // Saved at 1280 and at 390 px; the page is left at 390 px.
  await screenshot(page, "dashboard-statement-charts");
  const box = await page.locator("svg#volume-chart").boundingBox();
  assert.ok(box.width <= 390 && box.width > 250, `the chart fits a phone: ${box.width}px`);
  assert.deepEqual(violations(messages), []);
  await context.close();
});
