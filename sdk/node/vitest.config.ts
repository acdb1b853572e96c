import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Each file starts its own servers; two files at a time on a small machine.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
