/**
 * GeminiEmbeddingFunction against the real local server (`startServer` on 127.0.0.1:0): the
 * vectors are the server's deterministic ones for the task type and title each method must
 * send, under quotas, faults, short answers and a per-day stop.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { localEmbedding, type RunningServer, startServer } from "@gembed/server";
import {
  EmbeddingIncompleteError,
  GeminiEmbeddingFunction,
  RateLimitError,
  type TaskType,
} from "gembed";
import { afterEach, describe, expect, it } from "vitest";
import { l2Norm } from "../packages/gembed/src/embedding/normalization.js";

const MODEL = "gemini-embedding-001";
let server: RunningServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let index = 0; index < a.length; index++) {
    dot += (a[index] as number) * (b[index] as number);
    normA += (a[index] as number) ** 2;
    normB += (b[index] as number) ** 2;
  }
  return dot / Math.sqrt(normA * normB);
}

function expected(
  text: string,
  taskType: TaskType,
  dimension: number,
  title?: string,
): Float32Array {
  return localEmbedding(text, {
    model: MODEL,
    taskType,
    outputDimensionality: dimension,
    ...(title ? { title } : {}),
  });
}

/** The vector is the server's for this text, task type and title (up to the normalization). */
function expectServerVector(
  vector: Float32Array | undefined,
  text: string,
  taskType: TaskType,
  dimension: number,
  title?: string,
): void {
  expect(vector?.length).toBe(dimension);
  expect(cosine(vector!, expected(text, taskType, dimension, title))).toBeGreaterThan(0.99999);
}

const corpus = (count: number, prefix: string) =>
  Array.from({ length: count }, (_, index) => `${prefix} ${index} milvus vector search`);

