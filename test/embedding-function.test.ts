/**
 * GeminiEmbeddingFunction against a scripted Gemini server on 127.0.0.1:0: what goes on the
 * wire, chunking, normalization, order under concurrency, 429s, short answers, partial results,
 * abort, bad input and retired models.
 */
import { inspect } from "node:util";
import {
  BadRequestError,
  EmbeddingIncompleteError,
  GembedAbortError,
  GembedError,
  GeminiEmbeddingFunction,
  InvalidInputError,
  InvalidOptionError,
  RateLimitError,
  RetiredModelError,
} from "gembed";
import { requestsOf } from "gembed/internal";
import { afterEach, describe, expect, it } from "vitest";
import { l2Norm } from "../packages/gembed/src/embedding/normalization.js";
import {
  type RecordedCall,
  rateLimitBody,
  type ScriptAnswer,
  type ScriptedServer,
  scriptedValues,
  startScriptedServer,
} from "./support/embedding-scripted-server.js";

const API_KEY = "AIzaTEST-secret-key-0123456789";
let server: ScriptedServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function setUp(
  script?: Parameters<typeof startScriptedServer>[0],
  latencyMs?: (call: RecordedCall) => number,
): Promise<ScriptedServer> {
  server = await startScriptedServer(script, latencyMs ? { latencyMs } : {});
  return server;
}

function embeddingFunction(
  url: string,
  options: ConstructorParameters<typeof GeminiEmbeddingFunction>[0] = {},
): GeminiEmbeddingFunction {
  return new GeminiEmbeddingFunction({
    apiKey: API_KEY,
    baseUrl: url,
    retryBaseDelay: 10,
    ...options,
  });
}

function normalized(values: number[]): number[] {
  const norm = Math.sqrt(values.reduce((sum, value) => sum + value * value, 0));
  return values.map((value) => value / norm);
}

function expectVector(vector: Float32Array | undefined, expected: number[]): void {
  expect(vector).toBeInstanceOf(Float32Array);
  expect(vector!.length).toBe(expected.length);
  for (let index = 0; index < expected.length; index += 97) {
    expect(vector![index]).toBeCloseTo(expected[index]!, 5);
  }
}

const texts = (count: number, prefix = "text") =>
  Array.from({ length: count }, (_, index) => `${prefix} number ${index}`);

