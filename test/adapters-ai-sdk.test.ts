/**
 * `@gembed/ai-sdk` with the real `ai` (`embed`, `embedMany`) against the real local server
 * (`startServer` on 127.0.0.1:0), behind a recording proxy that shows what went over the wire.
 */
import { APICallError, InvalidArgumentError } from "@ai-sdk/provider";
import { createGembed, GembedEmbeddingError } from "@gembed/ai-sdk";
import { type RunningServer, type ServerOptions, startServer } from "@gembed/server";
import { embed, embedMany } from "ai";
import { EmbeddingIncompleteError, RateLimitError } from "gembed";
import { afterEach, describe, expect, it } from "vitest";
import { corpus, expectServerVectors, MODEL } from "./support/adapter-checks.js";
import { type RecordingProxy, startRecordingProxy } from "./support/recording-proxy.js";

let server: RunningServer | undefined;
let proxy: RecordingProxy | undefined;

afterEach(async () => {
  await proxy?.close();
  await server?.close();
  proxy = undefined;
  server = undefined;
});

async function start(options: ServerOptions = {}): Promise<RecordingProxy> {
  server = await startServer({ logLevel: "silent", ...options });
  proxy = await startRecordingProxy(server.url);
  return proxy;
}

const chunkSizes = (recorded: RecordingProxy) =>
  recorded.requests.map(
    (request) => (request.body as { requests?: unknown[] }).requests?.length ?? 1,
  );

