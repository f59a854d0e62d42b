/**
 * `ingestDocuments` writes the vectors already paid for when the embedder stops part way: the
 * synchronous path's `EmbeddingIncompleteError` and the Batch API's `BatchJobIncompleteError` /
 * `BatchDeadlineIncompleteError`. The batch case runs against the local server: two batch jobs,
 * the second cancelled through the API while ingest waits on the first.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  type DocumentEmbedder,
  ingestDocuments,
  LocalRowsFile,
  localRowsSink,
  rescuedVectors,
  type SourceDocument,
} from "@gembed/ingest";
import { type RunningServer, startServer } from "@gembed/server";
import {
  BatchDeadlineError,
  BatchDeadlineIncompleteError,
  type BatchEncodeProgress,
  BatchJobError,
  BatchJobIncompleteError,
  EmbeddingIncompleteError,
  encodeWithBatchApi,
  GeminiEmbeddingFunction,
} from "gembed";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

let server: RunningServer;
let folder: string;

beforeAll(async () => {
  // One job runs at a time (concurrency 1), each item takes 100 ms.
  server = await startServer({ batch: { delayPerItemMs: 100 } });
});
afterAll(async () => {
  await server.close();
});
beforeEach(async (context) => {
  folder = await mkdtemp(path.join(tmpdir(), "gembed-rescue-"));
  context.onTestFinished(() => rm(folder, { recursive: true, force: true }));
});

const documents: SourceDocument[] = [
  "Artificial intelligence was founded as an academic discipline in 1956.",
  "Alan Turing was the first person to conduct substantial research in AI.",
  "Born in Maida Vale, London, Turing was raised in southern England.",
  "Milvus stores dense vectors for similarity search.",
].map((text, index) => ({ id: `d${index}`, text, source: `rows.jsonl:${index + 1}` }));

describe("rescuedVectors", () => {
  it("takes the vectors of every error that carries the work done, and nothing else", () => {
    const vector = Float32Array.from([0.6, 0.8]);
    const vectors = [vector, undefined];
    const jobError = new BatchJobError("job failed", "batches/1", "BATCH_STATE_FAILED", "failed");
    const work = { vectors, missingIndices: [1], jobErrors: [jobError], failures: [] };
    const deadline = new BatchDeadlineError(
      "deadline",
      "batches/2",
      "BATCH_STATE_RUNNING",
      "deadline",
    );
    expect(rescuedVectors(new BatchJobIncompleteError("stopped", jobError, work))).toEqual(vectors);
    expect(rescuedVectors(new BatchDeadlineIncompleteError("late", deadline, work))).toEqual(
      vectors,
    );
    expect(rescuedVectors(new EmbeddingIncompleteError("cut", vectors, [1], undefined))).toEqual(
      vectors,
    );
    expect(rescuedVectors(jobError)).toBeUndefined();
    expect(rescuedVectors(new Error("plain"))).toBeUndefined();
    expect(rescuedVectors({ vectors })).toBeUndefined();
    expect(rescuedVectors(undefined)).toBeUndefined();
    // Anything in `vectors` that is not a Float32Array is treated as missing.
    expect(rescuedVectors({ vectors: [[1, 2], vector], missingIndices: [0] })).toEqual([
      undefined,
      vector,
    ]);
  });
});

describe("ingest keeps what a stopped Batch API run paid for", () => {
  it("writes the first job's vectors when the second job is cancelled, and the next run embeds only the rest", async () => {
    const ef = new GeminiEmbeddingFunction({
      baseUrl: server.url,
      apiKey: "rescue-key",
      config: { outputDimensionality: 256 },
    });
    const stateFile = path.join(folder, "state.json");
    let jobCount = 0;
    let cancelling: Promise<void> | undefined;
    const onProgress = (progress: BatchEncodeProgress) => {
      jobCount = progress.jobCount;
      // While the first job is waited on, the second is still queued behind it: cancel it.
      if (progress.jobIndex === 0 && cancelling === undefined) {
        cancelling = (async () => {
          const state = JSON.parse(await readFile(stateFile, "utf8")) as {
            jobs: { name?: string }[];
          };
          const second = state.jobs[1]?.name;
          if (second === undefined) throw new Error("the state file names no second job");
          await ef.client.batches.cancel(second);
        })();
      }
    };
    const embedder: DocumentEmbedder = {
      modelName: ef.modelName,
      dim: 256,
      encodeDocuments: (inputs) =>
        encodeWithBatchApi(ef, inputs, {
          taskType: "RETRIEVAL_DOCUMENT",
          stateFile,
          inputMode: "file",
          // Each JSONL line is about 200 bytes: two inputs per job file.
          limits: { fileBytes: 450 },
          pollInterval: 20,
          maxPollInterval: 50,
          onProgress,
        }),
    };
    const file = await LocalRowsFile.open(path.join(folder, "rows.json"), {
      model: ef.modelName,
      dim: 256,
    });
    const failure = await ingestDocuments(documents, {
      embedder,
      sink: localRowsSink(file),
    }).catch((error: unknown) => error);
    await cancelling;
    expect(jobCount).toBe(2);
    expect(failure).toBeInstanceOf(BatchJobIncompleteError);
    expect((failure as BatchJobIncompleteError).reason).toBe("cancelled");
    expect((failure as BatchJobIncompleteError).missingIndices).toEqual([2, 3]);

    // The first job's two vectors were written before the error surfaced: the sync path's vectors.
    await file.commit();
    const kept = await LocalRowsFile.open(file.path);
    expect(
      kept
        .rows()
        .map((row) => row.id)
        .sort(),
    ).toEqual(["d0", "d1"]);
    const sync = await ef.encodeDocuments(documents.slice(0, 2).map((document) => document.text));
    expect(kept.get("d0")!.vector).toEqual(Array.from(sync[0]!));
    expect(kept.get("d1")!.vector).toEqual(Array.from(sync[1]!));

    // The next run (synchronous here) embeds only the two that are missing.
    const textsBefore = server.stats().texts;
    const summary = await ingestDocuments(documents, { embedder: ef, sink: localRowsSink(kept) });
    expect(summary).toMatchObject({ skipped: 2, embedded: 2, written: 2 });
    expect(server.stats().texts - textsBefore).toBe(2);
  });
});
