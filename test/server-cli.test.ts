import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { serveOptions } from "../packages/cli/src/commands/serve.js";

const root = fileURLToPath(new URL("..", import.meta.url));

describe("gembed serve", () => {
  it("prints its URL, serves, and shuts down gracefully on SIGTERM", async () => {
    const child = spawn(
      process.execPath,
      [
        "--conditions=@gembed/source",
        "--import",
        "tsx",
        "packages/cli/src/main.ts",
        "serve",
        "--port",
        "0",
        "--api-key",
        "cli-key",
        "--log-level",
        "info",
      ],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const url = await new Promise<string>((resolve, reject) => {
      let seen = "";
      child.stdout.on("data", (chunk: Buffer) => {
        seen += chunk.toString();
        const match = /gembed serve listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
        if (match) resolve(match[1]!);
      });
      child.once("exit", (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    const refused = await fetch(`${url}/v1beta/models`);
    expect(refused.status).toBe(400);
    const answer = await fetch(
      `${url}/v1beta/models/gemini-embedding-001:embedContent?key=cli-key`,
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          content: { parts: [{ text: "hello" }] },
          outputDimensionality: 128,
        }),
      },
    );
    expect(answer.status).toBe(200);
    expect(
      ((await answer.json()) as { embedding: { values: number[] } }).embedding.values,
    ).toHaveLength(128);
    const exit = new Promise<number | null>((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    expect(await exit).toBe(0);
    expect(stderr).toContain("embedContent");
    expect(stderr).not.toContain("cli-key");
  });

  it("refuses a quota window of 0 ms as a usage error, before starting", async () => {
    const child = spawn(
      process.execPath,
      [
        "--conditions=@gembed/source",
        "--import",
        "tsx",
        "packages/cli/src/main.ts",
        "serve",
        "--quota-window-ms",
        "0",
      ],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(2);
    expect(output).toContain("--quota-window-ms");
    expect(output).not.toContain("listening");
  });

  it("maps flags to server options, tiers included", () => {
    const options = serveOptions({
      port: 8080,
      apiKey: ["a,b", "c"],
      quotaTier: "free",
      textsPerMinute: 7,
      fault503: 0.1,
      batchDelayMs: 5,
    });
    expect(options).toMatchObject({
      port: 8080,
      apiKeys: ["a", "b", "c"],
      quota: { textsPerMinute: 7, tokensPerMinute: 30_000, textsPerDay: 1_000 },
      faults: { rate503: 0.1 },
      batch: { delayPerItemMs: 5 },
    });
    expect(serveOptions({}).apiKeys).toBeUndefined();
  });
});