describe("gembed as an AI SDK embedding model against gembed serve", () => {
  it("embedMany: documents by default, gembed's chunks, in order, at the size asked, normalized; embed: the task type of providerOptions", async () => {
    const { url } = await start();
    const gembed = createGembed({ apiKey: "k", baseUrl: url });
    const model = gembed.textEmbeddingModel(MODEL, { outputDimensionality: 768 });
    expect(model.specificationVersion).toBe("v3");
    const values = corpus(250, "ai-sdk");
    const { embeddings } = await embedMany({ model, values });
    expectServerVectors(embeddings, values, "RETRIEVAL_DOCUMENT", 768);
    // One doEmbed: gembed's pipeline chunks (the AI SDK would fire every chunk at once).
    expect(chunkSizes(proxy!)).toEqual([100, 100, 50]);
    const { embedding } = await embed({
      model,
      value: "Where was Alan Turing born?",
      providerOptions: { gembed: { taskType: "RETRIEVAL_QUERY" } },
    });
    expectServerVectors([embedding], ["Where was Alan Turing born?"], "RETRIEVAL_QUERY", 768);
    const sent = proxy!.sentItems();
    expect(sent.slice(0, 250).every((item) => item.taskType === "RETRIEVAL_DOCUMENT")).toBe(true);
    expect(sent[250]).toMatchObject({ taskType: "RETRIEVAL_QUERY", outputDimensionality: 768 });
  });

  it("takes titles, a per-call size and @ai-sdk/google's provider options", async () => {
    const { url } = await start();
    const model = createGembed({ apiKey: "k", baseUrl: url }).embeddingModel(MODEL);
    const values = ["Turing machines", "untitled", "Enigma"];
    const { embeddings } = await embedMany({
      model,
      values,
      providerOptions: {
        gembed: { titles: ["Computability", null, "Bletchley Park"], outputDimensionality: 256 },
      },
    });
    expectServerVectors(embeddings, values, "RETRIEVAL_DOCUMENT", 256, [
      "Computability",
      undefined,
      "Bletchley Park",
    ]);
    const { embeddings: clustered } = await embedMany({
      model,
      values,
      providerOptions: { google: { taskType: "CLUSTERING", outputDimensionality: 128 } },
    });
    expectServerVectors(clustered, values, "CLUSTERING", 128);
    expect(
      proxy!
        .sentItems()
        .map((item) => [item.taskType, item.title ?? null, item.outputDimensionality]),
    ).toEqual([
      ["RETRIEVAL_DOCUMENT", "Computability", 256],
      ["RETRIEVAL_DOCUMENT", null, 256],
      ["RETRIEVAL_DOCUMENT", "Bletchley Park", 256],
      ["CLUSTERING", null, 128],
      ["CLUSTERING", null, 128],
      ["CLUSTERING", null, 128],
    ]);
  });

  it("refuses bad options and bad values with InvalidArgumentError, before any call", async () => {
    const { url } = await start();
    const model = createGembed({ apiKey: "k", baseUrl: url }).embeddingModel(MODEL);
    const attempts = [
      embed({
        model,
        value: "q",
        providerOptions: { gembed: { taskType: "RETRIEVAL_QUERY", title: "t" } },
      }),
      embed({ model, value: "q", providerOptions: { gembed: { taskType: "NOT_A_TASK" } } }),
      embedMany({ model, values: ["a", "b"], providerOptions: { gembed: { titles: ["one"] } } }),
      embed({ model, value: "q", providerOptions: { gembed: { outputDimensionality: 5000 } } }),
      embedMany({ model, values: ["fine", "  ", "fine"] }),
    ];
    for (const attempt of attempts) {
      const error = await attempt.catch((caught: unknown) => caught);
      expect(InvalidArgumentError.isInstance(error), String(error)).toBe(true);
    }
    const badValues = await attempts[4]!.catch((caught: unknown) => caught);
    expect((badValues as Error).message).toContain("#1");
    expect(proxy!.requests).toHaveLength(0);
  });

  it("gives every vector right and in order when answers come back short", async () => {
    const { url } = await start({ faults: { shortAnswerRate: 0.4, seed: 5 } });
    const model = createGembed({ apiKey: "k", baseUrl: url, retryBaseDelay: 1 }).embeddingModel(
      MODEL,
      { outputDimensionality: 128 },
    );
    const values = corpus(600, "short");
    const { embeddings } = await embedMany({ model, values });
    expect(server!.stats().faults.short).toBeGreaterThan(0);
    expectServerVectors(embeddings, values, "RETRIEVAL_DOCUMENT", 128);
  });

  it("waits out a 429 with its retryDelay and loses nothing (quota passed through)", async () => {
    const { url } = await start({ quota: { textsPerMinute: 100, windowMs: 500 } });
    const model = createGembed({
      apiKey: "k",
      baseUrl: url,
      quota: { windowMs: 500 },
      concurrency: 4,
    }).embeddingModel(MODEL, { outputDimensionality: 128 });
    const values = corpus(400, "quota");
    const { embeddings } = await embedMany({ model, values, maxRetries: 0 });
    expect(proxy!.requests.some((request) => request.status === 429)).toBe(true);
    expectServerVectors(embeddings, values, "RETRIEVAL_DOCUMENT", 128);
  });

  it("a per-day quota: an APICallError that is not retryable, with the vectors already done", async () => {
    const { url } = await start({ quota: { textsPerDay: 150 } });
    const model = createGembed({ apiKey: "k", baseUrl: url }).embeddingModel(MODEL, {
      outputDimensionality: 128,
    });
    const values = corpus(300, "day");
    const error = await embedMany({ model, values }).catch((caught: unknown) => caught);
    expect(APICallError.isInstance(error)).toBe(true);
    expect(error).toBeInstanceOf(GembedEmbeddingError);
    const failed = error as GembedEmbeddingError;
    expect(failed.isRetryable).toBe(false);
    expect(failed.statusCode).toBe(429);
    expect(failed.cause).toBeInstanceOf(EmbeddingIncompleteError);
    expect((failed.cause as EmbeddingIncompleteError).cause).toBeInstanceOf(RateLimitError);
    const done = failed.vectors.flatMap((vector, index) => (vector ? [index] : []));
    expect(done.length).toBeGreaterThan(0);
    expect(done).toHaveLength(server!.stats().texts);
    expect(failed.missingIndices).toHaveLength(300 - done.length);
    expectServerVectors(
      done.map((index) => failed.vectors[index]),
      done.map((index) => values[index]!),
      "RETRIEVAL_DOCUMENT",
      128,
    );
    // Not retried by the AI SDK: one doEmbed, no second round of requests.
    expect(proxy!.requests.filter((request) => request.status === 200)).toHaveLength(
      Math.ceil(done.length / 100),
    );
  });

  it("a bad key: an APICallError that is not retryable", async () => {
    const { url } = await start({ apiKeys: ["right-key"] });
    const model = createGembed({ apiKey: "wrong-key", baseUrl: url }).embeddingModel(MODEL);
    const error = await embedMany({ model, values: ["a", "b"] }).catch((caught: unknown) => caught);
    expect(APICallError.isInstance(error)).toBe(true);
    expect((error as APICallError).isRetryable).toBe(false);
    expect([400, 401, 403]).toContain((error as APICallError).statusCode);
    expect(String((error as Error).message)).not.toContain("wrong-key");
    expect(proxy!.requests).toHaveLength(1);
  });

  it("5xx past gembed's retries: retryable, and the AI SDK's retry sends only what is missing", async () => {
    const { url } = await start({ faults: { rate503: 0.3, seed: 11 } });
    const model = createGembed({
      apiKey: "k",
      baseUrl: url,
      // No retries inside gembed, so the AI SDK's own retry has work to do.
      maxRetries: 0,
    }).embeddingModel(MODEL, { outputDimensionality: 128 });
    const values = corpus(800, "faulty");
    const { embeddings } = await embedMany({ model, values, maxRetries: 4 });
    expect(server!.stats().faults["503"]).toBeGreaterThan(0);
    expectServerVectors(embeddings, values, "RETRIEVAL_DOCUMENT", 128);
    // Each text embedded (and paid for) once: the retries resumed, they did not start over.
    expect(server!.stats().texts).toBe(800);
  });

  it("aborts on the call's abortSignal with an AbortError", async () => {
    const { url } = await start({ faults: { latencyMs: 300 } });
    const model = createGembed({ apiKey: "k", baseUrl: url }).embeddingModel(MODEL);
    const controller = new AbortController();
    const pending = embedMany({
      model,
      values: corpus(50, "abort"),
      abortSignal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
  });
});

describe("createGembed", () => {
  it("gives the same model (one quota limiter) for the same id and settings", () => {
    const provider = createGembed({ apiKey: "k", baseUrl: "http://127.0.0.1:9" });
    const first = provider.textEmbeddingModel(MODEL, { outputDimensionality: 768 });
    expect(provider.embedding(MODEL, { outputDimensionality: 768 })).toBe(first);
    expect(provider.embeddingModel(MODEL)).not.toBe(first);
    expect(first.embeddingFunction(undefined).limiter).toBe(
      provider.textEmbeddingModel(MODEL, { outputDimensionality: 768 }).embeddingFunction(undefined)
        .limiter,
    );
  });
});
