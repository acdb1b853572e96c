// The package as a merchant meets it: the generated types are those of the
// document a fresh server serves, and the README's quick start runs as
// written (with the sandbox's address, key and CA in the environment).

import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { fetchDocument, GENERATED, render } from "../scripts/generate-types.mjs";
import { startServer, type TestServer } from "./support.js";

let server: TestServer;

beforeAll(async () => {
  server = await startServer({ PAYGATE_RATE_LIMITS__ENABLED: "false" });
});

afterAll(async () => {
  await server?.stop();
});

const here = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));

describe("the package", () => {
  it("has generated types that match the served OpenAPI document (npm run generate)", async () => {
    const fresh = await render(await fetchDocument(server));
    const committed = readFileSync(GENERATED, "utf8");
    if (fresh !== committed) {
      const a = fresh.split("\n");
      const b = committed.split("\n");
      const line = a.findIndex((text, i) => text !== b[i]);
      expect.fail(`src/generated/openapi.ts is out of date from line ${line + 1}: run \`npm run generate\`\n- ${b[line]}\n+ ${a[line]}`);
    }
  });

  it("has a README whose quick start is examples/quickstart.mjs, and it runs", async () => {
    const readme = readFileSync(here("README.md"), "utf8");
    const block = /```js\n\/\/ quickstart\.mjs\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBe(readFileSync(here("examples/quickstart.mjs"), "utf8"));
    const { stdout } = await promisify(execFile)(process.execPath, ["examples/quickstart.mjs"], {
      cwd: here(""),
      env: {
        PATH: process.env.PATH,
        PAYGATE_BASE_URL: server.url,
        PAYGATE_API_KEY: server.key,
        PAYGATE_API_SECRET: server.secret,
        PAYGATE_MERCHANT_ID: server.merchantId,
        PAYGATE_CA_FILE: server.caPath,
      },
    });
    expect(stdout).toMatch(/^pay_\w+ succeeded$/m);
    expect(stdout).toMatch(/^404 not_found req_\w+$/m);
    expect(stdout).toContain("available: 2500");
  });
});
