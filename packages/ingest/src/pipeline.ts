import type { DocumentInput, EmbeddingIncompleteError } from "gembed";
import { checkInteger } from "gembed/internal";
import { type ChunkOptions, chunkDocument } from "./chunk.js";
import type { DocumentChunk, EmbeddingRow, JsonValue, SourceDocument } from "./documents.js";
import { canonicalJson, contentHash } from "./hash.js";

export type { DocumentInput };

/**
 * What ingest needs of an embedding function: `GeminiEmbeddingFunction` is one.
 */
export interface DocumentEmbedder {
  /** The model id, e.g. `gemini-embedding-001`. */
  readonly modelName: string;
  /** The vector size. */
  readonly dim: number;
  /** Embeds documents (task type `RETRIEVAL_DOCUMENT`, with their titles). */
  encodeDocuments(
    documents: DocumentInput[],
    options?: {
      signal?: AbortSignal;
      onProgress?: (progress: { done: number; total: number }) => void;
    } & Record<string, unknown>,
  ): Promise<Float32Array[]>;
}

/** What a sink holds of one row: enough to tell whether the row must be written again. */
export interface StoredRowState {
  /** The row's `content_hash`: what decides whether it must be embedded again. */
  contentHash: string;
  /** The row's `metadata` as stored. */
  metadata: Record<string, JsonValue>;
}

/** Where ingest writes rows: a Milvus collection or a local rows file. */
export interface RowSink {
  /**
   * Throws when a chunk cannot be written (e.g. an id or title over the sink's limits). Called
   * before anything is embedded, so no paid vector is thrown away at write time.
   */
  check?(chunks: readonly DocumentChunk[]): void;
  /** Content hashes of the rows that already exist among `ids`. */
  contentHashes(ids: string[]): Promise<Map<string, string>>;
  /**
   * Content hash and metadata of the rows that already exist among `ids`. When the sink has it
   * (and {@link RowSink.storedVectors}), ingest uses it instead of `contentHashes`, and a row whose
   * metadata alone changed is written again with its stored vector instead of being skipped.
   */
  storedRows?(ids: string[]): Promise<Map<string, StoredRowState>>;
  /** The stored vectors of the rows that exist among `ids` (for metadata-only rewrites). */
  storedVectors?(ids: string[]): Promise<Map<string, number[]>>;
  /** Writes (inserts or replaces by id) rows; rows written stay written if a later call fails. */
  write(rows: EmbeddingRow[]): Promise<void>;
  /**
   * Removes the rows of these documents whose ids are not in `keep` (chunks a shortened document
   * no longer has). Returns how many were removed.
   */
  removeStale?(documentIds: string[], keep: Set<string>): Promise<number>;
}

/** Progress of an ingest run. */
export interface IngestProgress {
  /** Chunks done (embedded and written, or skipped as unchanged). */
  done: number;
  /** Chunks in all. */
  total: number;
  /** Chunks skipped because their id, content hash and metadata did not change. */
  skipped: number;
  /** Rows written so far. */
  written: number;
  /** Rows written again with their stored vector because only their metadata changed. */
  updated: number;
}

/** Options of {@link ingestDocuments}. */
export interface IngestOptions {
  /** Makes the vectors. */
  embedder: DocumentEmbedder;
  /** Takes the rows. */
  sink: RowSink;
  /**
   * How documents longer than the model's input are split.
   * @default `{ maxTokens: <the model's input limit> }`
   */
  chunk?: ChunkOptions | undefined;
  /**
   * Chunks embedded, then written, per step: a crash loses at most one step.
   * @default 256
   */
  batchSize?: number | undefined;
  /** Extra options passed to `encodeDocuments` (e.g. `{ mode: "batch" }`). */
  encodeOptions?: Record<string, unknown> | undefined;
  /** Stops the work between steps (and inside the embedding calls). */
  signal?: AbortSignal | undefined;
  /** Called after each step. */
  onProgress?: ((progress: IngestProgress) => void) | undefined;
  /**
   * Vectors already paid for, by chunk id and content hash (e.g. the rows kept by
   * `onWriteFailure` in an earlier run): a chunk found here is written without being embedded.
   * @default none
   */
  reuse?: ((id: string, hash: string) => number[] | undefined) | undefined;
  /**
   * Called with the rows of a step whose write failed, before the error is thrown, so the vectors
   * can be kept (and given back through `reuse` next time) instead of being paid for again.
   * @default none
   */
  onWriteFailure?: ((rows: EmbeddingRow[], error: unknown) => Promise<void>) | undefined;
}

