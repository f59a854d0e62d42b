/**
 * `gembed ingest --batch`: the streamed ingest of `ingest-stream.ts` with the Batch API in place of
 * the synchronous calls (`ingestBatch` of `@gembed/ingest`: job files written as the chunks come,
 * results read back as a stream and written by key), so `--batch` runs in bounded memory too.
 *
 * @module
 */

import { ingestBatch, type ingestStream } from "@gembed/ingest";
import type { GeminiEmbeddingFunction } from "gembed";
import { shortState } from "./batch.js";
import type { IngestCliOptions } from "./ingest.js";

/** The resume file of `--batch` jobs: `--batch-state`, else `<out or collection>.batch-state.json`. */
export function batchStateFile(options: IngestCliOptions): string {
  return options.batchState ?? `${options.out ?? options.collection}.batch-state.json`;
}

/**
 * An ingest of the same shape as `ingestStream` that embeds through the Batch API: the caller
 * passes it the same chunks and sink.
 */
export function batchIngestor(
  embeddingFunction: GeminiEmbeddingFunction,
  options: IngestCliOptions,
): typeof ingestStream {
  return (chunks, streamOptions) =>
    ingestBatch(chunks, {
      ...streamOptions,
      embedder: embeddingFunction,
      stateFile: batchStateFile(options),
      pollInterval: options.pollInterval,
      maxPollInterval: options.maxPollInterval,
      onJob: (state) => {
        if (options.progress)
          process.stderr.write(
            `batch job ${state.jobIndex + 1}/${state.jobCount}: ${shortState(state.state)}\n`,
          );
      },
    });
}
