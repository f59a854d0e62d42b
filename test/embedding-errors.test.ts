/**
 * What a library user sees when the work is stopped or cannot start, against the local server
 * (`startServer` on 127.0.0.1:0): an abort keeps the vectors received, options from pymilvus are
 * refused naming the right one, a missing key is found when the function is built, and a refused
 * key names the variable it came from.
 */

import { type RunningServer, startServer } from "@gembed/server";
import {
  EmbeddingAbortedError,
  EmbeddingIncompleteError,
  GembedAbortError,
  GeminiEmbeddingFunction,
  InvalidOptionError,
  MissingApiKeyError,
} from "gembed";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rescuedVectors } from "../packages/ingest/src/pipeline.js";

let server: RunningServer;
let locked: RunningServer;

beforeAll(async () => {
  // Every call takes a while, so an abort lands between two calls.
  server = await startServer({ faults: { latencyMs: 40 } });
  locked = await startServer({ apiKeys: ["the-right-key"] });
});
afterAll(async () => {
  await server.close();
  await locked.close();
});

const texts = (count: number) =>
  Array.from({ length: count }, (_, index) => `text ${index} about embeddings`);

describe("an abort keeps what was embedded", () => {
  it("carries the vectors of the calls that returned, and only the others are missing", async () => {
    const ef = new GeminiEmbeddingFunction({
      baseUrl: server.url,
      apiKey: "k",
      config: { outputDimensionality: 128 },
      concurrency: 1,
      maxTextsPerCall: 10,
      quota: false,
    });
    const controller = new AbortController();
    const error = await ef
      .encodeDocuments(texts(100), {
        signal: controller.signal,
        // Aborted as the second call's answer is placed: 20 texts are done and paid for.
        onProgress: ({ done }) => {
          if (done >= 20) controller.abort();
        },
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmbeddingAbortedError);
    expect(error).toBeInstanceOf(GembedAbortError);
    expect((error as Error).name).toBe("AbortError");
    const aborted = error as EmbeddingAbortedError;
    const kept = aborted.vectors.flatMap((vector, index) => (vector ? [index] : []));
    expect(kept).toEqual(Array.from({ length: 20 }, (_, index) => index));
    expect(aborted.missingIndices).toEqual(Array.from({ length: 80 }, (_, index) => index + 20));
    expect(aborted.message).toContain("20 of 100");
    // The ingest pipeline's rescue reads it like an EmbeddingIncompleteError.
    expect(rescuedVectors(aborted)?.filter(Boolean)).toHaveLength(20);
    // They are the vectors a full run gives.
    const full = await ef.encodeDocuments(texts(20));
    expect(Array.from(aborted.vectors[7]!)).toEqual(Array.from(full[7]!));
  });
});

describe("options are refused with the right name", () => {
  it.each([
    [{ output_dimensionality: 768 }, "output_dimensionality", "config.outputDimensionality"],
    [{ api_key: "k" }, "api_key", "apiKey"],
    [{ model_name: "gemini-embedding-001" }, "model_name", "modelName"],
    [{ task_type: "CLUSTERING" }, "task_type", "config.taskType"],
    [{ max_retries: 2 }, "max_retries", "maxRetries"],
    [
      { config: { output_dimensionality: 768 } },
      "config.output_dimensionality",
      "config.outputDimensionality",
    ],
  ])("%j names %s's replacement", (options, option, suggestion) => {
    let caught: unknown;
    try {
      new GeminiEmbeddingFunction({ apiKey: "k", ...(options as object) });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidOptionError);
    expect((caught as InvalidOptionError).option).toBe(option);
    expect((caught as InvalidOptionError).suggestion).toBe(suggestion);
    expect((caught as Error).message).toContain(`"${suggestion}"`);
  });

  it("an unknown option lists the options there are", () => {
    expect(() => new GeminiEmbeddingFunction({ apiKey: "k", colour: "blue" } as object)).toThrow(
      /no option "colour".*modelName.*config/,
    );
  });

  it("a model name that would change the request path is refused when the function is built", () => {
    for (const modelName of ["../../v1beta/files", "x?key=y", "models/a/b"]) {
      let caught: unknown;
      try {
        new GeminiEmbeddingFunction({ apiKey: "k", modelName });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(InvalidOptionError);
      expect((caught as InvalidOptionError).option).toBe("modelName");
    }
  });

  it("per-call options are checked too", async () => {
    const ef = new GeminiEmbeddingFunction({ apiKey: "k", baseUrl: server.url });
    const before = server.stats().requests;
    await expect(ef.encodeDocuments(["x"], { task_type: "CLUSTERING" } as object)).rejects.toThrow(
      /"options.taskType"/,
    );
    expect(server.stats().requests).toBe(before);
  });
});

describe("key problems are found early and say where the key came from", () => {
  it("a missing key throws MissingApiKeyError when the function is built", () => {
    const saved = { google: process.env.GOOGLE_API_KEY, gemini: process.env.GEMINI_API_KEY };
    delete process.env.GOOGLE_API_KEY;
    delete process.env.GEMINI_API_KEY;
    try {
      expect(() => new GeminiEmbeddingFunction({ baseUrl: server.url })).toThrow(
        MissingApiKeyError,
      );
    } finally {
      if (saved.google !== undefined) process.env.GOOGLE_API_KEY = saved.google;
      if (saved.gemini !== undefined) process.env.GEMINI_API_KEY = saved.gemini;
    }
  });

  it("a refused key names GOOGLE_API_KEY, which wins over GEMINI_API_KEY; the cause leads", async () => {
    const saved = { google: process.env.GOOGLE_API_KEY, gemini: process.env.GEMINI_API_KEY };
    process.env.GOOGLE_API_KEY = "an-old-key";
    process.env.GEMINI_API_KEY = "the-right-key";
    try {
      const ef = new GeminiEmbeddingFunction({ baseUrl: locked.url });
      const error = await ef.encodeDocuments(texts(3)).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(EmbeddingIncompleteError);
      const message = (error as Error).message;
      expect(message).toContain("the API key came from GOOGLE_API_KEY");
      // Nothing was embedded: the message leads with the cause, not with "Embedded 0 of 3".
      expect(message).toMatch(
        /^Nothing embedded \(0 of 3 texts\): 400 INVALID_ARGUMENT: API key not valid/,
      );
      expect(message).not.toContain("an-old-key");
    } finally {
      if (saved.google === undefined) delete process.env.GOOGLE_API_KEY;
      else process.env.GOOGLE_API_KEY = saved.google;
      if (saved.gemini === undefined) delete process.env.GEMINI_API_KEY;
      else process.env.GEMINI_API_KEY = saved.gemini;
    }
  });
});
