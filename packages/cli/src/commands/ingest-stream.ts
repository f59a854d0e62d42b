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
  removeStaleTemporaries,
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
import {
  bulkImportFormat,
  MilvusCollection,
  milvusStreamSink,
  TEXT_MAX_LENGTH,
  writeBulkImportFiles,
} from "@gembed/milvus";
import type { Command } from "commander";
import { getModelInfo } from "gembed";
import { type FileLock, lockFile } from "gembed/node";
import { embeddingFunctionFrom, interruptSignal } from "../embedding-options.js";
import { UsageError } from "../errors.js";
import { writeIngestSummary } from "../ingest-summary.js";
import { interruptedIngest } from "../interrupted.js";
import { connectMilvusOption } from "../milvus-option.js";
import { checkOutputFile } from "../output-file.js";
import { createProgress } from "../progress.js";
import { unwrittenRows } from "../unwritten-rows.js";
import type { IngestCliOptions } from "./ingest.js";
import { batchIngestor, batchStateFile } from "./ingest-batch.js";

/** Bytes per Parquet file the SDK's BulkWriter writes (it holds one file's rows in memory). */
const PARQUET_PART_BYTES = 32 * 1024 * 1024;

const MB = 1024 * 1024;

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
  const modelLimit = getModelInfo(options.model)?.inputTokenLimit ?? 2048;
  // Milvus keeps text in a VarChar of 65,535 bytes: up to 3 bytes per UTF-16 unit, 4 units per token.
  const maxTokens = Math.min(
    options.chunkTokens ?? modelLimit,
    options.milvus ? Math.floor(TEXT_MAX_LENGTH / 12) : Number.MAX_SAFE_INTEGER,
  );
  if (options.overlapTokens !== undefined && options.overlapTokens > maxTokens / 2) {
    throw new UsageError(`--overlap-tokens must be at most half of ${maxTokens} (the chunk size)`);
  }
  const chunk = {
    maxTokens,
    overlapTokens: options.overlapTokens,
  };
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
  const firstPass = async (check?: UnchangedCheck) => {
    plan = await planSources(inputs, {
      ...sourceOptions,
      unchanged: check === undefined ? undefined : { check, read },
    });
    planned = true;
    for (const issue of skippedFiles)
      process.stderr.write(`gembed: skipped ${issue.source}: ${issue.reason}\n`);
    if (options.chunkTokens !== undefined && options.chunkTokens > modelLimit) {
      // Like any bad option: commander's "error: …" line and exit 2.
      command.error(
        `error: --chunk-tokens ${options.chunkTokens} is over the ${modelLimit}-token input limit of ${options.model}: the API would embed only the beginning of each chunk. Use ${modelLimit} or less.`,
        { code: "gembed.chunkTokensOverLimit", exitCode: 2 },
      );
    }
    return plan;
  };
  const out = options.out ?? `${options.collection}.json`;
  const parquet = bulkImportFormat(out) === "parquet";
  const base = parquet ? `${out}.rows.json` : out;
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
      const client = await connectMilvusOption(
        { ...options, milvus: options.milvus },
        { create: true },
      );
      close = async () => {
        await client.closeConnection();
      };
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
        await firstPass(unchangedCheck(sink, { modelName: embeddingFunction.modelName, dim }));
      prune = async () => collection.pruneDocuments(await pruneScope(inputs), read);
      target = `Milvus collection ${options.collection}`;
      // Rows embedded but not written (Milvus failed after every retry) are kept here, and the
      // next run writes them without paying for their vectors again. Only failed steps go there,
      // so it stays small.
      const unwritten = await unwrittenRows(options.collection);
      reuse = unwritten.reuse;
      onWriteFailure = unwritten.onWriteFailure;
      finish = () => unwritten.finish(succeeded);
    } else {
      dim ??= await embeddingFunction.resolveDim();
      interrupt = interruptSignal();
      // Parquet is written by the Milvus SDK's BulkWriter from the JSON parts kept beside it,
      // which are what makes the run restartable (and what `search --file` reads).
      // One writer at a time: a second run on the same output would lose the first one's rows.
      lock = await lockFile(base, "the rows file");
      // What a process killed mid-rename left beside it (only of processes no longer running).
      await removeStaleTemporaries(base);
      const parts = await RowParts.open(base, { model: embeddingFunction.modelName, dim });
      sink = rowPartsSink(parts);
      close = async () => parts.close();
      if (localRerun)
        await firstPass(unchangedCheck(sink, { modelName: embeddingFunction.modelName, dim }));
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
    const progress = options.progress ? createProgress({ label: "ingest", unit: "MB" }) : undefined;
    const totalBytes = known.bytes;
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
          const done = Math.round((state.bytes / MB) * 10) / 10;
          const total = Math.max(Math.round((totalBytes / MB) * 10) / 10, done);
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
