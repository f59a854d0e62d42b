/**
 * Fixes of a second QA pass over the CLI: every command-line mistake in one format
 * (`gembed: UsageError: …`, exit 2, naming the help to read), and one spelling of a batch job's
 * state in every printed line. In-process runs (`runCli`) against the local server on
 * 127.0.0.1:0, in real temporary folders.
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
  folder = await mkdtemp(path.join(tmpdir(), "gembed-qa-pass-"));
  env = cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url, GEMINI_API_KEY: "qa-key" });
  context.onTestFinished(() => rm(folder, { recursive: true, force: true }));
});

const run = (args: string[]) => runCli(args, { cwd: folder, env });

describe("usage errors: one format", () => {
  it.each([
    [["--bogus"], "unknown option '--bogus'; see `gembed --help`"],
    [["embd"], "unknown command 'embd' (did you mean embed?); see `gembed --help`"],
    [
      ["embed", "x", "--dmi", "3"],
      "unknown option '--dmi' (did you mean --dim?); see `gembed embed --help`",
    ],
    [["search"], "missing required argument 'query'; see `gembed search --help`"],
    [
      ["embed", "x", "--dim", "abc"],
      "option '--dim <n>' argument 'abc' is invalid. --dim must be an integer >= 1; see `gembed embed --help`",
    ],
    [["batch", "status"], "missing required argument 'job'; see `gembed batch status --help`"],
    [["batch", "nope"], "unknown command 'nope'; see `gembed batch --help`"],
    [
      ["search", "a", "b"],
      "too many arguments for 'search'. Expected 1 argument but got 2; see `gembed search --help`",
    ],
  ])("gembed %j: one gembed line, exit 2", async (args, message) => {
    const result = await run(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`gembed: UsageError: ${message}\n`);
    expect(result.stdout).toBe("");
  });

  it("a bad choice is the same line, with the choices", async () => {
    const result = await run(["embed", "x", "--task", "FOO"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^gembed: UsageError: option '--task <type>' argument 'FOO' is invalid\. Allowed choices are .*RETRIEVAL_QUERY.*; see `gembed embed --help`\n$/,
    );
  });

  it("help and version are not errors", async () => {
    const help = await run(["batch", "wait", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: gembed batch wait");
    expect(help.stderr).toBe("");
    const version = await run(["--version"]);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});

describe("batch job states: one spelling", { timeout: 60_000 }, () => {
  it("status, wait, cancel and list print SUCCEEDED; --json keeps the API's BATCH_STATE_ name in each", async () => {
    const input = path.join(folder, "corpus.txt");
    await writeFile(input, "one text\nanother text\n");
    const submitted = await run(["batch", "submit", input, "--dim", "128"]);
    expect(submitted.code).toBe(0);
    const name = submitted.stdout.trim();
    const waited = await run(["batch", "wait", name, "--poll-interval", "20"]);
    expect(waited.code).toBe(0);
    expect(waited.stdout.split("\n")[0]).toBe(`${name}  SUCCEEDED`);
    const status = await run(["batch", "status", name]);
    expect(status.stdout.split("\n")[0]).toBe(`${name}  SUCCEEDED`);
    const listed = await run(["batch", "list"]);
    expect(listed.stdout).toContain(`${name}\tSUCCEEDED\t2/2`);
    for (const printed of [waited, status, listed]) {
      expect(printed.stdout).not.toContain("BATCH_STATE_");
    }

    const statusJson = JSON.parse((await run(["batch", "status", name, "--json"])).stdout) as {
      state: string;
    };
    const listJson = JSON.parse((await run(["batch", "list", "--json"])).stdout) as {
      name: string;
      state: string;
    }[];
    expect(statusJson.state).toBe("BATCH_STATE_SUCCEEDED");
    expect(listJson.find((job) => job.name === name)?.state).toBe("BATCH_STATE_SUCCEEDED");
  });
});
