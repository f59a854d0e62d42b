/**
 * GeminiClient against the local Gemini-compatible server (src/server/), end to end: the same
 * client that talks to Google, on the real API paths, with no scripted answers.
 */
import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { localEmbedding, startServer } from "@gembed/server";
import {
  GeminiApiError,
  GeminiClient,
  NotFoundError,
  RateLimitError,
  TERMINAL_BATCH_STATES,
} from "gembed";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const KEY = "local-server-key-XYZ-987";
const MODEL = "gemini-embedding-001";

type Running = Awaited<ReturnType<typeof startServer>>;
let server: Running;
let client: GeminiClient;

beforeAll(async () => {
  server = await startServer({ apiKeys: [KEY], batch: { delayPerItemMs: 0 } });
  client = new GeminiClient({ apiKey: KEY, baseUrl: server.url, maxRetries: 0 });
});
afterAll(async () => {
  await server?.close();
});

function close(actual: number[], expected: Float32Array): void {
  expect(actual).toHaveLength(expected.length);
  for (let index = 0; index < expected.length; index++) {
    expect(Math.abs((actual[index] as number) - (expected[index] as number))).toBeLessThan(1e-6);
  }
}

async function waitUntil<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("GeminiClient against the local server", () => {
  it("embedContent returns the local model's vector (3072 by default, truncated on request)", async () => {
    const text = "Milvus stores vectors";
    const full = await client.embedContent(MODEL, {
      content: { parts: [{ text }] },
      taskType: "RETRIEVAL_QUERY",
    });
    close(
      full.embedding.values,
      localEmbedding(text, { model: MODEL, taskType: "RETRIEVAL_QUERY" }),
    );
    expect(full.embedding.values).toHaveLength(3072);
    const small = await client.embedContent(MODEL, {
      content: { parts: [{ text }] },
      taskType: "RETRIEVAL_DOCUMENT",
      title: "Doc",
      outputDimensionality: 768,
    });
    close(
      small.embedding.values,
      localEmbedding(text, {
        model: MODEL,
        taskType: "RETRIEVAL_DOCUMENT",
        title: "Doc",
        outputDimensionality: 768,
      }),
    );
  });

  it("batchEmbedContents answers one embedding per request, in order", async () => {
    const texts = ["alpha beta", "gamma delta", "epsilon"];
    const response = await client.batchEmbedContents(
      MODEL,
      texts.map((text) => ({ content: { parts: [{ text }] }, outputDimensionality: 256 })),
    );
    expect(response.embeddings).toHaveLength(3);
    response.embeddings.forEach((embedding, index) => {
      close(
        embedding.values,
        localEmbedding(texts[index]!, { model: MODEL, outputDimensionality: 256 }),
      );
    });
  });

  it("models.get and models.list", async () => {
    const model = await client.models.get(MODEL);
    expect(model.name).toBe("models/gemini-embedding-001");
    const names: string[] = [];
    for await (const item of client.models.listAll()) names.push(item.name);
    expect(names).toContain("models/gemini-embedding-001");
  });

  it("a batch job: create, get, list, wait for success, delete", async () => {
    const created = await client.asyncBatchEmbedContent(MODEL, {
      displayName: "client-test",
      inputConfig: {
        requests: {
          requests: ["one text", "two texts"].map((text, index) => ({
            request: { model: `models/${MODEL}`, content: { parts: [{ text }] } },
            metadata: { key: `k${index}` },
          })),
        },
      },
    });
    expect(created.name).toMatch(/^batches\//);
    expect(created.metadata?.displayName).toBe("client-test");
    const got = await client.batches.get(created.name);
    expect(got.name).toBe(created.name);
    const listed: string[] = [];
    for await (const operation of client.batches.listAll({ pageSize: 1 }))
      listed.push(operation.name);
    expect(listed).toContain(created.name);
    const finished = await waitUntil(
      () => client.batches.get(created.name),
      (operation) => operation.done === true,
    );
    expect(finished.metadata?.state).toBe("BATCH_STATE_SUCCEEDED");
    const inlined = finished.metadata?.output?.inlinedResponses?.inlinedResponses ?? [];
    expect(inlined).toHaveLength(2);
    close(inlined[1]!.response!.embedding.values, localEmbedding("two texts", { model: MODEL }));
    await client.batches.delete(created.name);
    await expect(client.batches.get(created.name)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("a batch job can be cancelled", async () => {
    const slow = await startServer({ batch: { delayPerItemMs: 5_000 } });
    try {
      const slowClient = new GeminiClient({ apiKey: KEY, baseUrl: slow.url, maxRetries: 0 });
      const created = await slowClient.asyncBatchEmbedContent(MODEL, {
        displayName: "to-cancel",
        inputConfig: {
          requests: {
            requests: [{ request: { content: { parts: [{ text: "slow" }] } } }],
          },
        },
      });
      await slowClient.batches.cancel(created.name);
      const after = await waitUntil(
        () => slowClient.batches.get(created.name),
        (operation) =>
          TERMINAL_BATCH_STATES.has(operation.metadata?.state ?? "BATCH_STATE_UNSPECIFIED"),
      );
      expect(after.metadata?.state).toBe("BATCH_STATE_CANCELLED");
    } finally {
      await slow.close();
    }
  });

  it("files: resumable upload in several chunks, get, list, download, delete", async () => {
    const bytes = randomBytes(600 * 1024);
    const uploaded = await client.files.upload(bytes, {
      displayName: "round trip",
      mimeType: "application/jsonl",
      chunkSize: 256 * 1024,
    });
    expect(uploaded.name).toMatch(/^files\//);
    expect(uploaded.sizeBytes).toBe(String(bytes.byteLength));
    const got = await client.files.get(uploaded.name);
    expect(got.displayName).toBe("round trip");
    const names: string[] = [];
    for await (const file of client.files.listAll()) names.push(file.name);
    expect(names).toContain(uploaded.name);
    const pieces: Buffer[] = [];
    for await (const piece of await client.files.download(uploaded.name))
      pieces.push(piece as Buffer);
    expect(Buffer.concat(pieces).equals(bytes)).toBe(true);
    await client.files.delete(uploaded.name);
    await expect(client.files.get(uploaded.name)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("errors: an unknown model, a wrong key (never shown)", async () => {
    await expect(
      client.embedContent("gemini-embedding-exp-03-07", { content: { parts: [{ text: "x" }] } }),
    ).rejects.toBeInstanceOf(NotFoundError);
    const wrong = "wrong-key-SHOULD-NOT-LEAK";
    const error = await new GeminiClient({
      apiKey: wrong,
      baseUrl: server.url,
      maxRetries: 0,
    }).models
      .list()
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GeminiApiError);
    expect([400, 401, 403]).toContain((error as GeminiApiError).httpStatus);
    for (const text of [
      String((error as Error).stack),
      inspect(error, { depth: 10 }),
      JSON.stringify(error),
    ]) {
      expect(text).not.toContain(wrong);
    }
  });

  it("quota: a 429 carries RetryInfo and the client waits it out", async () => {
    const limited = await startServer({ quota: { textsPerMinute: 2, windowMs: 400 } });
    try {
      const strict = new GeminiClient({ apiKey: KEY, baseUrl: limited.url, maxRetries: 0 });
      const texts = [
        { content: { parts: [{ text: "a" }] } },
        { content: { parts: [{ text: "b" }] } },
      ];
      await strict.batchEmbedContents(MODEL, texts);
      const error = await strict
        .batchEmbedContents(MODEL, texts)
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(RateLimitError);
      expect((error as RateLimitError).retryDelayMs).toBeGreaterThan(0);
      const patient = new GeminiClient({ apiKey: KEY, baseUrl: limited.url, maxRetries: 3 });
      const response = await patient.batchEmbedContents(MODEL, texts);
      expect(response.embeddings).toHaveLength(2);
      expect(limited.stats().quotaRejections).toBeGreaterThanOrEqual(1);
    } finally {
      await limited.close();
    }
  });
});
