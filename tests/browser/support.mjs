// Fixtures for browser tests: a real `paygate serve` on a free port with a
// fresh data directory, and Debian's Chromium driven by playwright-core,
// trusting exactly that server's certificate (by its public key).

import { spawn } from "node:child_process";
import { request } from "node:https";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { chromium } from "playwright-core";

export const SCREENSHOT_DIR = process.env.PAYGATE_SCREENSHOTS ?? new URL("../../artifacts/screenshots/", import.meta.url).pathname;

export async function startServer(env = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "paygate-browser-"));
  const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PAYGATE_") || k === "PAYGATE_BIN"));
  const child = spawn(process.env.PAYGATE_BIN, ["--json", "--data-dir", dataDir, "serve"], {
    env: { ...cleanEnv, PAYGATE_LISTEN: "127.0.0.1:0", PAYGATE_ADMIN_LISTEN: "127.0.0.1:0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs = [];
  child.stderr.on("data", (chunk) => logs.push(chunk.toString()));
  const firstLine = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`paygate exited (${code}): ${logs.join("")}`)));
  });
  const banner = JSON.parse(firstLine);
  const port = banner.listen.split(":").pop();
  return {
    baseUrl: `https://localhost:${port}`,
    certPath: banner.cert_path,
    merchantId: banner.sandbox.merchant_id,
    key: banner.sandbox.key,
    secret: banner.sandbox.secret,
    dataDir,
    logs,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    },
  };
}

/** Base64 SHA-256 of the server certificate's public key, as Chromium pins it. */
function spkiPin(certPath) {
  const pem = readFileSync(certPath, "utf8").split(/(?=-----BEGIN CERTIFICATE-----)/)[0];
  const spki = new X509Certificate(pem).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("base64");
}

export async function launchBrowser(server) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--ignore-certificate-errors-spki-list=${spkiPin(server.certPath)}`,
    ],
  });
}

/** Collects console messages, so tests can assert there is no CSP violation. */
export function watchConsole(page) {
  const messages = [];
  page.on("console", (message) => messages.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => messages.push(`pageerror: ${error.message}`));
  return messages;
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
    await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}-${width}.png`), fullPage: true });
  }
}

/**
 * Calls the merchant API as the merchant's server would (HTTPS, the server's
 * CA), with the sandbox key unless `key` (and `secret`) are given.
 */
export function api(server, method, path, body, { key = server.key, secret, idempotencyKey } = {}) {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${server.baseUrl}${path}`,
      {
        method,
        ca: readFileSync(server.certPath),
        headers: {
          "x-api-key": key,
          ...(secret ? { "x-api-secret": secret } : {}),
          ...(idempotencyKey ? { "idempotency-key": idempotencyKey } : {}),
          ...(payload ? { "content-type": "application/json" } : {}),
        },
      },
      (res) => {
        let text = "";
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode, body: text ? JSON.parse(text) : null }));
      },
    );
    req.on("error", reject);
    if (payload) req.write(payload);
    req.end();
  });
}
