// Starts a real `paygate serve` on a free loopback port with a fresh data
// directory (`--json` prints a banner with the address, the certificate and
// the sandbox key and secret), for the tests and the type generator.

import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

/** The `paygate` binary: $PAYGATE_BIN, or the cargo build run.sh makes. */
export function paygateBinary() {
  if (process.env.PAYGATE_BIN) return process.env.PAYGATE_BIN;
  throw new Error("set PAYGATE_BIN to the paygate binary (sdk/node/run.sh builds it and sets it)");
}

/**
 * Starts a server; `env` adds settings (PAYGATE_RATE_LIMITS__..., ...).
 * Resolves to { url, port, ca, caPath, merchantId, key, secret, dataDir, stop() }.
 */
export async function startServer(env = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "paygate-node-"));
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PAYGATE_")));
  const store = storeEnv();
  const child = spawn(paygateBinary(), ["--json", "--data-dir", dataDir, "serve"], {
    env: { ...inherited, PAYGATE_LISTEN: "127.0.0.1:0", PAYGATE_ADMIN_LISTEN: "127.0.0.1:0", ...store.env, ...env },
    stdio: ["ignore", "pipe", "ignore"],
  });
  const lines = createInterface({ input: child.stdout });
  const banner = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("paygate serve printed no banner within 60 s")), 60_000);
    child.once("exit", (code) => reject(new Error(`paygate serve exited with ${code}`)));
    lines.once("line", (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line));
    });
  });
  const port = Number(banner.listen.split(":").pop());
  return {
    url: `https://localhost:${port}`,
    port,
    caPath: banner.cert_path,
    ca: readFileSync(banner.cert_path, "utf8"),
    keyPem: readFileSync(join(dataDir, "tls", "key.pem"), "utf8"),
    merchantId: banner.sandbox.merchant_id,
    key: banner.sandbox.key,
    secret: banner.sandbox.secret,
    dataDir,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
      store.drop();
    },
  };
}

/**
 * With PAYGATE_TEST_DATABASE_URL set, each server gets a new database of its
 * own on that PostgreSQL (made with psql); with PAYGATE_TEST_REDIS_URL, a
 * Redis key prefix of its own. As the Rust black-box suite does.
 */
function storeEnv() {
  const env = {};
  let drop = () => {};
  const admin = process.env.PAYGATE_TEST_DATABASE_URL;
  if (admin) {
    const name = `paygate_test_node_${randomBytes(8).toString("hex")}`;
    execFileSync("psql", [admin, "-q", "-c", `CREATE DATABASE ${name}`], { stdio: "ignore" });
    const [base, query] = admin.split("?");
    const server = base.slice(0, base.lastIndexOf("/"));
    env.PAYGATE_DATABASE_URL = `${server}/${name}${query ? `?${query}` : ""}`;
    drop = () => execFileSync("psql", [admin, "-q", "-c", `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`], { stdio: "ignore" });
  }
  if (process.env.PAYGATE_TEST_REDIS_URL) {
    env.PAYGATE_REDIS_URL = process.env.PAYGATE_TEST_REDIS_URL;
    env.PAYGATE_REDIS_KEY_PREFIX = `paygate-node-test:${randomBytes(8).toString("hex")}:`;
  }
  return { env, drop };
}
