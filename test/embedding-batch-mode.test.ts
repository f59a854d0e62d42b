/**
 * `ef.encodeDocuments / encodeQueries / encode(…, { mode: "batch" })`: the Batch API path behind
 * the embedding function's own methods, against the local server with a processing delay.
 */
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer } from "@gembed/server";
import { GeminiEmbeddingFunction, InvalidInputError } from "gembed";
import { afterEach, describe, expect, it } from "vitest";

type Server = Awaited<ReturnType<typeof startServer>>;
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(dims: number) {
  const server: Server = await startServer({ batch: { delayPerItemMs: 2 } });
  cleanups.push(() => server.close());
  const ef = new GeminiEmbeddingFunction({
    baseUrl: server.url,
    apiKey: "batch-mode-key",
    config: { outputDimensionality: dims },
  });
  return { server, ef };
}

const documents = [
  { text: "Artificial intelligence was founded as an academic discipline in 1956.", title: "AI" },
  "Alan Turing was the first person to conduct substantial research in AI.",
  { text: "Born in Maida Vale, London, Turing was raised in southern England." },
  "Milvus stores dense vectors for similarity search.",
];

describe("mode: batch", () => {
  it("gives the sync path's vectors, in order and normalized, through one batch job", async () => {
    const { server, ef } = await setup(768);
    const progress: { done: number; total: number }[] = [];
    const viaBatch = await ef.encodeDocuments(documents, {
      mode: "batch",
      pollInterval: 20,
      maxPollInterval: 50,
      onProgress: (update) => progress.push({ done: update.done, total: update.total }),
    });
    const afterBatch = server.stats();
    expect(afterBatch.byEndpoint.asyncBatchEmbedContent).toBe(1);
    expect(afterBatch.byEndpoint.batchEmbedContents ?? 0).toBe(0);

    const viaSync = await ef.encodeDocuments(documents);
    expect(viaBatch).toHaveLength(documents.length);
    viaBatch.forEach((vector, index) => {
      expect(vector).toBeInstanceOf(Float32Array);
      expect(vector.length).toBe(768);
      expect(Array.from(vector)).toEqual(Array.from(viaSync[index] ?? []));
      let norm = 0;
      for (const value of vector) norm += value * value;
      expect(Math.sqrt(norm)).toBeCloseTo(1, 5);
    });
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toEqual({ done: documents.length, total: documents.length });
  });

  it("uses RETRIEVAL_QUERY for queries and the given task type for encode", async () => {
    const { ef } = await setup(256);
    const queries = ["When was artificial intelligence founded", "Where was Alan Turing born?"];
    const batchQueries = await ef.encodeQueries(queries, { mode: "batch", pollInterval: 20 });
    expect(batchQueries.map((vector) => Array.from(vector))).toEqual(
      (await ef.encodeQueries(queries)).map((vector) => Array.from(vector)),
    );
    // A query vector differs from the same text embedded as a document (the task type is sent).
    const asDocuments = await ef.encodeDocuments(queries);
    expect(Array.from(batchQueries[0] ?? [])).not.toEqual(Array.from(asDocuments[0] ?? []));

    const clustering = await ef.encode(queries, {
      taskType: "CLUSTERING",
      mode: "batch",
      pollInterval: 20,
    });
    expect(clustering.map((vector) => Array.from(vector))).toEqual(
      (await ef.encode(queries, { taskType: "CLUSTERING" })).map((vector) => Array.from(vector)),
    );
  });

  it("checks the inputs before submitting anything, and resumes from a state file", async () => {
    const { server, ef } = await setup(128);
    await expect(
      ef.encodeDocuments(["fine", "  "], { mode: "batch", pollInterval: 20 }),
    ).rejects.toBeInstanceOf(InvalidInputError);
    expect(server.stats().byEndpoint.asyncBatchEmbedContent ?? 0).toBe(0);

    const folder = await mkdtemp(join(tmpdir(), "gembed-batch-mode-"));
    cleanups.push(() => rm(folder, { recursive: true, force: true }));
    const stateFile = join(folder, "state.json");
    const vectors = await ef.encodeDocuments(documents, {
      mode: "batch",
      pollInterval: 20,
      stateFile,
    });
    expect(vectors).toHaveLength(documents.length);
    // Finished work leaves no state behind.
    await expect(stat(stateFile)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("refuses an unknown mode with a TypeError before any call", async () => {
    const { server, ef } = await setup(128);
    await expect(
      ef.encodeDocuments(["a"], { mode: "later" } as unknown as { mode: "sync" }),
    ).rejects.toBeInstanceOf(TypeError);
    expect(server.stats().requests).toBe(0);
  });
});
