/**
 * The engine against the real local server (`startServer` on 127.0.0.1:0): a quota that is not a
 * multiple of the call size is filled with a smaller call rather than left partly empty; the
 * quota's window and ceiling are learned with no window told; the number of calls in flight
 * grows without 429s and shrinks on them; every wait is told to `onProgress`.
 */

import { localEmbedding, type RunningServer, startServer } from "@gembed/server";
import { afterEach, describe, expect, it } from "vitest";
import { GeminiClient } from "../client/gemini-client.js";
import { EmbeddingIncompleteError, RateLimitError } from "../errors.js";
import {
  type EmbeddingProgress,
  GeminiEmbeddingFunction,
  INITIAL_CONCURRENCY,
} from "./gemini-embedding-function.js";

let server: RunningServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Cosine of `vector` with the local model's vector of `text`. */
function cosineToServer(vector: Float32Array | undefined, text: string): number {
  const expected = localEmbedding(text, {
    model: "gemini-embedding-001",
    taskType: "RETRIEVAL_DOCUMENT",
    outputDimensionality: 128,
  });
  let dot = 0;
  for (let position = 0; position < 128; position++)
    dot += ((vector?.[position] as number) ?? 0) * (expected[position] as number);
  return dot / Math.hypot(...expected);
}

describe("adaptive limits with gembed's defaults", () => {
  for (const windowMs of [1000, 2000]) {
    it(`learns a ${windowMs / 1000} s quota window and its ceiling from the 429s, told nothing`, async () => {
      server = await startServer({ quota: { textsPerMinute: 300, windowMs }, logLevel: "silent" });
      const ef = new GeminiEmbeddingFunction({
        apiKey: "test-key",
        baseUrl: server.url,
        config: { outputDimensionality: 128 },
      });
      const texts = Array.from({ length: 1200 }, (_, index) => `window ${windowMs} text ${index}`);
      let firstBurstRejections: number | undefined;
      const vectors = await ef.encodeDocuments(texts, {
        onProgress: ({ done, phase }) => {
          // The first chunk done after the first window: the first burst's answers are all in.
          if (phase === "embedding" && done > 300 && firstBurstRejections === undefined) {
            firstBurstRejections = server?.stats().quotaRejections;
          }
        },
      });
      const learned = ef.limiter.learnedLimits;
      expect(learned?.texts).toBe(300);
      // The window learned is the server's, as seen on answer times (shorter by the server's
      // work on a call, which is small beside it).
      expect(learned?.windowMs).toBeGreaterThan(windowMs * 0.9);
      expect(learned?.windowMs).toBeLessThan(windowMs * 1.1);
      // Once learned, the wall is not hit again and again: a few 429s in the four windows
      // after (each one measures the window again), not one per call.
      expect(server.stats().quotaRejections - (firstBurstRejections ?? 0)).toBeLessThanOrEqual(6);
      expect(server.stats().texts).toBe(1200);
      for (const index of [0, 299, 300, 899, 1199]) {
        expect(cosineToServer(vectors[index], texts[index] as string)).toBeGreaterThan(0.999);
      }
      // It waited for the quota, and said so with when it would resume.
      expect(ef.concurrencyLimiter.limit).toBeLessThan(32);
    });
  }

  it("holds every call not yet sent once the first 429 is in: the first burst is the first wave", async () => {
    server = await startServer({
      quota: { textsPerMinute: 2000, windowMs: 1000 },
      logLevel: "silent",
    });
    let sent = 0;
    let sentBeforeFirstRefusal: number | undefined;
    const client = new GeminiClient({
      apiKey: "test-key",
      baseUrl: server.url,
      fetch: async (input, init) => {
        sent++;
        const response = await fetch(input, init);
        if (response.status === 429) sentBeforeFirstRefusal ??= sent;
        return response;
      },
    });
    const ef = new GeminiEmbeddingFunction({ client, config: { outputDimensionality: 128 } });
    // 70 calls of 100: 20 fit the first window, and 38 are not yet sent when the 429s come.
    const texts = Array.from({ length: 7000 }, (_, index) => `burst ${index}`);
    const vectors = await ef.encodeDocuments(texts);
    expect(server.stats().texts).toBe(7000);
    expect(cosineToServer(vectors[6999], texts[6999] as string)).toBeGreaterThan(0.999);
    // The first burst is the first wave: no call leaves on the wave's first answers (a freed
    // slot, slow start's growth) before its 429s are read (62 calls went before that hold).
    expect(sentBeforeFirstRefusal).toBeLessThanOrEqual(INITIAL_CONCURRENCY);
    // The refusals are those of the first wave (less the 20 calls accepted) and a few more
    // while the window is measured again, not one for each of the 38 calls still waiting
    // (held by the pause, then paced by what the 429 taught).
    expect(server.stats().quotaRejections).toBeLessThanOrEqual(
      (sentBeforeFirstRefusal ?? 0) - 20 + 6,
    );
  });

  it("tells onProgress of each quota wait, with when it resumes", async () => {
    server = await startServer({
      quota: { textsPerMinute: 200, windowMs: 1000 },
      logLevel: "silent",
    });
    const ef = new GeminiEmbeddingFunction({
      apiKey: "test-key",
      baseUrl: server.url,
      config: { outputDimensionality: 128 },
    });
    const told: (EmbeddingProgress & { at: number })[] = [];
    const texts = Array.from({ length: 500 }, (_, index) => `wait ${index}`);
    await ef.encodeDocuments(texts, {
      onProgress: (progress) => told.push({ ...progress, at: Date.now() }),
    });
    const waits = told.filter((progress) => progress.phase === "waiting-for-quota");
    expect(waits.length).toBeGreaterThan(0);
    for (const wait of waits) {
      expect(wait.resumeAt).toBeGreaterThan(wait.at);
      expect(wait.reason).toMatch(/quota/);
      expect(wait.total).toBe(500);
    }
    expect(told.at(-1)).toMatchObject({ done: 500, total: 500, phase: "embedding" });
  });

  it("grows the calls in flight while no 429 comes back", async () => {
    // A staged latency well above the machine's own jitter (shared cores).
    server = await startServer({ faults: { latencyMs: 150 }, logLevel: "silent" });
    const ef = new GeminiEmbeddingFunction({
      apiKey: "test-key",
      baseUrl: server.url,
      config: { outputDimensionality: 128 },
    });
    const first = ef.concurrencyLimiter.limit;
    const texts = Array.from({ length: 8000 }, (_, index) => `grow ${index}`);
    const vectors = await ef.encodeDocuments(texts);
    expect(ef.concurrencyLimiter.limit).toBeGreaterThan(first);
    expect(ef.concurrencyLimiter.limit).toBeLessThanOrEqual(64);
    expect(server.stats().quotaRejections).toBe(0);
    expect(cosineToServer(vectors[7999], texts[7999] as string)).toBeGreaterThan(0.999);
  });

  it("keeps a user's concurrency as a hard cap", async () => {
    server = await startServer({ faults: { latencyMs: 20 }, logLevel: "silent" });
    let inFlight = 0;
    let most = 0;
    const client = new GeminiClient({
      apiKey: "test-key",
      baseUrl: server.url,
      fetch: async (input, init) => {
        inFlight++;
        most = Math.max(most, inFlight);
        try {
          return await fetch(input, init);
        } finally {
          inFlight--;
        }
      },
    });
    const ef = new GeminiEmbeddingFunction({
      client,
      config: { outputDimensionality: 128 },
      concurrency: 3,
    });
    await ef.encodeDocuments(Array.from({ length: 3000 }, (_, index) => `cap ${index}`));
    expect(most).toBe(3);
    expect(ef.concurrencyLimiter.limit).toBeLessThanOrEqual(3);
  });

  it("tells of a refused connection at the first failure, not after the last retry", async () => {
    const closed = await startServer({ logLevel: "silent" });
    const url = closed.url;
    await closed.close();
    const ef = new GeminiEmbeddingFunction({
      apiKey: "test-key",
      baseUrl: url,
      config: { outputDimensionality: 128 },
      retryBaseDelay: 10,
      maxRetries: 2,
    });
    const told: EmbeddingProgress[] = [];
    const error = await ef
      .encodeDocuments(["a text"], { onProgress: (progress) => told.push(progress) })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmbeddingIncompleteError);
    // One report per retry, each before it, saying why and when.
    expect(told.map((progress) => progress.phase)).toEqual(["backing-off", "backing-off"]);
    expect(told[0]?.reason).toMatch(/connection refused \(ECONNREFUSED\); retry 1 of 2/);
    expect(told[0]?.resumeAt).toBeTypeOf("number");
  });
});

