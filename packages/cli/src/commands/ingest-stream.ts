/**
 * `gembed ingest` as a stream (every run but `--batch`): a first pass over the sources that holds
 * no text (problems before paying, the corpus size for progress and ETA), then chunks read,
 * looked up, embedded and written a step at a time, to Milvus or to local bulk-import parts, so
 * memory stays flat whatever the corpus size.
 *
 * @module
 */

import { stat } from "node:fs/promises";
import type { IngestSummary, SourceIssue } from "@gembed/ingest";
import {
  FingerprintSet,
  ingestStream,
  planSources,
  pruneScope,
  RowParts,
  rowPartsSink,
  type SourcePlan,
  type StreamIngestOptions,
  type StreamIngestProgress,
  type StreamSink,
  streamChunks,
  streamOutputRows,
  type UnchangedCheck,
  unchangedCheck,
} from "@gembed/ingest";
import { MilvusCollection, milvusStreamSink, writeBulkImportFiles } from "@gembed/milvus";
import type { Command } from "commander";
import type { FileLock } from "gembed/node";
import { embeddingFunctionFrom, interruptSignal } from "../embedding-options.js";
import { writeIngestSummary } from "../ingest-summary.js";
import {
  checkChunkTokens,
  chunkSettings,
  connectIngestMilvus,
  localOutput,
  takeLocalOutput,
} from "../ingest-target.js";
import { interruptedIngest } from "../interrupted.js";
import { checkOutputFile } from "../output-file.js";
import { byteScale, createProgress } from "../progress.js";
import type { IngestCliOptions } from "./ingest.js";
import { batchIngestor, batchStateFile } from "./ingest-batch.js";

/** Bytes per Parquet file the SDK's BulkWriter writes (it holds one file's rows in memory). */
const PARQUET_PART_BYTES = 32 * 1024 * 1024;

