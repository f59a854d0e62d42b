/**
 * `gembed batch ...` against the local server, run in the test's process (`runCli`).
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer } from "@gembed/server";
import { GeminiEmbeddingFunction } from "gembed";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./cli-run.js";

const API_KEY = "cli-secret-key-123";

let server: Awaited<ReturnType<typeof startServer>>;
let folder: string;

beforeAll(async () => {
  server = await startServer({ batch: { delayPerItemMs: 20 } });
  folder = await mkdtemp(join(tmpdir(), "gembed-batch-cli-"));
});
afterAll(async () => {
  await server?.close();
  await rm(folder, { recursive: true, force: true });
});

async function gembed(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const environment = { ...process.env, GOOGLE_API_KEY: API_KEY, GEMINI_API_KEY: "" };
  const { code, stdout, stderr } = await runCli(args, { cwd: process.cwd(), env: environment });
  return { code: code ?? 1, stdout, stderr };
}

describe("gembed batch", () => {
  it("submit a JSONL file, status, wait, collect: vectors equal to the library's, keyed by id", async () => {
    const input = join(folder, "corpus.jsonl");
    const rows = [
      { id: "doc-a", text: "the first document", title: "First" },
      { id: 7, text: "the second document" },
      { text: "the third document" },
    ];
    await writeFile(input, `${rows.map((row) => JSON.stringify(row)).join("\n")}\n`);
    const submitted = await gembed(
      "batch",
      "submit",
      input,
      "--dim",
      "128",
      "--priority",
      "3",
      "--display-name",
      "cli job",
      "--base-url",
      server.url,
      "--json",
    );
    expect(submitted.stderr).toBe("");
    expect(submitted.code).toBe(0);
    const job = JSON.parse(submitted.stdout) as {
      name: string;
      state: string;
      displayName: string;
      priority: string;
    };
    expect(job.name).toMatch(/^batches\//);
    expect(job.displayName).toBe("cli job");
    expect(job.priority).toBe("3");

    const status = await gembed("batch", "status", job.name, "--base-url", server.url, "--json");
    expect(JSON.parse(status.stdout)).toMatchObject({
      name: job.name,
      batchStats: { requestCount: 3 },
    });

    const waited = await gembed(
      "batch",
      "wait",
      job.name,
      "--poll-interval",
      "20",
      "--base-url",
      server.url,
      "--json",
    );
    expect(waited.code).toBe(0);
    expect(JSON.parse(waited.stdout)).toMatchObject({
      state: "BATCH_STATE_SUCCEEDED",
      batchStats: { successfulRequestCount: 3 },
    });
    // Not a terminal: plain progress lines on stderr.
    expect(waited.stderr).toContain(`${job.name} SUCCEEDED 3/3`);

    const out = join(folder, "vectors.jsonl");
    const collected = await gembed(
      "batch",
      "collect",
      job.name,
      "--out",
      out,
      "--base-url",
      server.url,
    );
    expect(collected.code).toBe(0);
    expect(collected.stdout).toContain("3 result(s) written");
    const lines = (await readFile(out, "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { id: string; embedding: number[] });
    expect(lines.map((line) => line.id).sort()).toEqual(["2", "7", "doc-a"]);
    const ef = new GeminiEmbeddingFunction({
      baseUrl: server.url,
      apiKey: API_KEY,
      config: { outputDimensionality: 128 },
      quota: false,
    });
    const sync = await ef.encodeDocuments([
      { text: "the first document", title: "First" },
      "the second document",
      "the third document",
    ]);
    const byId = new Map(lines.map((line) => [line.id, line.embedding]));
    expect(byId.get("doc-a")).toEqual(Array.from(sync[0] as Float32Array));
    expect(byId.get("7")).toEqual(Array.from(sync[1] as Float32Array));
    expect(byId.get("2")).toEqual(Array.from(sync[2] as Float32Array));

    const listed = await gembed("batch", "list", "--base-url", server.url, "--json");
    expect((JSON.parse(listed.stdout) as { name: string }[]).map((item) => item.name)).toContain(
      job.name,
    );
    for (const output of [submitted, status, waited, collected, listed]) {
      expect(output.stdout + output.stderr).not.toContain(API_KEY);
    }
  });

  it("a text file with one text per line, and cancel", async () => {
    const input = join(folder, "corpus.txt");
    await writeFile(input, Array.from({ length: 200 }, (_, index) => `line ${index}`).join("\n"));
    const submitted = await gembed(
      "batch",
      "submit",
      input,
      "--dim",
      "128",
      "--base-url",
      server.url,
    );
    expect(submitted.code).toBe(0);
    const name = submitted.stdout.trim();
    expect(name).toMatch(/^batches\/\S+$/);
    const cancelled = await gembed("batch", "cancel", name, "--base-url", server.url, "--json");
    expect(cancelled.code).toBe(0);
    expect(JSON.parse(cancelled.stdout)).toMatchObject({
      name,
      state: "BATCH_STATE_CANCELLED",
      batchStats: { requestCount: 200 },
    });
    const collected = await gembed(
      "batch",
      "collect",
      name,
      "--out",
      join(folder, "never.jsonl"),
      "--base-url",
      server.url,
    );
    expect(collected.code).toBe(1);
    // The short state, as the CLI prints states everywhere.
    expect(collected.stderr).toContain(`BatchJobError: Batch job ${name} ended CANCELLED:`);
    expect(collected.stderr).not.toContain("BATCH_STATE_");
  });

  it("bad input is a usage error naming the lines", async () => {
    const input = join(folder, "bad.jsonl");
    await writeFile(input, '{"text":"fine"}\n{"text":""}\nnot json\n');
    const result = await gembed("batch", "submit", input, "--base-url", server.url);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/#2: "text" is empty or whitespace-only; #3: line is not JSON/);
    expect(server.stats().batchesCreated).toBe(2);
  });

  it("says which line is wrong and why: missing or non-string text, a repeated id", async () => {
    const input = join(folder, "worse.jsonl");
    await writeFile(
      input,
      [
        '{"id":"a","text":"fine"}',
        '{"id":"b"}',
        '{"id":"c","text":42}',
        '{"id":"d","text":"  "}',
        "[1,2]",
        '{"id":"a","text":"again"}',
        "",
      ].join("\n"),
    );
    const result = await gembed("batch", "submit", input, "--base-url", server.url);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('#2: "text" is missing');
    expect(result.stderr).toContain('#3: "text" must be a string, got number');
    expect(result.stderr).toContain('#4: "text" is empty or whitespace-only');
    expect(result.stderr).toContain("#5: line is not a JSON object");
    expect(result.stderr).toContain('#6: duplicate id "a" (first on line 1)');
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(server.stats().batchesCreated).toBe(2);
  });

  it("a missing or empty input file is a usage error (exit 2) that names the file", async () => {
    const missing = join(folder, "missing.jsonl");
    const absent = await gembed("batch", "submit", missing, "--base-url", server.url);
    expect(absent.code).toBe(2);
    expect(absent.stderr).toBe(
      `gembed: SourceError: 1 source problem(s): ${missing}: no such file\n`,
    );
    const empty = join(folder, "empty.jsonl");
    await writeFile(empty, "\n\n");
    const blank = await gembed("batch", "submit", empty, "--base-url", server.url);
    expect(blank.code).toBe(2);
    expect(blank.stderr).toContain(`${empty}: no text (the file is empty or blank)`);
    expect(server.stats().batchesCreated).toBe(2);
  });
});