/** What an ingest run did. */
export interface IngestSummary {
  documents: number;
  chunks: number;
  /** Chunks whose id, content hash and metadata were already there. */
  skipped: number;
  /** Chunks embedded in this run. */
  embedded: number;
  /**
   * Chunks whose metadata alone changed: written again with their stored vector, not embedded
   * (0 with a sink that has no `storedRows`/`storedVectors`).
   */
  updated: number;
  /** Chunks written with a vector given back by `reuse` (paid for by an earlier run). */
  reused: number;
  /** Rows written in this run. */
  written: number;
  /** Stale rows removed. */
  removed: number;
}

/** Builds the row of a chunk. */
export function chunkToRow(chunk: DocumentChunk, hash: string, vector: Float32Array): EmbeddingRow {
  return {
    id: chunk.id,
    text: chunk.text,
    title: chunk.title ?? "",
    metadata: chunk.metadata,
    content_hash: hash,
    // Milvus's SDK and its bulk import take plain number arrays, not typed arrays.
    vector: numberArray(vector),
  };
}

/**
 * A typed array's values as a plain array. `Array.from` goes through the iterator and boxes
 * every value (about 6 KB of garbage per 128-dim vector, the largest allocation of an ingest
 * after its texts); a sized array filled by index keeps the doubles unboxed, at a tenth the cost.
 */
export function numberArray(vector: Float32Array): number[] {
  const values = new Array<number>(vector.length);
  for (let index = 0; index < vector.length; index++) values[index] = vector[index]!;
  return values;
}

/**
 * The vectors an error carries when the work it stopped was partly done and paid for:
 * {@link EmbeddingIncompleteError} and its subclasses, and the Batch API's
 * `BatchJobIncompleteError` and `BatchDeadlineIncompleteError` (any error with a `vectors` array
 * and a `missingIndices` array). Undefined for any other error.
 *
 * @example
 * ```ts
 * try { await ef.encodeDocuments(texts); } catch (error) { const kept = rescuedVectors(error); }
 * ```
 */
export function rescuedVectors(error: unknown): (Float32Array | undefined)[] | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const work = error as { vectors?: unknown; missingIndices?: unknown };
  if (!Array.isArray(work.vectors) || !Array.isArray(work.missingIndices)) return undefined;
  return work.vectors.map((vector: unknown) =>
    vector instanceof Float32Array ? vector : undefined,
  );
}

/**
 * Takes documents to rows in a sink: splits each into chunks, skips the chunks whose id, content
 * hash and metadata are already in the sink, writes again with their stored vector (no embedding)
 * the chunks whose metadata alone changed, embeds the rest step by step and writes each step
 * before the next one, so an interrupted run is finished by running it again. When the embedder
 * stops with an error that carries the vectors it did get ({@link EmbeddingIncompleteError}, or
 * the Batch API's `BatchJobIncompleteError` / `BatchDeadlineIncompleteError`: see
 * {@link rescuedVectors}), those are written before the error is thrown again.
 *
 * @example
 * ```ts
 * const summary = await ingestDocuments(await readSources(["docs/"]), { embedder: ef, sink });
 * ```
 */
