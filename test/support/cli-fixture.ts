/**
 * The setup the CLI test files share: one local server per file, a fresh folder per test (the
 * working directory of `run`), and an environment pointing gembed at the server. The bindings are
 * live (ES module `let` exports), and Vitest gives each test file its own copy of this module.
 *
 * @example
 * ```ts
 * import { folder, run, server, useCliFixture } from "./support/cli-fixture.js";
 * useCliFixture("gembed-qa-", "qa-key");
 * ```
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type RunningServer, startServer } from "@gembed/server";
import { afterAll, beforeAll, beforeEach } from "vitest";
import { type CliResult, cleanEnvironment, runCli } from "../cli-run.js";

/** The local server of this test file. */
export let server: RunningServer;
/** This test's own folder, removed when it ends. */
export let folder: string;
/** A clean environment with `GOOGLE_GEMINI_BASE_URL` and `GEMINI_API_KEY` set for `server`. */
export let env: NodeJS.ProcessEnv;

/** Registers the hooks: a server for the file, a folder and an environment for each test. */
export function useCliFixture(folderPrefix: string, apiKey: string): void {
  beforeAll(async () => {
    server = await startServer({ batch: { delayPerItemMs: 1 } });
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(async (context) => {
    folder = await mkdtemp(path.join(tmpdir(), folderPrefix));
    env = cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url, GEMINI_API_KEY: apiKey });
    context.onTestFinished(() => rm(folder, { recursive: true, force: true }));
  });
}

/** Runs `gembed args` in this process, in `folder`, with `env` (or the environment given). */
export function run(args: string[], environment: NodeJS.ProcessEnv = env): Promise<CliResult> {
  return runCli(args, { cwd: folder, env: environment });
}
