/**
 * Vitest globalSetup: ONE real Milvus for the whole run. When MILVUS_URI is set, every Milvus
 * test uses that server (a Milvus standalone, say); otherwise Milvus Lite (PyPI `milvus-lite`,
 * installed into .venv/ by `npm test` through scripts/python-env.mjs) is started on a free
 * loopback port with a temporary data folder, and stopped at the end. Tests read the address
 * with `inject("milvusUri")` (see test/support/milvus.ts).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startMilvusLite } from "../../packages/milvus/src/lite.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The real Milvus of this run, `host:port`; empty when none could be started. */
    milvusUri: string;
    /** What it is: `Milvus Lite 3.x (…)` or `MILVUS_URI`. */
    milvusKind: string;
    /** Why none could be started, when `milvusUri` is empty. */
    milvusProblem: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.MILVUS_URI;
  if (given !== undefined && given.length > 0) {
    project.provide("milvusUri", given);
    project.provide("milvusKind", "MILVUS_URI");
    project.provide("milvusProblem", "");
    return async () => {};
  }
  const dataDir = await mkdtemp(path.join(tmpdir(), "gembed-milvus-lite-"));
  const started = Date.now();
  try {
    const lite = await startMilvusLite({ dataDir: path.join(dataDir, "tests.db") });
    project.provide("milvusUri", lite.uri);
    project.provide("milvusKind", `Milvus Lite (${lite.uri}, pid ${lite.pid})`);
    project.provide("milvusProblem", "");
    process.stdout.write(
      `milvus: Milvus Lite on ${lite.uri}, answering after ${Date.now() - started} ms\n`,
    );
    return async () => {
      await lite.stop();
      await rm(dataDir, { recursive: true, force: true });
    };
  } catch (error) {
    // The Milvus tests fail with this reason (never skip); the other tests still run.
    project.provide("milvusUri", "");
    project.provide("milvusKind", "");
    project.provide("milvusProblem", error instanceof Error ? error.message : String(error));
    await rm(dataDir, { recursive: true, force: true });
    return async () => {};
  }
}
