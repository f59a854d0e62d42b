/**
 * What both ingest paths (`commands/ingest-stream.ts` for text, `commands/ingest.ts` for media)
 * set up alike: the chunk settings, the local output and its lock, and the Milvus connection with
 * the rows an earlier run could not write.
 *
 * @module
 */

import { removeStaleTemporaries } from "@gembed/ingest";
import { bulkImportFormat, TEXT_MAX_LENGTH } from "@gembed/milvus";
import type { Command } from "commander";
import { getModelInfo } from "gembed";
import { type FileLock, lockFile } from "gembed/node";
import type { IngestCliOptions } from "./commands/ingest.js";
import { UsageError } from "./errors.js";
import { connectMilvusOption } from "./milvus-option.js";
import { type UnwrittenRows, unwrittenRows } from "./unwritten-rows.js";

/** How documents are split, from `--chunk-tokens` and `--overlap-tokens`. */
export interface ChunkSettings {
  /** The model's input limit, in tokens. */
  modelLimit: number;
  chunk: { maxTokens: number; overlapTokens: number | undefined };
}

/** The chunk settings of a run; a `UsageError` for an overlap over half a chunk. */
export function chunkSettings(options: IngestCliOptions): ChunkSettings {
  const modelLimit = getModelInfo(options.model)?.inputTokenLimit ?? 2048;
  // Milvus keeps text in a VarChar of 65,535 bytes: up to 3 bytes per UTF-16 unit, 4 units per token.
  const maxTokens = Math.min(
    options.chunkTokens ?? modelLimit,
    options.milvus ? Math.floor(TEXT_MAX_LENGTH / 12) : Number.MAX_SAFE_INTEGER,
  );
  if (options.overlapTokens !== undefined && options.overlapTokens > maxTokens / 2) {
    throw new UsageError(`--overlap-tokens must be at most half of ${maxTokens} (the chunk size)`);
  }
  return { modelLimit, chunk: { maxTokens, overlapTokens: options.overlapTokens } };
}

/** `--chunk-tokens` over the model's input limit: commander's "error: …" line and exit 2. */
export function checkChunkTokens(
  options: IngestCliOptions,
  command: Command,
  modelLimit: number,
): void {
  if (options.chunkTokens !== undefined && options.chunkTokens > modelLimit) {
    command.error(
      `error: --chunk-tokens ${options.chunkTokens} is over the ${modelLimit}-token input limit of ${options.model}: the API would embed only the beginning of each chunk. Use ${modelLimit} or less.`,
      { code: "gembed.chunkTokensOverLimit", exitCode: 2 },
    );
  }
}

/**
 * The local output without `--milvus`: `out` as named, and `base`, the JSON rows (beside a Parquet
 * output, which the Milvus SDK's BulkWriter writes from them at the end: they are what makes the
 * run restartable, and what `search --file` reads).
 */
export function localOutput(options: IngestCliOptions): {
  out: string;
  parquet: boolean;
  base: string;
} {
  const out = options.out ?? `${options.collection}.json`;
  const parquet = bulkImportFormat(out) === "parquet";
  return { out, parquet, base: parquet ? `${out}.rows.json` : out };
}

/**
 * Takes the local rows for this run: one writer at a time (a second run on the same output would
 * lose the first one's rows), and what a process killed mid-rename left beside them removed (only
 * of processes no longer running).
 */
export async function takeLocalOutput(base: string): Promise<FileLock> {
  const lock = await lockFile(base, "the rows file");
  try {
    await removeStaleTemporaries(base);
  } catch (error) {
    await lock.release();
    throw error;
  }
  return lock;
}

/** A `--milvus` connection for an ingest. */
export interface IngestMilvus {
  client: Awaited<ReturnType<typeof connectMilvusOption>>;
  close(): Promise<void>;
  /** `Milvus collection <name>`, as the summary and messages name it. */
  target: string;
  /**
   * Rows embedded but not written by an earlier run (Milvus failed after every retry): the next
   * run writes them without paying for their vectors again.
   */
  unwritten: UnwrittenRows;
}

/** Connects `--milvus` (creating a Milvus Lite folder when needed) for an ingest. */
export async function connectIngestMilvus(
  options: IngestCliOptions & { milvus: string },
): Promise<IngestMilvus> {
  const client = await connectMilvusOption(options, { create: true });
  try {
    return {
      client,
      close: async () => {
        await client.closeConnection();
      },
      target: `Milvus collection ${options.collection}`,
      unwritten: await unwrittenRows(options.collection),
    };
  } catch (error) {
    await client.closeConnection();
    throw error;
  }
}
