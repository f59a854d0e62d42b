/**
 * The real Milvus of the test run (started once by test/support/milvus-lite-setup.ts): its
 * address, and collection names no other test uses.
 */
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

let counter = 0;

/** A collection name unique to this test file and process, e.g. `t_docs_12345_3`. */
export function uniqueCollection(stem: string): string {
  counter += 1;
  return `t_${stem}_${process.pid}_${counter}_${Date.now().toString(36)}`;
}
