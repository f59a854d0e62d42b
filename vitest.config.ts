import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The tests start real servers on 127.0.0.1:0; two cores, so keep the pool small.
    pool: "forks",
    maxWorkers: 2,
    // One real Milvus for the run: Milvus Lite from .venv/, or MILVUS_URI when set.
    globalSetup: ["./test/support/milvus-lite-setup.ts"],
    reporters: ["default", "./test/support/summary-reporter.ts"],
  },
});
