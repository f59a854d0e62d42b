/**
 * `@gembed/llamaindex` with the real `@llamaindex/core` against the real local server
 * (`startServer` on 127.0.0.1:0), behind a recording proxy that shows what went over the wire.
 */

import { GembedEmbedding } from "@gembed/llamaindex";
import { type RunningServer, type ServerOptions, startServer } from "@gembed/server";
import { BaseEmbedding } from "@llamaindex/core/embeddings";
import { Document, MetadataMode } from "@llamaindex/core/schema";
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

describe("GembedEmbedding (LlamaIndex.TS) against gembed serve", () => {
  it("texts as documents, queries as queries, batches in gembed's chunks, in order, normalized", async () => {
    const { url } = await start();
    const embedding = new GembedEmbedding({
      model: MODEL,
      apiKey: "k",
      baseUrl: url,
      outputDimensionality: 768,
    });
    expect(embedding).toBeInstanceOf(BaseEmbedding);
    expect(embedding.embedInfo?.dimensions).toBe(768);
    const texts = corpus(250, "llamaindex");
    const progress: [number, number][] = [];
    const vectors = await embedding.getTextEmbeddingsBatch(texts, {
      progressCallback: (current, total) => progress.push([current, total]),
    });
    expectServerVectors(vectors, texts, "RETRIEVAL_DOCUMENT", 768);
    expect(progress.at(-1)).toEqual([250, 250]);
    const single = await embedding.getTextEmbedding("Alan Turing was born in London.");
    const query = await embedding.getQueryEmbedding({
      type: "text",
      text: "Where was Turing born?",
    });
    expectServerVectors([single], ["Alan Turing was born in London."], "RETRIEVAL_DOCUMENT", 768);
    expectServerVectors([query!], ["Where was Turing born?"], "RETRIEVAL_QUERY", 768);
    const sent = proxy!.sentItems();
    expect(sent.map((item) => item.taskType)).toEqual([
      ...Array(251).fill("RETRIEVAL_DOCUMENT"),
      "RETRIEVAL_QUERY",
    ]);
    expect(
      proxy!.requests.map((request) => (request.body as { requests?: unknown[] }).requests?.length),
    ).toEqual([100, 100, 50, 1, 1]);
  });

  it("embeds nodes passed to the transform with their titles, setting each node's embedding", async () => {
    const { url } = await start();
    const embedding = new GembedEmbedding({ apiKey: "k", baseUrl: url, outputDimensionality: 256 });
    const nodes = [
      new Document({ text: "Turing machines", metadata: { title: "Computability" } }),
      new Document({ text: "No title", metadata: { source: "a.md" } }),
      new Document({ text: "Enigma", metadata: { title: "Bletchley Park" } }),
    ];
    // How an ingestion pipeline or VectorStoreIndex calls an embedding model.
    const out = await embedding(nodes);
    expect(out).toBe(nodes);
    expectServerVectors(
      nodes.map((node) => node.embedding),
      nodes.map((node) => node.getContent(MetadataMode.EMBED)),
      "RETRIEVAL_DOCUMENT",
      256,
      ["Computability", undefined, "Bletchley Park"],
    );
    expect(proxy!.sentItems().map((item) => item.title)).toEqual([
      "Computability",
      undefined,
      "Bletchley Park",
    ]);
  });

  it("gives every vector right and in order when answers come back short", async () => {
    const { url } = await start({ faults: { shortAnswerRate: 0.4, seed: 5 } });
    const embedding = new GembedEmbedding({
      apiKey: "k",
      baseUrl: url,
      outputDimensionality: 128,
      retryBaseDelay: 1,
    });
    const texts = corpus(600, "short");
    const vectors = await embedding.getTextEmbeddings(texts);
    expect(server!.stats().faults.short).toBeGreaterThan(0);
    expectServerVectors(vectors, texts, "RETRIEVAL_DOCUMENT", 128);
  });

  it("waits out a 429 with its retryDelay and loses nothing (quota passed through)", async () => {
    const { url } = await start({ quota: { textsPerMinute: 100, windowMs: 500 } });
    const embedding = new GembedEmbedding({
      apiKey: "k",
      baseUrl: url,
      outputDimensionality: 128,
      quota: { windowMs: 500 },
      concurrency: 4,
    });
    const texts = corpus(400, "quota");
    const vectors = await embedding.getTextEmbeddingsBatch(texts);
    expect(proxy!.requests.some((request) => request.status === 429)).toBe(true);
    expectServerVectors(vectors, texts, "RETRIEVAL_DOCUMENT", 128);
  });

  it("stops at a per-day quota with a typed error carrying the vectors already done", async () => {
    const { url } = await start({ quota: { textsPerDay: 150 } });
    const embedding = new GembedEmbedding({ apiKey: "k", baseUrl: url, outputDimensionality: 128 });
    const texts = corpus(300, "day");
    const error = await embedding.getTextEmbeddingsBatch(texts).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmbeddingIncompleteError);
    const incomplete = error as EmbeddingIncompleteError;
    expect(incomplete.cause).toBeInstanceOf(RateLimitError);
    const done = incomplete.vectors.flatMap((vector, index) => (vector ? [index] : []));
    expect(done.length).toBeGreaterThan(0);
    expect(done).toHaveLength(server!.stats().texts);
    expectServerVectors(
      done.map((index) => incomplete.vectors[index]),
      done.map((index) => texts[index]!),
      "RETRIEVAL_DOCUMENT",
      128,
    );
  });

  it("aborts on its signal with an AbortError", async () => {
    const { url } = await start({ faults: { latencyMs: 300 } });
    const controller = new AbortController();
    const embedding = new GembedEmbedding({ apiKey: "k", baseUrl: url, signal: controller.signal });
    const pending = embedding.getTextEmbeddingsBatch(corpus(50, "abort"));
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
  });
});