describe("GeminiEmbeddingFunction on the wire", () => {
  it("runs the seed's example: documents, then queries, Dim 3072", async () => {
    const { url, calls } = await setUp();
    const ef = embeddingFunction(url, { modelName: "gemini-embedding-001" });
    const docs = await ef.encodeDocuments([
      "Artificial intelligence was founded as an academic discipline in 1956.",
      "Alan Turing was the first person to conduct substantial research in AI.",
      "Born in Maida Vale, London, Turing was raised in southern England.",
    ]);
    expect(ef.dim).toBe(3072);
    expect(docs[0]!.length).toBe(3072);
    const queries = await ef.encodeQueries([
      "When was artificial intelligence founded",
      "Where was Alan Turing born?",
    ]);
    expect(queries).toHaveLength(2);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.path).toBe("/v1beta/models/gemini-embedding-001:batchEmbedContents");
    expect(calls[0]!.headers["x-goog-api-key"]).toBe(API_KEY);
    expect(calls[0]!.requests.map((request) => request.taskType)).toEqual([
      "RETRIEVAL_DOCUMENT",
      "RETRIEVAL_DOCUMENT",
      "RETRIEVAL_DOCUMENT",
    ]);
    expect(calls[0]!.requests[0]!.model).toBe("models/gemini-embedding-001");
    expect(calls[1]!.requests.map((request) => request.taskType)).toEqual([
      "RETRIEVAL_QUERY",
      "RETRIEVAL_QUERY",
    ]);
    // At 3072 the model's output is already normalized: passed through as sent.
    expectVector(queries[1], scriptedValues("Where was Alan Turing born?", 3072));
  });

  it("sends a title per document, never with queries, and config.taskType overrides both", async () => {
    const { url, calls } = await setUp();
    const ef = embeddingFunction(url);
    await ef.encodeDocuments([
      { text: "Turing was born in London.", title: "Alan Turing" },
      "no title",
    ]);
    expect(calls[0]!.requests[0]!.title).toBe("Alan Turing");
    expect("title" in calls[0]!.requests[1]!).toBe(false);

    const overridden = embeddingFunction(url, { config: { taskType: "SEMANTIC_SIMILARITY" } });
    await overridden.encodeDocuments([{ text: "a", title: "dropped: not RETRIEVAL_DOCUMENT" }]);
    await overridden.encodeQueries(["b"]);
    expect(calls[1]!.requests[0]).toEqual({
      model: "models/gemini-embedding-001",
      content: { parts: [{ text: "a" }] },
      taskType: "SEMANTIC_SIMILARITY",
    });
    expect(calls[2]!.requests[0]!.taskType).toBe("SEMANTIC_SIMILARITY");

    await ef.encode([{ text: "c", title: "t" }], { taskType: "CLUSTERING" });
    expect(calls[3]!.requests[0]).toEqual({
      model: "models/gemini-embedding-001",
      content: { parts: [{ text: "c" }] },
      taskType: "CLUSTERING",
    });
    await expect(
      ef.encode(["x"], {} as unknown as { taskType: "CLUSTERING" }),
    ).rejects.toBeInstanceOf(TypeError);
  });

  it("sends outputDimensionality and L2-normalizes truncated output, unless told not to", async () => {
    const { url, calls } = await setUp();
    const ef = embeddingFunction(url, { config: { outputDimensionality: 768 } });
    expect(ef.dim).toBe(768);
    const [vector] = await ef.encodeDocuments(["hello world"]);
    expect(calls[0]!.requests[0]!.outputDimensionality).toBe(768);
    expect(vector!.length).toBe(768);
    expect(l2Norm(vector!)).toBeCloseTo(1, 5);
    expectVector(vector, normalized(scriptedValues("hello world", 768)));

    const raw = embeddingFunction(url, { config: { outputDimensionality: 768 }, normalize: false });
    const [rawVector] = await raw.encodeDocuments(["hello world"]);
    expectVector(rawVector, scriptedValues("hello world", 768));
  });

  it("takes an option given as undefined as not given (the known name passes the option check)", async () => {
    const { url, calls } = await setUp();
    const ef = embeddingFunction(url, {
      modelName: undefined,
      config: { outputDimensionality: undefined, taskType: undefined },
      concurrency: undefined,
      normalize: undefined,
      timeout: undefined,
      maxRetries: undefined,
    });
    expect(ef.modelName).toBe("gemini-embedding-001");
    expect(ef.config).toStrictEqual({});
    expect(ef.dim).toBe(3072);
    const [vector] = await ef.encodeDocuments(["hello world"], {
      signal: undefined,
      onProgress: undefined,
      taskType: undefined,
    });
    expect(calls[0]!.requests[0]).toStrictEqual({
      model: "models/gemini-embedding-001",
      content: { parts: [{ text: "hello world" }] },
      taskType: "RETRIEVAL_DOCUMENT",
    });
    const [plain] = await embeddingFunction(url).encodeDocuments(["hello world"]);
    expect(calls[1]!.requests[0]).toStrictEqual(calls[0]!.requests[0]);
    expect(Array.from(vector!)).toEqual(Array.from(plain!));
    // A misspelt name is still refused, whatever its value.
    expect(() => embeddingFunction(url, { dimension: undefined } as object)).toThrow(
      InvalidOptionError,
    );
  });

  it("chunks by count (100) and by bytes", async () => {
    const { url, calls } = await setUp();
    const ef = embeddingFunction(url, { concurrency: 1 });
    const vectors = await ef.encodeDocuments(texts(250));
    expect(vectors).toHaveLength(250);
    expect(calls.map((call) => call.requests.length)).toEqual([100, 100, 50]);

    calls.length = 0;
    const long = Array.from({ length: 40 }, (_, index) => `${index} ${"word ".repeat(400)}`);
    const byBytes = embeddingFunction(url, { concurrency: 1, maxBytesPerCall: 20_000 });
    await byBytes.encodeDocuments(long);
    expect(calls.length).toBeGreaterThan(1);
    expect(calls.reduce((sum, call) => sum + call.requests.length, 0)).toBe(40);
    for (const call of calls) expect(call.bytes).toBeLessThanOrEqual(20_000);
  });

  it("keeps input order under concurrency, with a sliding window of calls", async () => {
    const { url, calls, maxInFlight } = await setUp(undefined, () => 5 + Math.random() * 40);
    const ef = embeddingFunction(url, {
      concurrency: 6,
      maxTextsPerCall: 10,
      config: { outputDimensionality: 128 },
    });
    const input = texts(600);
    const progress: number[] = [];
    const vectors = await ef.encodeDocuments(input, {
      onProgress: ({ done, total }) => {
        expect(total).toBe(600);
        progress.push(done);
      },
    });
    expect(calls).toHaveLength(60);
    expect(maxInFlight()).toBe(6);
    input.forEach((text, index) => {
      expectVector(vectors[index], normalized(scriptedValues(text, 128)));
    });
    expect(progress.at(-1)).toBe(600);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it("waits the 429's retryDelay, then finishes", async () => {
    const { url, calls } = await setUp((_, index) =>
      index === 0 ? { status: 429, body: rateLimitBody("0.3s") } : undefined,
    );
    const ef = embeddingFunction(url, { concurrency: 1 });
    const vectors = await ef.encodeDocuments(texts(150));
    expect(vectors).toHaveLength(150);
    expect(calls).toHaveLength(3);
    expect(calls[1]!.time - calls[0]!.time).toBeGreaterThanOrEqual(290);
    expect(ef.limiter.rateLimitedCount).toBe(1);
  });

  it("retries a short answer instead of padding it, and a dropped connection", async () => {
    const { url, calls } = await setUp((call, index): ScriptAnswer => {
      if (index === 0) {
        return {
          embeddings: call.requests.slice(1).map(() => ({ values: scriptedValues("x", 3072) })),
        };
      }
      if (index === 1) return { drop: true };
      return undefined;
    });
    const ef = embeddingFunction(url);
    const input = texts(20);
    const vectors = await ef.encodeDocuments(input);
    expect(calls).toHaveLength(3);
    input.forEach((text, index) => {
      expectVector(vectors[index], scriptedValues(text, 3072));
    });
  });

  it("stops at a per-day quota with the vectors already computed and the missing indices", async () => {
    const { url, calls } = await setUp((_, index) =>
      index >= 2
        ? { status: 429, body: rateLimitBody("3600s", "EmbedContentRequestsPerDayPerProject") }
        : undefined,
    );
    const ef = embeddingFunction(url, { concurrency: 1, maxTextsPerCall: 10 });
    const input = texts(45);
    const error = await ef.encodeDocuments(input).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmbeddingIncompleteError);
    const incomplete = error as EmbeddingIncompleteError;
    expect(incomplete.cause).toBeInstanceOf(RateLimitError);
    expect((incomplete.cause as RateLimitError).isPerDayQuota).toBe(true);
    expect(incomplete.missingIndices).toEqual(Array.from({ length: 25 }, (_, index) => index + 20));
    expect(incomplete.vectors.filter(Boolean)).toHaveLength(20);
    expectVector(incomplete.vectors[19], scriptedValues(input[19]!, 3072));
    expect(incomplete.vectors[20]).toBeUndefined();
    expect(calls).toHaveLength(3); // a per-day quota is never retried
    expect(incomplete.message).toMatch(/20 of 45/);
  });

  it("stops at an auth error, and the key appears nowhere", async () => {
    const { url, calls } = await setUp(() => ({
      status: 400,
      body: {
        error: {
          code: 400,
          message: "API key not valid. Please pass a valid API key.",
          status: "INVALID_ARGUMENT",
          details: [
            { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID" },
          ],
        },
      },
    }));
    const ef = embeddingFunction(url);
    const error = await ef.encodeQueries(["q"]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmbeddingIncompleteError);
    expect((error as EmbeddingIncompleteError).cause).toBeInstanceOf(BadRequestError);
    expect((error as EmbeddingIncompleteError).missingIndices).toEqual([0]);
    expect(calls).toHaveLength(1);
    for (const shown of [
      inspect(error, { depth: 10 }),
      String((error as Error).stack),
      inspect(ef, { depth: 10 }),
    ]) {
      expect(shown).not.toContain(API_KEY);
    }
  });

  it("gives up after maxRetries on errors that persist", async () => {
    const { url, calls } = await setUp(() => ({
      status: 503,
      body: { error: { code: 503, message: "The model is overloaded.", status: "UNAVAILABLE" } },
    }));
    const ef = embeddingFunction(url, { maxRetries: 2 });
    const error = await ef.encodeDocuments(texts(5)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmbeddingIncompleteError);
    expect((error as EmbeddingIncompleteError).missingIndices).toEqual([0, 1, 2, 3, 4]);
    expect(calls).toHaveLength(3);
  });

  it("aborts at once", async () => {
    const { url } = await setUp(undefined, () => 10_000);
    const ef = embeddingFunction(url);
    const controller = new AbortController();
    const pending = ef.encodeDocuments(texts(10), { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toBeInstanceOf(GembedAbortError);
    const aborted = AbortSignal.abort();
    await expect(ef.encodeQueries(["q"], { signal: aborted })).rejects.toBeInstanceOf(
      GembedAbortError,
    );
  });
});

describe("GeminiEmbeddingFunction input and options", () => {
  it("rejects bad input naming every index, before any call", async () => {
    const { url, calls } = await setUp();
    const ef = embeddingFunction(url);
    const error = await ef
      .encodeDocuments([
        "ok",
        "",
        "  ",
        7 as unknown as string,
        { text: "x", title: 3 as unknown as string },
      ])
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).issues.map((issue) => issue.index)).toEqual([1, 2, 3, 4]);
    await expect(ef.encodeQueries([{ text: "q" } as unknown as string])).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    expect(() => ef.validateInputs([""], "texts")).toThrow(InvalidInputError);
    expect(calls).toHaveLength(0);
    expect(await ef.encodeDocuments([])).toEqual([]);
  });

  it("refuses retired models before any call, naming the replacement", () => {
    for (const modelName of [
      "gemini-embedding-exp-03-07",
      "models/embedding-001",
      "models/text-embedding-004",
    ]) {
      expect(() => new GeminiEmbeddingFunction({ modelName, apiKey: API_KEY })).toThrow(
        RetiredModelError,
      );
      expect(() => new GeminiEmbeddingFunction({ modelName, apiKey: API_KEY })).toThrow(
        /gemini-embedding-001/,
      );
    }
  });

  it("checks option types and ranges (InvalidOptionError, a TypeError naming the option)", () => {
    const bad: [unknown, string][] = [
      [{ concurrency: 0 }, "concurrency"],
      [{ concurrency: "4" }, "concurrency"],
      [{ maxRetries: -1 }, "maxRetries"],
      [{ timeout: 1.5 }, "timeout"],
      [{ normalize: "yes" }, "normalize"],
      [{ config: { outputDimensionality: 5000 } }, "config.outputDimensionality"],
      [{ config: { outputDimensionality: 64 } }, "config.outputDimensionality"],
      [{ config: { taskType: "SEARCH" } }, "config.taskType"],
      [{ quota: { textsPerMinute: -5 } }, "quota"],
      [{ modelName: 42 }, "modelName"],
      [{ client: {} }, "client"],
      [{ maxTextsPerCall: 101 }, "maxTextsPerCall"],
    ];
    for (const [options, option] of bad) {
      let caught: unknown;
      try {
        new GeminiEmbeddingFunction({ apiKey: API_KEY, ...(options as object) });
      } catch (error) {
        caught = error;
      }
      expect(caught, JSON.stringify(options)).toBeInstanceOf(InvalidOptionError);
      expect(caught).toBeInstanceOf(TypeError);
      expect((caught as InvalidOptionError).option).toBe(option);
    }
  });

  it("reports texts over the input limit with their index", async () => {
    const { url } = await setUp();
    const seen: { index: number; tokens: number; limit: number }[] = [];
    const ef = embeddingFunction(url, { onInputTooLong: (info) => seen.push(info) });
    await ef.encodeDocuments(["short", "x".repeat(2048 * 4 + 4), "short again"]);
    expect(seen).toEqual([{ index: 1, tokens: 2049, limit: 2048 }]);
  });

  it("without a callback, warns once per call with the indices over the limit", async () => {
    const { url } = await setUp();
    const ef = embeddingFunction(url);
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    try {
      await ef.encodeDocuments(["short", "y".repeat(9000), "z".repeat(9000)]);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off("warning", onWarning);
    }
    const ours = warnings.filter(
      (warning) => (warning as Error & { code?: string }).code === "GEMBED_INPUT_TOO_LONG",
    );
    expect(ours).toHaveLength(1);
    expect(ours[0]!.message).toContain("index 1, 2");
  });

  it("gemini-embedding-2: no taskType, the task in the text, one request per text", async () => {
    const { url, calls } = await setUp();
    const ef = embeddingFunction(url, { modelName: "gemini-embedding-2" });
    const vectors = await ef.encodeDocuments([{ text: "doc one", title: "T" }, "doc two"]);
    await ef.encodeQueries(["where?"]);
    expect(vectors).toHaveLength(2);
    expect(calls[0]!.path).toBe("/v1beta/models/gemini-embedding-2:batchEmbedContents");
    expect(calls[0]!.requests).toEqual([
      {
        model: "models/gemini-embedding-2",
        content: { parts: [{ text: "title: T | text: doc one" }] },
      },
      {
        model: "models/gemini-embedding-2",
        content: { parts: [{ text: "title: none | text: doc two" }] },
      },
    ]);
    expect(calls[1]!.requests[0]!.content.parts[0]!.text).toBe(
      "task: search result | query: where?",
    );
  });

  it("an unknown model: dim throws a clear error until resolveDim learns it", async () => {
    const { url } = await setUp((call) => ({
      embeddings: call.requests.map(() => ({ values: scriptedValues("probe", 1024) })),
    }));
    const ef = embeddingFunction(url, { modelName: "my-tuned-embedder" });
    expect(() => ef.dim).toThrow(GembedError);
    expect(() => ef.dim).toThrow(/resolveDim/);
    expect(await ef.resolveDim()).toBe(1024);
    expect(ef.dim).toBe(1024);
    const [vector] = await ef.encodeQueries(["q"]);
    expect(vector!.length).toBe(1024);
  });

  it("sends the request of its internal request module; the class does not expose it", async () => {
    const { url, calls } = await setUp();
    const ef = embeddingFunction(url, { config: { outputDimensionality: 256 } });
    await ef.encodeDocuments([{ text: "body", title: "head" }]);
    const requests = requestsOf(ef);
    expect(calls[0]!.requests[0]).toEqual(
      requests.buildRequest({ text: "body", title: "head" }, "RETRIEVAL_DOCUMENT"),
    );
    expect(() => requests.toVector([1, 2, 3])).toThrow(/expected 256/);
    expect("buildRequest" in ef).toBe(false);
    expect("toVector" in ef).toBe(false);
  });
});

describe("encodeStream", () => {
  it("yields vectors in input order from an async iterable, reporting progress", async () => {
    const { url, calls } = await setUp(undefined, () => Math.random() * 20);
    const ef = embeddingFunction(url, {
      concurrency: 4,
      maxTextsPerCall: 7,
      config: { outputDimensionality: 128 },
    });
    const input = texts(300, "streamed");
    async function* source() {
      for (const text of input) yield text;
    }
    let lastProgress = 0;
    let index = 0;
    for await (const vector of ef.encodeStream(source(), {
      onProgress: ({ done }) => (lastProgress = done),
    })) {
      expectVector(vector, normalized(scriptedValues(input[index]!, 128)));
      index++;
    }
    expect(index).toBe(300);
    expect(lastProgress).toBe(300);
    expect(calls).toHaveLength(Math.ceil(300 / 7));
    expect(calls[0]!.requests[0]!.taskType).toBe("RETRIEVAL_DOCUMENT");
  });

  it("stops calling the server when the consumer leaves early", async () => {
    const { url, calls } = await setUp(undefined, () => 20);
    const ef = embeddingFunction(url, { concurrency: 2, maxTextsPerCall: 10 });
    let taken = 0;
    for await (const _vector of ef.encodeStream(texts(1000))) {
      taken++;
      if (taken === 3) break;
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Chunks 0 and 1 went out, then 2 when 0 finished (it may be aborted before the server
    // reads it); chunk 3, waiting for a slot, never went out, nor any of the other 96.
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls.length).toBeLessThanOrEqual(3);
  });

  it("a stopped stream accounts for every text it read: yielded, in vectors, or missing", async () => {
    // Chunks close by bytes, so the text that overflowed a chunk is read but not yet sent when
    // the per-day quota stops the work: it must be listed as missing, not counted as embedded.
    const { url } = await setUp((_, index) =>
      index >= 3
        ? { status: 429, body: rateLimitBody("3600s", "EmbedContentRequestsPerDayPerProject") }
        : undefined,
    );
    const ef = embeddingFunction(url, { concurrency: 1, maxBytesPerCall: 2_000 });
    let pulled = 0;
    function* source() {
      for (let index = 0; index < 200; index++) {
        pulled++;
        yield `${"padding ".repeat(20)} text ${index}`;
      }
    }
    let yielded = 0;
    const error = await (async () => {
      for await (const _vector of ef.encodeStream(source())) yielded++;
    })().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmbeddingIncompleteError);
    const incomplete = error as EmbeddingIncompleteError;
    expect(yielded).toBeGreaterThan(0);
    const accounted = new Set<number>(incomplete.missingIndices);
    for (let index = 0; index < yielded; index++) accounted.add(index);
    incomplete.vectors.forEach((vector, index) => {
      if (vector) accounted.add(index);
    });
    expect([...accounted].sort((a, b) => a - b)).toEqual(
      Array.from({ length: pulled }, (_, index) => index),
    );
    const embedded = pulled - incomplete.missingIndices.length;
    expect(incomplete.message).toContain(`Embedded ${embedded} of ${pulled} texts`);
  });

  it("refuses mode: batch (no streaming form) with a TypeError", async () => {
    const { url, calls } = await setUp();
    const ef = embeddingFunction(url);
    const stream = ef.encodeStream(["a"], { mode: "batch" } as unknown as { mode: "sync" });
    await expect(stream.next()).rejects.toBeInstanceOf(TypeError);
    expect(calls).toHaveLength(0);
  });

  it("throws InvalidInputError with the index of a bad text when it is read", async () => {
    const { url } = await setUp();
    const ef = embeddingFunction(url);
    const read: Float32Array[] = [];
    const error = await (async () => {
      for await (const vector of ef.encodeStream(["a", "b", " ", "c"], { taskType: "CLUSTERING" }))
        read.push(vector);
    })().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).issues[0]!.index).toBe(2);
  });
});