describe("GeminiEmbeddingFunction against gembed serve", () => {
  it("gives each method its task type and each document its title", async () => {
    server = await startServer();
    const ef = new GeminiEmbeddingFunction({
      baseUrl: server.url,
      apiKey: "test-key",
      config: { outputDimensionality: 768 },
    });
    const [document, titled] = await ef.encodeDocuments([
      "Alan Turing was born in London.",
      { text: "Turing machines", title: "Computability" },
    ]);
    const [query] = await ef.encodeQueries(["Where was Alan Turing born?"]);
    const [cluster] = await ef.encode(["Alan Turing"], { taskType: "CLUSTERING" });
    expectServerVector(document, "Alan Turing was born in London.", "RETRIEVAL_DOCUMENT", 768);
    expectServerVector(titled, "Turing machines", "RETRIEVAL_DOCUMENT", 768, "Computability");
    expectServerVector(query, "Where was Alan Turing born?", "RETRIEVAL_QUERY", 768);
    expectServerVector(cluster, "Alan Turing", "CLUSTERING", 768);
    // A query's vector is not the document vector of the same text: the task type mattered.
    const [sameTextAsDocument] = await ef.encodeDocuments(["Where was Alan Turing born?"]);
    expect(cosine(query!, sameTextAsDocument!)).toBeLessThan(0.99999);
    // Truncated output comes back normalized.
    expect(l2Norm(document!)).toBeCloseTo(1, 5);
    // Sharing words scores higher than sharing none.
    const [unrelated] = await ef.encodeDocuments(["Bananas are yellow fruit."]);
    expect(cosine(query!, document!)).toBeGreaterThan(cosine(query!, unrelated!));
    expect(server.stats().byEndpoint.batchEmbedContents).toBe(5);
  });

  it("runs the seed's example at the default size", async () => {
    server = await startServer();
    const ef = new GeminiEmbeddingFunction({
      modelName: "gemini-embedding-001",
      apiKey: "...",
      baseUrl: server.url,
    });
    const docs = await ef.encodeDocuments([
      "Artificial intelligence was founded as an academic discipline in 1956.",
      "Alan Turing was the first person to conduct substantial research in AI.",
    ]);
    expect([ef.dim, docs[0]!.length]).toEqual([3072, 3072]);
    expect(l2Norm(docs[0]!)).toBeCloseTo(1, 4);
  });

  it("runs the seed's example as written, in its own process", async () => {
    server = await startServer();
    const folder = await mkdtemp(join(tmpdir(), "gembed-seed-"));
    try {
      const script = join(folder, "seed-example.mts");
      // The seed's example, word for word but for the import path (`gembed` is this package) and
      // the elided documents; the base URL comes from the environment, as with the official SDKs.
      const index = fileURLToPath(new URL("../packages/gembed/src/index.ts", import.meta.url));
      await writeFile(
        script,
        `import { GeminiEmbeddingFunction } from ${JSON.stringify(index)};
const ef = new GeminiEmbeddingFunction({ modelName: "gemini-embedding-001", apiKey: "..." });
const docs = await ef.encodeDocuments(["Artificial intelligence was founded as an academic discipline in 1956.", "Alan Turing was the first person to conduct substantial research in AI.", "Born in Maida Vale, London, Turing was raised in southern England."]);
console.log("Dim:", ef.dim, docs[0].length); // Dim: 3072 3072
const queries = await ef.encodeQueries(["When was artificial intelligence founded", "Where was Alan Turing born?"]);
console.log("Queries:", queries.length, queries[1].length);
`,
      );
      const environment: NodeJS.ProcessEnv = { ...process.env, GOOGLE_GEMINI_BASE_URL: server.url };
      delete environment.GOOGLE_API_KEY;
      delete environment.GEMINI_API_KEY;
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ["--conditions=@gembed/source", "--import", "tsx", script],
        {
          env: environment,
          cwd: fileURLToPath(new URL("..", import.meta.url)),
        },
      );
      expect(stdout).toBe("Dim: 3072 3072\nQueries: 2 3072\n");
      expect(server.stats().byEndpoint.batchEmbedContents).toBe(2);
      expect(server.stats().texts).toBe(5);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it("stays under a quota: waits the retryDelay, learns the ceiling, loses nothing", async () => {
    server = await startServer({ quota: { textsPerMinute: 200, windowMs: 400 } });
    const ef = new GeminiEmbeddingFunction({
      baseUrl: server.url,
      apiKey: "test-key",
      config: { outputDimensionality: 128 },
      maxTextsPerCall: 50,
      quota: { windowMs: 400 },
    });
    const texts = corpus(1000, "quota");
    const started = Date.now();
    // The 429s of the first burst (sent before anything was known of the quota), counted once
    // its answers are all in: the first chunk done after the first window.
    let firstBurstRejections: number | undefined;
    const vectors = await ef.encodeDocuments(texts, {
      onProgress: ({ done }) => {
        if (done > 200 && firstBurstRejections === undefined) {
          firstBurstRejections = server?.stats().quotaRejections;
        }
      },
    });
    // 1,000 texts at 200 per 400 ms cannot finish before 4 more windows have passed.
    expect(Date.now() - started).toBeGreaterThanOrEqual(4 * 400 - 50);
    texts.forEach((text, index) => {
      expectServerVector(vectors[index], text, "RETRIEVAL_DOCUMENT", 128);
    });
    expect(ef.limiter.rateLimitedCount).toBeGreaterThan(0);
    expect(ef.limiter.learnedLimits?.texts).toBe(200);
    // Once learned, the wall is not hit again and again.
    expect(firstBurstRejections).toBeDefined();
    expect(server.stats().quotaRejections - (firstBurstRejections ?? 0)).toBeLessThan(5);
    expect(server.stats().texts).toBe(1000);
  });

  it("learns a tokens-per-minute ceiling as tokens, not texts", async () => {
    server = await startServer({ quota: { tokensPerMinute: 3000, windowMs: 400 } });
    const ef = new GeminiEmbeddingFunction({
      baseUrl: server.url,
      apiKey: "test-key",
      config: { outputDimensionality: 128 },
      maxTextsPerCall: 50,
      quota: { windowMs: 400 },
    });
    const texts = corpus(600, "tokens"); // about 8 tokens each
    const vectors = await ef.encodeDocuments(texts);
    texts.forEach((text, index) => {
      expectServerVector(vectors[index], text, "RETRIEVAL_DOCUMENT", 128);
    });
    const learned = ef.limiter.learnedLimits;
    expect(learned?.tokens).toBeLessThanOrEqual(3000);
    expect(learned?.texts).toBe(Number.POSITIVE_INFINITY);
    expect(server.stats().quotaRejections).toBeLessThan(10);
  });

  it("splits a chunk larger than the whole quota until it fits", async () => {
    server = await startServer({ quota: { textsPerMinute: 30, windowMs: 200 } });
    const ef = new GeminiEmbeddingFunction({
      baseUrl: server.url,
      apiKey: "test-key",
      config: { outputDimensionality: 128 },
      quota: { windowMs: 200 },
    });
    const texts = corpus(100, "small quota");
    const vectors = await ef.encodeDocuments(texts);
    texts.forEach((text, index) => {
      expectServerVector(vectors[index], text, "RETRIEVAL_DOCUMENT", 128);
    });
    expect(server.stats().texts).toBe(100);
  });

  it("survives 503s, 500s, dropped connections and short answers, in order", async () => {
    server = await startServer({
      faults: { rate503: 0.15, rate500: 0.1, dropRate: 0.1, shortAnswerRate: 0.2, seed: 11 },
    });
    const ef = new GeminiEmbeddingFunction({
      baseUrl: server.url,
      apiKey: "test-key",
      config: { outputDimensionality: 256 },
      maxTextsPerCall: 20,
      retryBaseDelay: 5,
      maxRetries: 10,
    });
    const texts = corpus(400, "faulty");
    const vectors = await ef.encodeDocuments(texts);
    texts.forEach((text, index) => {
      expectServerVector(vectors[index], text, "RETRIEVAL_DOCUMENT", 256);
    });
    const faults = server.stats().faults;
    expect((faults["503"] ?? 0) + (faults["500"] ?? 0) + (faults.drop ?? 0)).toBeGreaterThan(0);
    expect(faults.short ?? 0).toBeGreaterThan(0);
  });

  it("stops at the per-day quota with the vectors computed and the indices missing", async () => {
    server = await startServer({ quota: { textsPerDay: 250 } });
    const ef = new GeminiEmbeddingFunction({
      baseUrl: server.url,
      apiKey: "test-key",
      config: { outputDimensionality: 128 },
      maxTextsPerCall: 50,
      concurrency: 2,
    });
    const texts = corpus(400, "daily");
    const error = await ef.encodeDocuments(texts).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmbeddingIncompleteError);
    const incomplete = error as EmbeddingIncompleteError;
    expect(incomplete.cause).toBeInstanceOf(RateLimitError);
    expect((incomplete.cause as RateLimitError).isPerDayQuota).toBe(true);
    const done = incomplete.vectors
      .map((vector, index) => (vector ? index : -1))
      .filter((index) => index >= 0);
    expect(done).toHaveLength(250);
    expect(incomplete.missingIndices).toHaveLength(150);
    expect(new Set([...done, ...incomplete.missingIndices]).size).toBe(400);
    for (const index of done) {
      expectServerVector(incomplete.vectors[index], texts[index]!, "RETRIEVAL_DOCUMENT", 128);
    }
  });

  it("streams in order with bounded lookahead", async () => {
    server = await startServer({ faults: { latencyPerTextMs: 0.05, seed: 3 } });
    const ef = new GeminiEmbeddingFunction({
      baseUrl: server.url,
      apiKey: "test-key",
      config: { outputDimensionality: 128 },
      concurrency: 3,
    });
    let produced = 0;
    let consumed = 0;
    let maxAhead = 0;
    async function* source() {
      for (let index = 0; index < 3000; index++) {
        produced++;
        maxAhead = Math.max(maxAhead, produced - consumed);
        yield `stream ${index} milvus`;
      }
    }
    for await (const vector of ef.encodeStream(source(), { taskType: "RETRIEVAL_QUERY" })) {
      expectServerVector(vector, `stream ${consumed} milvus`, "RETRIEVAL_QUERY", 128);
      consumed++;
    }
    expect(consumed).toBe(3000);
    // Never more than lookahead (2 x concurrency chunks of 100) plus one open chunk read ahead.
    expect(maxAhead).toBeLessThanOrEqual(7 * 100 + 1);
  });
});
