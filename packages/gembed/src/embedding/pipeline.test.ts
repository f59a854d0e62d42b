/**
 * The engine against the real local server (`startServer` on 127.0.0.1:0): a quota that is not a
 * multiple of the call size is filled with a smaller call rather than left partly empty.
 */

import { localEmbedding, type RunningServer, startServer } from "@gembed/server";
import { afterEach, describe, expect, it } from "vitest";
import { GeminiClient } from "../client/gemini-client.js";
import { EmbeddingIncompleteError, RateLimitError } from "../errors.js";
import { GeminiEmbeddingFunction } from "./gemini-embedding-function.js";

let server: RunningServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
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
        const body = JSON.parse(String(init?.body)) as { requests: unknown[] };
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
