/**
 * Fixes of a second QA pass over the CLI: `serve --data-dir` under /proc (Node's recursive mkdir
 * never returned there), an API key that cannot go into a header (exit 2, naming the variable),
 * `--dim` named as `--dim`, `gembed help batch submit`, and Ctrl-C during `batch submit`. In-process
 * runs (`runCli`) against the local server on 127.0.0.1:0; Ctrl-C on a real child process.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type RunningServer, startServer } from "@gembed/server";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cleanEnvironment, runCli } from "./cli-run.js";

let server: RunningServer;
let folder: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  server = await startServer({ batch: { delayPerItemMs: 1 } });
});
afterAll(async () => {
  await server.close();
});
beforeEach(async (context) => {
  folder = await mkdtemp(path.join(tmpdir(), "gembed-qa2-"));
  env = cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url, GEMINI_API_KEY: "qa2-key" });
  context.onTestFinished(() => rm(folder, { recursive: true, force: true }));
});

const run = (args: string[], environment = env) => runCli(args, { cwd: folder, env: environment });

describe("gembed serve --data-dir", () => {
  it.runIf(process.platform === "linux")(
    "a folder under /proc is a usage error (exit 2) naming it, instead of a start that never ends",
    { timeout: 20_000 },
    async () => {
      const result = await run([
        "serve",
        "--data-dir",
        "/proc/gembed-qa2",
        "--log-level",
        "silent",
      ]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(
        /^gembed: UsageError: The data folder \/proc\/gembed-qa2 cannot be written \(ENOENT on /,
      );
    },
  );
});

describe("an API key that cannot be sent", () => {
  it("is a usage error (exit 2) naming the variable, never the key", async () => {
    const key = "AIzaSy-clé-5c1e";
    const before = server.stats().requests;
    const result = await run(["embed", "hello"], { ...env, GEMINI_API_KEY: key });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^gembed: InvalidOptionError: The API key from GEMINI_API_KEY holds a character that cannot be sent in an HTTP header/,
    );
    expect(result.stderr + result.stdout).not.toContain("clé");
    expect(server.stats().requests).toBe(before);
  });
});
