/**
 * `@gembed/langchain` with the real `@langchain/core` (and `@langchain/community`'s Milvus store
 * type) against the real local server (`startServer` on 127.0.0.1:0), behind a recording proxy
 * that shows what went over the wire.
 */

import { GembedEmbeddings } from "@gembed/langchain";
import { type RunningServer, type ServerOptions, startServer } from "@gembed/server";
import type { Milvus } from "@langchain/community/vectorstores/milvus";
import { Document } from "@langchain/core/documents";
import type { EmbeddingsInterface } from "@langchain/core/embeddings";
import { EmbeddingIncompleteError, InvalidInputError, RateLimitError } from "gembed";
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

describe("GembedEmbeddings (LangChain.js) against gembed serve", () => {
  it("sends RETRIEVAL_DOCUMENT from embedDocuments and RETRIEVAL_QUERY from embedQuery, in order, at the size asked, normalized", async () => {
    const { url } = await start();
    const embeddings = new GembedEmbeddings({
      model: MODEL,
      apiKey: "test-key",
      baseUrl: url,
      outputDimensionality: 768,
    });
    const texts = corpus(250, "langchain");
    const vectors = await embeddings.embedDocuments(texts);
    const query = await embeddings.embedQuery("Where was Alan Turing born?");
    expect(Array.isArray(vectors[0])).toBe(true);
    expectServerVectors(vectors, texts, "RETRIEVAL_DOCUMENT", 768);
    expectServerVectors([query], ["Where was Alan Turing born?"], "RETRIEVAL_QUERY", 768);
    const sent = proxy!.sentItems();
    expect(sent).toHaveLength(251);
    expect(sent.slice(0, 250).every((item) => item.taskType === "RETRIEVAL_DOCUMENT")).toBe(true);
    expect(sent[250]).toMatchObject({ taskType: "RETRIEVAL_QUERY", outputDimensionality: 768 });
    expect(sent.some((item) => "title" in item)).toBe(false);
    // gembed's chunks of at most 100, not LangChain's own batching.
    expect(
      proxy!.requests.map(
        (request) => (request.body as { requests: unknown[] }).requests?.length ?? 1,
      ),
    ).toEqual([100, 100, 50, 1]);
  });

  it("embeds LangChain documents with the title from their metadata", async () => {
    const { url } = await start();
    const embeddings = new GembedEmbeddings({
      apiKey: "k",
      baseUrl: url,
      outputDimensionality: 256,
    });
    const documents = [
      new Document({ pageContent: "Turing machines", metadata: { title: "Computability" } }),
      new Document({ pageContent: "No title here", metadata: { source: "a.md" } }),
      new Document({ pageContent: "Custom key", metadata: { heading: "ignored", title: " " } }),
    ];
    const vectors = await embeddings.embedDocumentObjects(documents);
    expectServerVectors(
      vectors,
      documents.map((document) => document.pageContent),
      "RETRIEVAL_DOCUMENT",
      256,
      ["Computability"],
    );
    expect(proxy!.sentItems().map((item) => item.title)).toEqual([
      "Computability",
      undefined,
      undefined,
    ]);
    const byHeading = new GembedEmbeddings({
      apiKey: "k",
      baseUrl: url,
      outputDimensionality: 256,
      titleKey: "heading",
    });
    const [headed] = await byHeading.embedDocumentObjects([documents[2]!]);
    expectServerVectors([headed], ["Custom key"], "RETRIEVAL_DOCUMENT", 256, ["ignored"]);
  });

  it("gives every vector right and in order when answers come back short", async () => {
    const { url } = await start({ faults: { shortAnswerRate: 0.4, seed: 5 } });
    const embeddings = new GembedEmbeddings({
      apiKey: "k",
      baseUrl: url,
      outputDimensionality: 128,
      retryBaseDelay: 1,
    });
    const texts = corpus(600, "short");
    const vectors = await embeddings.embedDocuments(texts);
    expect(server!.stats().faults.short).toBeGreaterThan(0);
    expectServerVectors(vectors, texts, "RETRIEVAL_DOCUMENT", 128);
  });

  it("waits out a 429 with its retryDelay and loses nothing (quota passed through)", async () => {
    const { url } = await start({ quota: { textsPerMinute: 100, windowMs: 500 } });
    const embeddings = new GembedEmbeddings({
      apiKey: "k",
      baseUrl: url,
      outputDimensionality: 128,
      // The server's quota window is 500 ms; the ceiling is learned from its 429s.
      quota: { windowMs: 500 },
      concurrency: 4,
    });
    const texts = corpus(400, "quota");
    const vectors = await embeddings.embedDocuments(texts);
    const rejected = proxy!.requests.filter((request) => request.status === 429);
    expect(rejected.length).toBeGreaterThan(0);
    expect(embeddings.embeddingFunction.limiter.rateLimitedCount).toBeGreaterThan(0);
    expectServerVectors(vectors, texts, "RETRIEVAL_DOCUMENT", 128);
  });

  it("stops at a per-day quota with a typed error carrying the vectors already done", async () => {
    const { url } = await start({ quota: { textsPerDay: 150 } });
    const embeddings = new GembedEmbeddings({
      apiKey: "k",
      baseUrl: url,
      outputDimensionality: 128,
    });
    const texts = corpus(300, "day");
    const error = await embeddings.embedDocuments(texts).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmbeddingIncompleteError);
    const incomplete = error as EmbeddingIncompleteError;
    expect(incomplete.cause).toBeInstanceOf(RateLimitError);
    const done = incomplete.vectors.flatMap((vector, index) => (vector ? [index] : []));
    // Every text the server embedded (and would bill) comes back; the rest are named.
    expect(done.length).toBeGreaterThan(0);
    expect(done).toHaveLength(server!.stats().texts);
    expect(incomplete.missingIndices).toHaveLength(300 - done.length);
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
    const embeddings = new GembedEmbeddings({
      apiKey: "k",
      baseUrl: url,
      signal: controller.signal,
    });
    const pending = embeddings.embedDocuments(corpus(50, "abort"));
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
  });

  it("names every bad text before any call", async () => {
    const { url } = await start();
    const embeddings = new GembedEmbeddings({ apiKey: "k", baseUrl: url });
    const error = await embeddings
      .embedDocuments(["fine", " ", "fine", ""])
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).issues.map((issue) => issue.index)).toEqual([1, 3]);
    expect(proxy!.requests).toHaveLength(0);
  });

  it("fits LangChain's Milvus vector store unchanged (type level)", () => {
    const embeddings = new GembedEmbeddings({ apiKey: "k", baseUrl: "http://127.0.0.1:9" });
    // What Milvus's constructor and fromDocuments take: an EmbeddingsInterface.
    const accepted: ConstructorParameters<typeof Milvus>[0] = embeddings;
    const asInterface: EmbeddingsInterface = embeddings;
    expect(accepted).toBe(asInterface);
  });
});
