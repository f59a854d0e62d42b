/**
 * Exit codes and the one line printed, in-process through `runCli`: 2 only for option and usage
 * errors, never for a TypeError of a bug; when nothing was embedded the cause is the message;
 * a deliberate interrupt says what was kept, not `AbortError: …`.
 */
import { Command } from "commander";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { InterruptedError, UsageError } from "../src/cli/errors.js";
import { runCli } from "../src/cli/run.js";
import { GeminiEmbeddingFunction } from "../src/embedding/gemini-embedding-function.js";
import { GembedAbortError, InvalidOptionError } from "../src/errors.js";
import { type RunningServer, startServer } from "../src/server/index.js";
import { cleanEnvironment, runCli as spawnRun } from "./cli-run.js";

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({ apiKeys: ["good-key"] });
});
afterAll(async () => {
  await server.close();
});
afterEach(() => {
  process.exitCode = undefined;
  vi.restoreAllMocks();
});

/** Runs a one-command program whose action throws `error`; gives the exit code and stderr. */
async function exitOf(
  throwing: () => unknown,
): Promise<{ code: number | undefined; stderr: string }> {
  let stderr = "";
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  const program = new Command("gembed");
  program.command("go").action(async () => {
    await throwing();
  });
  await runCli(program, ["node", "gembed", "go"]);
  const code = process.exitCode === undefined ? undefined : Number(process.exitCode);
  return { code, stderr };
}

describe("exit codes", () => {
  it("a TypeError of a bug exits 1, not 2", async () => {
    const result = await exitOf(() => {
      const value = undefined as unknown as { call(): void };
      value.call();
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^gembed: TypeError: /);
  });

  it("an option error and a usage error exit 2", async () => {
    expect(
      (
        await exitOf(
          () => new GeminiEmbeddingFunction({ apiKey: "k", output_dimensionality: 768 } as object),
        )
      ).code,
    ).toBe(2);
    expect((await exitOf(() => Promise.reject(new InvalidOptionError("x", "bad x")))).code).toBe(2);
    expect((await exitOf(() => Promise.reject(new UsageError("bad")))).code).toBe(2);
    expect((await exitOf(() => Promise.reject(new RangeError("a bug")))).code).toBe(1);
  });

  it("an interrupt exits 130 with what was kept, not AbortError", async () => {
    const kept = await exitOf(() =>
      Promise.reject(new InterruptedError("interrupted: 5 row(s) written")),
    );
    expect(kept).toEqual({ code: 130, stderr: "gembed: interrupted: 5 row(s) written\n" });
    const plain = await exitOf(() =>
      Promise.reject(new GembedAbortError("The operation was aborted by the caller.")),
    );
    expect(plain.code).toBe(130);
    expect(plain.stderr).not.toContain("AbortError");
  });
});

describe("when nothing was embedded, the cause is the message", () => {
  it("a refused key names its class, its variable, and not 'Embedded 0 of'", async () => {
    const result = await spawnRun(["embed", "hello"], {
      cwd: process.cwd(),
      env: cleanEnvironment({
        GOOGLE_GEMINI_BASE_URL: server.url,
        GOOGLE_API_KEY: "stale-key",
        GEMINI_API_KEY: "good-key",
      }),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^gembed: BadRequestError: 400 INVALID_ARGUMENT: API key not valid/,
    );
    expect(result.stderr).toContain("the API key came from GOOGLE_API_KEY");
    expect(result.stderr).not.toContain("Embedded 0 of");
    expect(result.stderr).not.toContain("stale-key");
  });

  it("an unknown model says so", async () => {
    const result = await spawnRun(["embed", "hello", "--model", "no-such-model", "--dim", "8"], {
      cwd: process.cwd(),
      env: cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url, GEMINI_API_KEY: "good-key" }),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^gembed: NotFoundError: 404/);
    expect(result.stderr).not.toContain("Embedded 0 of");
  });
});