export async function ingestDocuments(
  documents: SourceDocument[],
  options: IngestOptions,
): Promise<IngestSummary> {
  const { embedder, sink } = options;
  const batchSize = checkInteger(options.batchSize ?? 256, "batchSize", 1);
  const model = embedder.modelName;
  const dim = embedder.dim;
  const chunks = documents.flatMap((document) => chunkDocument(document, options.chunk ?? {}));
  sink.check?.(chunks);
  const hashes = chunks.map((chunk) =>
    contentHash({ text: chunk.text, title: chunk.title, model, dim }),
  );

  // With a sink that tells its metadata and vectors, a chunk whose content hash is unchanged but
  // whose metadata differs is written again with the vector it has: no embedding is paid for.
  const comparesMetadata = sink.storedRows !== undefined && sink.storedVectors !== undefined;
  const ids = chunks.map((chunk) => chunk.id);
  const todo: number[] = [];
  const metadataOnly: number[] = [];
  for (let start = 0; start < ids.length; start += 1000) {
    const slice = ids.slice(start, start + 1000);
    if (comparesMetadata) {
      const stored = await sink.storedRows!(slice);
      slice.forEach((id, offset) => {
        const index = start + offset;
        const state = stored.get(id);
        if (state === undefined || state.contentHash !== hashes[index]) todo.push(index);
        else if (canonicalJson(state.metadata) !== canonicalJson(chunks[index]!.metadata))
          metadataOnly.push(index);
      });
    } else {
      const stored = await sink.contentHashes(slice);
      slice.forEach((id, offset) => {
        if (stored.get(id) !== hashes[start + offset]) todo.push(start + offset);
      });
    }
  }

  // Rows whose vectors an earlier run paid for and could not write: written, not embedded again.
  const reusedRows: EmbeddingRow[] = [];
  if (options.reuse !== undefined) {
    const remaining: number[] = [];
    for (const index of todo) {
      const chunk = chunks[index]!;
      const vector = options.reuse(chunk.id, hashes[index]!);
      if (vector !== undefined && vector.length === dim) {
        reusedRows.push({ ...chunkToRow(chunk, hashes[index]!, new Float32Array(0)), vector });
      } else {
        remaining.push(index);
      }
    }
    todo.splice(0, todo.length, ...remaining);
  }
  const write = async (rows: EmbeddingRow[]) => {
    try {
      await sink.write(rows);
    } catch (error) {
      await options.onWriteFailure?.(rows, error);
      throw error;
    }
  };

  const unchanged = chunks.length - todo.length - reusedRows.length - metadataOnly.length;
  const progress: IngestProgress = {
    done: unchanged,
    total: chunks.length,
    skipped: unchanged,
    written: 0,
    updated: 0,
  };
  options.onProgress?.({ ...progress });
  for (let start = 0; start < reusedRows.length; start += batchSize) {
    options.signal?.throwIfAborted();
    const rows = reusedRows.slice(start, start + batchSize);
    await write(rows);
    progress.written += rows.length;
    progress.done += rows.length;
    options.onProgress?.({ ...progress });
  }
  for (let start = 0; start < metadataOnly.length; start += batchSize) {
    options.signal?.throwIfAborted();
    const step = metadataOnly.slice(start, start + batchSize);
    const vectors = await sink.storedVectors!(step.map((index) => chunks[index]!.id));
    const rows: EmbeddingRow[] = [];
    for (const index of step) {
      const chunk = chunks[index]!;
      const vector = vectors.get(chunk.id);
      if (vector !== undefined && vector.length === dim) {
        rows.push({ ...chunkToRow(chunk, hashes[index]!, new Float32Array(0)), vector });
      } else {
        // The row went away (or lost its vector) since it was read: embed it after all.
        todo.push(index);
      }
    }
    await write(rows);
    progress.written += rows.length;
    progress.updated += rows.length;
    progress.done += rows.length;
    options.onProgress?.({ ...progress });
  }
  let embedded = 0;
  for (let start = 0; start < todo.length; start += batchSize) {
    options.signal?.throwIfAborted();
    const step = todo.slice(start, start + batchSize);
    const inputs: DocumentInput[] = step.map((index) => {
      const chunk = chunks[index]!;
      return chunk.title === undefined ? chunk.text : { text: chunk.text, title: chunk.title };
    });
    let vectors: (Float32Array | undefined)[];
    let failure: unknown;
    try {
      const encodeOptions: Record<string, unknown> = { ...options.encodeOptions };
      if (options.signal !== undefined) encodeOptions.signal = options.signal;
      vectors = await embedder.encodeDocuments(inputs, encodeOptions);
    } catch (error) {
      const rescued = rescuedVectors(error);
      if (rescued === undefined) throw error;
      // Nothing paid for is lost: write what came back, then stop.
      vectors = rescued;
      failure = error;
    }
    const rows: EmbeddingRow[] = [];
    step.forEach((chunkIndex, position) => {
      const vector = vectors[position];
      if (vector !== undefined && vector.length === dim)
        rows.push(chunkToRow(chunks[chunkIndex]!, hashes[chunkIndex]!, vector));
    });
    await write(rows);
    embedded += rows.length;
    progress.written += rows.length;
    progress.done += rows.length;
    options.onProgress?.({ ...progress });
    if (failure !== undefined) throw failure;
  }

  let removed = 0;
  if (sink.removeStale !== undefined && documents.length > 0) {
    removed = await sink.removeStale(
      documents.map((document) => document.id),
      new Set(ids),
    );
  }
  return {
    documents: documents.length,
    chunks: chunks.length,
    skipped: progress.skipped,
    embedded,
    updated: progress.updated,
    reused: reusedRows.length,
    written: progress.written,
    removed,
  };
}
