/**
 * The real Milvus of the test run (started once by test/support/milvus-lite-setup.ts): its
 * address, a connection to it, and collection names no other test uses.
 */
import { type ConnectMilvusOptions, connectMilvus, MILVUS_LITE_TIMEOUT_MS } from "@gembed/milvus";
import { inject } from "vitest";

/** The address of the run's Milvus; throws (never skips) when none could be started. */
export function milvusUri(): string {
  const uri = inject("milvusUri");
  if (!uri) {
    throw new Error(
      `No Milvus for the Milvus tests: ${inject("milvusProblem")} (npm test installs Milvus Lite into .venv/; or set MILVUS_URI)`,
    );
  }
  return uri;
}

/**
 * Connects to the run's Milvus (or a proxy in front of it) with the per-call timeout a client of
 * Milvus Lite gets from a folder path (`MILVUS_LITE_TIMEOUT_MS`, 2 min) unless `timeout` is given:
 * the test run's Milvus Lite is started by address, and with the machine loaded it once answered
 * a call of milvus-collection.test.ts after the SDK's 30 s.
 */
export function connectTestMilvus(
  options: Partial<ConnectMilvusOptions> = {},
): ReturnType<typeof connectMilvus> {
  return connectMilvus({ uri: milvusUri(), timeout: MILVUS_LITE_TIMEOUT_MS, ...options });
}

let counter = 0;

/** A collection name unique to this test file and process, e.g. `t_docs_12345_3`. */
export function uniqueCollection(stem: string): string {
  counter += 1;
  return `t_${stem}_${process.pid}_${counter}_${Date.now().toString(36)}`;
}
