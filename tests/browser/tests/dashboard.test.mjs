// The merchant's dashboard in Chromium: a new merchant signs up, reads the
// emailed verification, signs in, enrols TOTP 2FA (codes from otplib),
// signs out and in with a code, makes an API key shown once that works
// against the API, approves a payout with a code, and finds each step in
// the audit log. Also: the session cookie's flags, a form without its CSRF
// token refused, no CSP violation, and screenshots at 1280 and 390 px.

import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { generate } from "otplib";

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

/** The newest mail in the server's outbox, quoted-printable soft breaks undone. */
function newestMail() {
  const dir = join(server.dataDir, "outbox");
  const files = readdirSync(dir).map((name) => join(dir, name));
  files.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
  return readFileSync(files.at(-1), "utf8").replace(/=\r\n/g, "").replace(/=3D/g, "=");
}

const STEP = 30;
let lastStep = 0;

/** A TOTP code for a time step after the last one used (a code works once). */
async function nextCode(secret) {
  while (Math.floor(Date.now() / 1000 / STEP) < lastStep) {
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const now = Math.floor(Date.now() / 1000 / STEP);
  // The server accepts the current step and either neighbour.
  const step = Math.max(now, lastStep + 1);
  lastStep = step;
  return generate({ secret, epoch: step * STEP });
}

const noViolations = (messages) => messages.filter((m) => /Content Security Policy|Refused to|pageerror/.test(m));

test("a new merchant walks from sign-up to a payout approved with a code", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const messages = watchConsole(page);
  const email = "finance@example.com";
  const password = "correct horse battery staple";

  await page.goto(`${server.baseUrl}/dashboard/register`);
  await screenshot(page, "dashboard-register");
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", password);
  await page.fill("input[name=country]", "ZA");
  await page.click("button[type=submit]");
  await page.getByRole("heading", { name: "Check your email" }).waitFor();

  const verify = newestMail().match(/https:\/\/\S+(\/dashboard\/verify\?token=[A-Za-z0-9_-]+)/);
  assert.ok(verify, "the verification link is in the mail");
  await page.goto(`${server.baseUrl}${verify[1]}`);
  await page.getByRole("heading", { name: "Email verified" }).waitFor();

  await page.goto(`${server.baseUrl}/dashboard/login`);
  await screenshot(page, "dashboard-login");
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", password);
  const [login] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/dashboard/login") && r.request().method() === "POST"),
    page.click("button[type=submit]"),
  ]);
  await page.getByRole("heading", { name: "Balances" }).waitFor();

  // The session cookie: HttpOnly, Secure, SameSite=Strict, Path=/, no Domain.
  const setCookie = (await login.headerValues("set-cookie")).find((c) => c.startsWith("__Host-paygate="));
  assert.ok(setCookie, "the sign-in sets the session cookie");
  for (const flag of ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"]) {
    assert.ok(setCookie.includes(flag), `${flag} in ${setCookie}`);
  }
  assert.ok(!/Domain=/i.test(setCookie), "a __Host- cookie has no Domain");
  const session = (await context.cookies()).find((c) => c.name === "__Host-paygate");
  assert.deepEqual(
    { httpOnly: session.httpOnly, secure: session.secure, sameSite: session.sameSite, path: session.path },
    { httpOnly: true, secure: true, sameSite: "Strict", path: "/" },
  );

  // 2FA enrolment with a code computed by otplib.
  await page.click("nav.sections >> text=Security");
  await page.click("text=Set up two-factor authentication");
  const secret = (await page.locator("#totp-secret").innerText()).trim();
  await screenshot(page, "dashboard-2fa-setup");
  await page.fill("input[name=code]", await nextCode(secret));
  await page.click("text=Turn on");
  await page.getByRole("heading", { name: "Two-factor authentication is on" }).waitFor();
  assert.equal(await page.locator("ul.codes li").count(), 10, "recovery codes shown once");

  // Sign out, then in again with a code.
  await page.click("text=Sign out");
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  assert.equal((await context.cookies()).find((c) => c.name === "__Host-paygate"), undefined);
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.getByRole("heading", { name: "Two-factor authentication" }).waitFor();
  await page.fill("input[name=code]", await nextCode(secret));
  await page.click("text=Verify");
  await page.getByRole("heading", { name: "Balances" }).waitFor();

  // An API key, shown once, that works against the API.
  await page.click("nav.sections >> text=API keys");
  await page.fill("#create-key input[name=name]", "Payouts server");
  await page.click("text=Create key");
  const key = (await page.locator("#issued-key").innerText()).trim();
  const keySecret = (await page.locator("#issued-secret").innerText()).trim();
  await screenshot(page, "dashboard-key-created");
  const balance = await api(server, "GET", "/v1/balance", undefined, { key });
  assert.equal(balance.status, 200, "the new key works");
  await page.goto(`${server.baseUrl}/dashboard/api-keys`);
  const listed = await page.content();
  assert.ok(listed.includes("Payouts server") && !listed.includes(keySecret) && !listed.includes(key), "listed masked");
  await screenshot(page, "dashboard-api-keys");

  // Money in with a test card, a withdrawal requested over the API...
  const payment = await api(server, "POST", "/v1/payments", {
    amount: 25000, currency: "EUR", method: "card", description: "Order 1001",
    card: { number: "4242424242424242", exp_month: 12, exp_year: 2099, cvc: "123" },
  }, { key, secret: keySecret });
  assert.equal(payment.body.status, "succeeded", JSON.stringify(payment.body));
  const withdrawal = await api(server, "POST", "/v1/withdrawal-requests", {
    amount: 10000, currency: "EUR", destination: { type: "bank", iban: "GB82WEST12345698765432", name: "Ada Lovelace" },
  }, { key, secret: keySecret, idempotencyKey: "walkthrough-1" });
  assert.equal(withdrawal.body.status, "pending_approval", JSON.stringify(withdrawal.body));

  await page.click("nav.sections >> text=Balances");
  await screenshot(page, "dashboard-balances");
  await page.click("nav.sections >> text=Payments");
  await page.locator("#payments").waitFor();
  await screenshot(page, "dashboard-payments");
  await page.click(`text=${payment.body.id}`);
  await page.locator("#payment").waitFor();
  await screenshot(page, "dashboard-payment");

  // ...approved in the dashboard with a code.
  await page.click("nav.sections >> text=Withdrawals");
  await screenshot(page, "dashboard-withdrawals");
  const row = page.locator("#withdrawals tr", { hasText: withdrawal.body.id });
  await row.locator("input[name=code]").fill(await nextCode(secret));
  await row.locator("button[value=approve]").click();
  await page.getByText("Withdrawal approved.").waitFor();
  const paid = await api(server, "GET", `/v1/withdrawal-requests/${withdrawal.body.id}`, undefined, { key });
  assert.equal(paid.body.status, "paid");

  await page.click("nav.sections >> text=Webhooks");
  await screenshot(page, "dashboard-webhooks");
  await page.click("nav.sections >> text=Security");
  await screenshot(page, "dashboard-security");

  // The audit log shows those steps.
  await page.click("nav.sections >> text=Audit log");
  const audit = await page.locator("#audit").innerText();
  for (const action of ["dashboard.registered", "dashboard.login", "dashboard.2fa_enabled", "api_key.created", "payout.approved"]) {
    assert.ok(audit.includes(action), `${action} in the audit log`);
  }
  await screenshot(page, "dashboard-audit");

  // A form posted without its CSRF token is refused.
  await page.click("nav.sections >> text=API keys");
  await page.fill("#create-key input[name=name]", "Forged");
  await page.locator("#create-key input[name=csrf]").evaluate((input) => input.remove());
  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/dashboard/api-keys") && r.request().method() === "POST"),
    page.click("text=Create key"),
  ]);
  assert.equal(refused.status(), 403);
  await page.getByRole("heading", { name: "Form expired" }).waitFor();
  await page.goto(`${server.baseUrl}/dashboard/api-keys`);
  assert.ok(!(await page.content()).includes("Forged"), "no key was made");

  assert.deepEqual(noViolations(messages), []);
  await context.close();
});
