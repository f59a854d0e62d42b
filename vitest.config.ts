import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // A safety net, not a speed check: the CLI tests spawn tsx and Milvus Lite processes, and on
    // two cores shared with other jobs one test can take tens of seconds.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // The tests start real servers on 127.0.0.1:0; two cores, so keep the pool small.
    pool: "forks",
    maxWorkers: 2,
    // One real Milvus for the run: Milvus Lite from .venv/, or MILVUS_URI when set.
    globalSetup: ["./test/support/milvus-lite-setup.ts"],
    reporters: ["default", "./test/support/summary-reporter.ts"],
  },
});