/** Runs `gembed ingest` over streamed sources (see the module comment). */
export async function runStreamingIngest(
  inputs: string[],
  options: IngestCliOptions,
  command: Command,
): Promise<void> {
  const skippedFiles: SourceIssue[] = [];
  // Ids of the documents read (and of bad files skipped), for duplicates and --prune.
  const read = new FingerprintSet();
  let planned = false;
  const onSkip = (issue: SourceIssue) => {
    skippedFiles.push(issue);
    // A file skipped as bad is still there: --prune keeps its rows (it removes what is gone).
    read.add(issue.source);
    // Met while streaming: said at once (the first pass's are said together below).
    if (planned) process.stderr.write(`gembed: skipped ${issue.source}: ${issue.reason}\n`);
  };
  const { modelLimit, chunk } = chunkSettings(options);
  const { maxTokens } = chunk;
  const sourceOptions = {
    exclude: options.exclude,
    encoding: options.encoding,
    chunk,
    onSkip: options.skipBad ? onSkip : undefined,
  };
  // The first pass (see planSources). On a rerun (the target exists) it runs once the target is
  // open and looks each file's chunks up as it reads it: a file whose every chunk is stored
  // unchanged is not read again by the second pass. A first run into a new target skips that.
  let plan: SourcePlan | undefined;
  // A rerun's first pass (over an unchanged corpus, most of the run) stops at Ctrl-C, saying
  // that nothing was written; a first run's has no handler yet (Ctrl-C ends it at once).
  const firstPass = async (
    check?: UnchangedCheck,
    stop?: { signal: AbortSignal; target: string },
  ) => {
    try {
      plan = await planSources(inputs, {
        ...sourceOptions,
        unchanged: check === undefined ? undefined : { check, read },
        signal: stop?.signal,
      });
    } catch (error) {
      throw stop === undefined
        ? error
        : interruptedIngest(error, { target: stop.target, progress: undefined });
    }
    planned = true;
    for (const issue of skippedFiles)
      process.stderr.write(`gembed: skipped ${issue.source}: ${issue.reason}\n`);
    checkChunkTokens(options, command, modelLimit);
    return plan;
  };
  const { out, parquet, base } = localOutput(options);
  // A local rerun: its rows file is there (a Milvus rerun is known once connected).
  const localRerun =
    !options.milvus &&
    (await stat(base).then(
      (info) => info.isFile(),
      () => false,
    ));
  if (!options.milvus && !localRerun) await firstPass();
  // Found before anything is paid for: a folder, or a path that cannot be written.
  if (!options.milvus) await checkOutputFile(out, "--out");
  // The resume file of --batch jobs is written the same way (beside it, renamed over it).
  if (options.batch) await checkOutputFile(batchStateFile(options), "--batch-state");
  const embeddingFunction = embeddingFunctionFrom(options);
  let dim = options.dim;
  let close: () => Promise<void> = async () => {};
  let finish: () => Promise<void> = async () => {};
  let sink: StreamSink;
  let target: string;
  let reuse: StreamIngestOptions["reuse"];
  let onWriteFailure: StreamIngestOptions["onWriteFailure"];
  let prune: () => Promise<number> = async () => 0;
  let succeeded = false;
  let lock: FileLock | undefined;
  let last: StreamIngestProgress | undefined;
  let interrupt: ReturnType<typeof interruptSignal> | undefined;
  try {
    if (options.milvus) {
      const milvus = await connectIngestMilvus({ ...options, milvus: options.milvus });
      const { client, unwritten } = milvus;
      close = milvus.close;
      const exists = await client.hasCollection({ collection_name: options.collection });
      const rerun = exists.value === true;
      if (!rerun) await firstPass();
      dim ??= await embeddingFunction.resolveDim();
      const collection = await MilvusCollection.open({
        client,
        collectionName: options.collection,
        embeddingFunction,
      });
      interrupt = interruptSignal();
      sink = milvusStreamSink(collection, { signal: interrupt.signal });
      if (rerun)
        await firstPass(unchangedCheck(sink, { modelName: embeddingFunction.modelName, dim }), {
          signal: interrupt.signal,
          target: milvus.target,
        });
      prune = async () => collection.pruneDocuments(await pruneScope(inputs), read);
      target = milvus.target;
      // Only failed steps go to the unwritten rows, so they stay small.
      reuse = unwritten.reuse;
      onWriteFailure = unwritten.onWriteFailure;
      finish = () => unwritten.finish(succeeded);
    } else {
      dim ??= await embeddingFunction.resolveDim();
      interrupt = interruptSignal();
      // Parquet is written by the Milvus SDK's BulkWriter from the JSON parts kept beside it,
      // which are what makes the run restartable (and what `search --file` reads).
      lock = await takeLocalOutput(base);
      const parts = await RowParts.open(base, { model: embeddingFunction.modelName, dim });
      sink = rowPartsSink(parts);
      close = async () => parts.close();
      if (localRerun)
        await firstPass(unchangedCheck(sink, { modelName: embeddingFunction.modelName, dim }), {
          signal: interrupt.signal,
          target: parquet ? out : parts.path,
        });
      const known = plan!;
      // An entry per chunk (a chunk is at most maxTokens × 4 characters) and per document.
      parts.reserve(Math.ceil(known.bytes / (maxTokens * 3)) + known.documents * 2);
      prune = async () => parts.prune(await pruneScope(inputs), read);
      const resolvedDim = dim;
      // The journal is sealed even when the run stops early: what was paid for is kept.
      finish = async () => {
        await parts.finish();
        if (parquet && succeeded)
          await writeBulkImportFiles(streamOutputRows(base), {
            out,
            dim: resolvedDim,
            chunkSize: PARQUET_PART_BYTES,
          });
      };
      target = parquet ? out : parts.path;
    }
    const signal = interrupt.signal;
    const known = plan!;
    const totalBytes = known.bytes;
    const scale = byteScale(totalBytes, known.stdin);
    const progress = options.progress
      ? createProgress({ label: "ingest", unit: scale.unit })
      : undefined;
    let summary: IngestSummary & { pruned?: number };
    try {
      const ingest = options.batch ? batchIngestor(embeddingFunction, options) : ingestStream;
      summary = await ingest(streamChunks(known, sourceOptions, { read }), {
        embedder: embeddingFunction,
        sink,
        batchSize: options.batchSize,
        signal,
        onProgress: (state) => {
          last = state;
          const done = scale.of(state.bytes);
          const total = Math.max(scale.of(totalBytes), done);
          progress?.update(
            done,
            total,
            `${state.documents} documents, ${state.chunks} chunks, ${state.skipped} unchanged, ${state.embedded} embedded, ${state.written} written`,
          );
        },
        reuse,
        onWriteFailure,
      });
      // Only after a whole run: an interrupted one has not seen every file it keeps.
      if (options.prune) summary = { ...summary, pruned: await prune() };
      succeeded = true;
    } catch (error) {
      // Ctrl-C: say what was kept (every vector received was written) and how to resume. The
      // chunk total of a stream is not known: the message says "the missing chunk(s)".
      throw interruptedIngest(error, {
        target,
        stateFile: options.batch ? batchStateFile(options) : undefined,
        progress:
          last === undefined
            ? undefined
            : {
                done: last.skipped + last.written,
                total: Number.POSITIVE_INFINITY,
                skipped: last.skipped,
                written: last.written,
                updated: last.updated,
              },
      });
    } finally {
      progress?.stop();
      await finish();
    }
    writeIngestSummary(summary, {
      skippedFiles,
      skipBad: options.skipBad === true,
      json: options.json === true,
      target,
    });
  } finally {
    interrupt?.dispose();
    await close();
    await lock?.release();
  }
}