describe("ChunkRunner under a quota", () => {
  it("sends the part of a chunk the window has room for, then the rest", async () => {
    server = await startServer({
      quota: { textsPerMinute: 250, windowMs: 400 },
      logLevel: "silent",
    });
    // Records the size of each call as it goes over the wire (the calls themselves are real).
    const sizes: number[] = [];
    const client = new GeminiClient({
      apiKey: "test-key",
      baseUrl: server.url,
      fetch: (input, init) => {
        const body = JSON.parse(new TextDecoder().decode(init?.body as Uint8Array)) as {
          requests: unknown[];
        };
        sizes.push(body.requests.length);
        return fetch(input, init);
      },
    });
    const ef = new GeminiEmbeddingFunction({
      client,
      config: { outputDimensionality: 128 },
      quota: { textsPerMinute: 250, windowMs: 400 },
    });
    const texts = Array.from({ length: 300 }, (_, index) => `text ${index}`);
    const vectors = await ef.encodeDocuments(texts);
    // 100 + 100 + the 50 that fit, then the other 50 once the window frees.
    expect(sizes).toEqual([100, 100, 50, 50]);
    expect(server.stats().quotaRejections).toBe(0);
    expect(vectors).toHaveLength(300);
    for (const index of [0, 199, 200, 249, 250, 299]) {
      const expected = localEmbedding(texts[index] as string, {
        model: "gemini-embedding-001",
        taskType: "RETRIEVAL_DOCUMENT",
        outputDimensionality: 128,
      });
      const vector = vectors[index] as Float32Array;
      let dot = 0;
      for (let position = 0; position < 128; position++)
        dot += (vector[position] as number) * (expected[position] as number);
      expect(dot / Math.hypot(...expected)).toBeGreaterThan(0.999);
    }
  });

  it("keeps the pieces of a chunk already embedded when the rest is stopped (per-day quota)", async () => {
    // 150 texts a day on the server; the client's own limit (150 a second) sends the second
    // chunk as 50 + 50: the first 50 are embedded, the last 50 hit the per-day quota.
    server = await startServer({ quota: { textsPerDay: 150 }, logLevel: "silent" });
    const ef = new GeminiEmbeddingFunction({
      apiKey: "test-key",
      baseUrl: server.url,
      config: { outputDimensionality: 128 },
      concurrency: 1,
      quota: { textsPerMinute: 150, windowMs: 1000 },
    });
    const texts = Array.from({ length: 200 }, (_, index) => `text ${index}`);
    const error = await ef.encodeDocuments(texts).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmbeddingIncompleteError);
    const incomplete = error as EmbeddingIncompleteError;
    expect(incomplete.cause).toBeInstanceOf(RateLimitError);
    expect((incomplete.cause as RateLimitError).isPerDayQuota).toBe(true);
    // Every text the server embedded (150) comes back; only the 50 refused are missing.
    expect(server.stats().texts).toBe(150);
    expect(incomplete.missingIndices).toEqual(
      Array.from({ length: 50 }, (_, index) => 150 + index),
    );
    expect(incomplete.vectors.filter((vector) => vector !== undefined)).toHaveLength(150);
    const expected = localEmbedding(texts[149] as string, {
      model: "gemini-embedding-001",
      taskType: "RETRIEVAL_DOCUMENT",
      outputDimensionality: 128,
    });
    const vector = incomplete.vectors[149] as Float32Array;
    let dot = 0;
    for (let position = 0; position < 128; position++)
      dot += (vector[position] as number) * (expected[position] as number);
    expect(dot / Math.hypot(...expected)).toBeGreaterThan(0.999);
  });
});
