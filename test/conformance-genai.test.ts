/**
 * Conformance: the official `@google/genai` SDK, unchanged, pointed at the local server with
 * `httpOptions.baseUrl`.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type RunningServer, startServer } from "@gembed/server";
import { type BatchJob, GoogleGenAI, JobState } from "@google/genai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localEmbedding } from "../packages/server/src/local-model.js";

const MODEL = "gemini-embedding-001";
let server: RunningServer;
let client: GoogleGenAI;
let folder: string;

beforeAll(async () => {
  server = await startServer({ apiKeys: ["test-key"], batch: { delayPerItemMs: 2 } });
  client = new GoogleGenAI({ apiKey: "test-key", httpOptions: { baseUrl: server.url } });
  folder = await mkdtemp(path.join(tmpdir(), "gembed-conformance-"));
});

afterAll(async () => {
  await server?.close();
  await rm(folder, { recursive: true, force: true });
});

const TERMINAL = new Set<string>([
  JobState.JOB_STATE_SUCCEEDED,
  JobState.JOB_STATE_FAILED,
  JobState.JOB_STATE_CANCELLED,
  JobState.JOB_STATE_EXPIRED,
]);

async function waitDone(name: string): Promise<BatchJob> {
  const started = Date.now();
  for (;;) {
    const job = await client.batches.get({ name });
    if (job.state !== undefined && TERMINAL.has(job.state)) return job;
    if (Date.now() - started > 20_000) throw new Error(`job ${name} still ${job.state}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const same = (values: number[] | undefined, expected: Float32Array) =>
  expect(Array.from(Float32Array.from(values ?? []))).toEqual(Array.from(expected));

describe("@google/genai against gembed serve", () => {
  it("models.embedContent with one text", async () => {
    const response = await client.models.embedContent({ model: MODEL, contents: "Hello world" });
    expect(response.embeddings).toHaveLength(1);
    same(response.embeddings?.[0]?.values, localEmbedding("Hello world", { model: MODEL }));
  });

  it("models.embedContent with many texts and every config field", async () => {
    const texts = ["first document", "second document", "third document"];
    const response = await client.models.embedContent({
      model: MODEL,
      contents: texts,
      config: { taskType: "RETRIEVAL_DOCUMENT", title: "A title", outputDimensionality: 768 },
    });
    expect(response.embeddings).toHaveLength(3);
    texts.forEach((text, index) => {
      same(
        response.embeddings?.[index]?.values,
        localEmbedding(text, {
          model: MODEL,
          taskType: "RETRIEVAL_DOCUMENT",
          title: "A title",
          outputDimensionality: 768,
        }),
      );
    });
  });

  it("models.embedContent on gemini-embedding-2 merges a string[] into one vector, like the real one", async () => {
    const response = await client.models.embedContent({
      model: "gemini-embedding-2",
      contents: ["one", "two"],
    });
    expect(response.embeddings).toHaveLength(1);
  });

  it("surfaces the real error of an empty text and of a wrong key", async () => {
    await expect(client.models.embedContent({ model: MODEL, contents: [" "] })).rejects.toThrow(
      /contains an empty Part/,
    );
    const wrong = new GoogleGenAI({ apiKey: "wrong", httpOptions: { baseUrl: server.url } });
    await expect(wrong.models.embedContent({ model: MODEL, contents: "x" })).rejects.toThrow(
      /API key not valid/,
    );
  });

  it("batches.createEmbeddings with inline requests, then get until succeeded", async () => {
    const texts = ["inline one", "inline two", "inline three"];
    const job = await client.batches.createEmbeddings({
      model: MODEL,
      src: { inlinedRequests: { contents: texts, config: { outputDimensionality: 128 } } },
      config: { displayName: "conformance-inline" },
    });
    expect(job.name).toMatch(/^batches\//);
    expect(job.displayName).toBe("conformance-inline");
    expect(job.state).toBe(JobState.JOB_STATE_PENDING);
    const done = await waitDone(job.name!);
    expect(done.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    const responses = done.dest?.inlinedEmbedContentResponses ?? [];
    expect(responses).toHaveLength(3);
    texts.forEach((text, index) => {
      same(
        responses[index]?.response?.embedding?.values,
        localEmbedding(text, { model: MODEL, outputDimensionality: 128 }),
      );
    });
  });

  it("files.upload of a JSONL file, batches.createEmbeddings with it, files.download of the responses", async () => {
    const lines = Array.from({ length: 12 }, (_, index) =>
      JSON.stringify({
        key: `request_${index}`,
        request: {
          output_dimensionality: 128,
          content: { parts: [{ text: `file text ${index}` }] },
        },
      }),
    );
    const input = path.join(folder, "input.jsonl");
    await writeFile(input, `${lines.join("\n")}\n`);
    const file = await client.files.upload({
      file: input,
      config: { mimeType: "jsonl", displayName: "conformance-input" },
    });
    expect(file.name).toMatch(/^files\//);
    expect(file.state).toBe("ACTIVE");
    const fetched = await client.files.get({ name: file.name! });
    expect(fetched.sizeBytes).toBe(String((await readFile(input)).length));

    const job = await client.batches.createEmbeddings({
      model: MODEL,
      src: { fileName: file.name! },
      config: { displayName: "conformance-file" },
    });
    const done = await waitDone(job.name!);
    expect(done.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    const responsesFile = done.dest?.fileName;
    expect(responsesFile).toMatch(/^files\/batch-/);
    const downloadPath = path.join(folder, "responses.jsonl");
    await client.files.download({ file: responsesFile!, downloadPath });
    const output = (await readFile(downloadPath, "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(output.map((line) => line.key)).toEqual(lines.map((_, index) => `request_${index}`));
    same(
      output[5].response.embedding.values,
      localEmbedding("file text 5", { model: MODEL, outputDimensionality: 128 }),
    );
    const listed = await client.files.list({ config: { pageSize: 10 } });
    const names: string[] = [];
    for await (const one of listed) names.push(one.name!);
    expect(names).toContain(file.name);
    expect(names).toContain(responsesFile);
  });

  it("batches.list, cancel and delete", async () => {
    const slowServer = await startServer({ apiKeys: ["k"], batch: { delayPerItemMs: 50 } });
    try {
      const slow = new GoogleGenAI({ apiKey: "k", httpOptions: { baseUrl: slowServer.url } });
      const created: string[] = [];
      for (let index = 0; index < 3; index++) {
        const job = await slow.batches.createEmbeddings({
          model: MODEL,
          src: { inlinedRequests: { contents: ["a", "b", "c", "d", "e"] } },
          config: { displayName: `job-${index}` },
        });
        created.push(job.name!);
      }
      const pager = await slow.batches.list({ config: { pageSize: 2 } });
      const listed: string[] = [];
      for await (const job of pager) listed.push(job.name!);
      expect(listed.sort()).toEqual([...created].sort());

      await slow.batches.cancel({ name: created[0]! });
      const cancelled = await slow.batches.get({ name: created[0]! });
      expect(cancelled.state).toBe(JobState.JOB_STATE_CANCELLED);

      await slow.batches.delete({ name: created[1]! });
      await expect(slow.batches.get({ name: created[1]! })).rejects.toThrow(/not found/i);
    } finally {
      await slowServer.close();
    }
  });
});
