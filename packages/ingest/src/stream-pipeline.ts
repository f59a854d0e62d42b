/**
 * Ingest over a stream of chunks, for corpora of any size: chunks are looked up in the sink a
 * step at a time (by the step's ids, never every id at once), the changed ones go through the
 * embedding function's streaming entry (`encodeStream`: a window of concurrent calls), and rows
 * are written as the vectors come (each call's as it returns, not in input order). What is held at
 * once is bounded: one group being looked up, a queue of two groups, and one step
 * ({@link STEP_TEXTS}) of texts embedded or being embedded and not yet written.
 *
 * @module
 */

import type { DocumentInput } from "gembed";
import { checkInteger, MAX_TEXTS_PER_CALL, STREAM_CONCURRENCY } from "gembed/internal";
import type { DocumentChunk, EmbeddingRow } from "./documents.js";
import { forEachGroup, type HashedChunk, lookupGroup } from "./group-lookup.js";
import { contentHash } from "./hash.js";
import { chunkToRow, type IngestSummary, rescuedVectors } from "./pipeline.js";
import { metadataHash } from "./row-parts.js";
import type { StreamedChunk, StreamedUnchangedFile, UnchangedCheck } from "./stream-sources.js";

/**
 * One step of a streaming ingest, in texts: the most the embedding function has in calls at once
 * when streaming (its stream window of 8 calls, each of at most the API's 100 texts). The ingest
 * never has more than this many texts embedded (or being embedded) and not yet written: each
 * call's vectors are written as it returns, so a kill -9 re-pays at most one step.
 */
export const STEP_TEXTS = STREAM_CONCURRENCY * MAX_TEXTS_PER_CALL;

/** What a streaming ingest needs of an embedding function: `GeminiEmbeddingFunction` is one. */
export interface StreamEmbedder {
  readonly modelName: string;
  readonly dim: number;
  /** Yields one vector per text, in order, with a bounded window of calls in flight. */
  encodeStream(
    texts: AsyncIterable<DocumentInput>,
    options?: {
      signal?: AbortSignal | undefined;
      taskType?: "RETRIEVAL_DOCUMENT";
      /** Told of each vector as its call returns (any order): the ingest writes it then. */
      onEmbedded?: ((index: number, vector: Float32Array) => void) | undefined;
    },
  ): AsyncIterable<Float32Array>;
}

/** What a sink tells of a stored row: enough to know whether to write it again. */
export interface StoredDigest {
  /** The row's `content_hash`. */
  contentHash: string;
  /** {@link metadataHash} of the row's metadata. */
  metadataHash: string;
  /** The chunk count in the row's metadata, when the sink tells it. */
  chunks?: number;
}

/** Where a streaming ingest writes: a Milvus collection or local parts. */
export interface StreamSink {
  /** Throws when a chunk cannot be written (before anything is embedded for it). */
  check?(chunks: readonly DocumentChunk[]): void;
  /** What is stored of the rows that exist among `ids` (one step's ids). */
  lookup(ids: string[]): Promise<Map<string, StoredDigest>>;
  /** Stored vectors, for rows whose metadata alone changed (written again, not embedded). */
  storedVectors?(ids: string[]): Promise<Map<string, number[]>>;
  /** Writes one step of rows (insert or replace by id). */
  write(rows: EmbeddingRow[]): Promise<void>;
  /**
   * Removes the rows of these documents that their new chunk count no longer has. Returns how
   * many were removed.
   */
  removeStale?(documents: { id: string; count: number }[]): Promise<number>;
}

/** Progress of a streaming ingest. */
export interface StreamIngestProgress {
  /** Source bytes read. */
  bytes: number;
  /** Documents read. */
  documents: number;
  /** Chunks read. */
  chunks: number;
  /** Chunks found unchanged. */
  skipped: number;
  /** Chunks embedded (and written). */
  embedded: number;
  /** Rows written (embedded, metadata-only and reused). */
  written: number;
  /** Rows written again with their stored vector. */
  updated: number;
}

/** A progress with nothing done yet. */
export function noProgress(): StreamIngestProgress {
  return { bytes: 0, documents: 0, chunks: 0, skipped: 0, embedded: 0, written: 0, updated: 0 };
}

/** Options of {@link ingestStream}. */
export interface StreamIngestOptions {
  embedder: StreamEmbedder;
  sink: StreamSink;
  /**
   * Chunks looked up, and rows written, per step: a crash re-pays at most what was in flight.
   * @default 256
   */
  batchSize?: number | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: StreamIngestProgress) => void) | undefined;
  /** Vectors paid for by an earlier run (see `IngestOptions.reuse`). */
  reuse?: ((id: string, hash: string) => number[] | undefined) | undefined;
  /** Called with the rows of a write that failed, before the error is thrown. */
  onWriteFailure?: ((rows: EmbeddingRow[], error: unknown) => Promise<void>) | undefined;
}

type Pending = HashedChunk;

/** A queue with room for `capacity` items: `push` waits while it is full. */
class BoundedQueue<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  #closed = false;
  #error: unknown;
  #failed = false;
  #wakeReader: (() => void) | undefined;
  #wakeWriter: (() => void) | undefined;
  constructor(readonly capacity: number) {}

  async push(item: T): Promise<void> {
    while (this.#items.length >= this.capacity && !this.#failed) {
      await new Promise<void>((resolve) => {
        this.#wakeWriter = resolve;
      });
    }
    if (this.#failed) throw this.#error;
    this.#items.push(item);
    this.#wakeReader?.();
  }

  close(): void {
    this.#closed = true;
    this.#wakeReader?.();
  }

  fail(error: unknown): void {
    this.#failed = true;
    this.#error = error;
    this.#wakeReader?.();
    this.#wakeWriter?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.#failed) throw this.#error;
      const item = this.#items.shift();
      if (item !== undefined) {
        this.#wakeWriter?.();
        yield item;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) => {
        this.#wakeReader = resolve;
      });
    }
  }
}

/**
 * Takes a stream of chunks (see `streamChunks`) to rows in a sink, step by step, with bounded
 * memory: skips the chunks whose content hash and metadata are stored, writes again with their
 * stored vector those whose metadata alone changed, embeds the rest through `encodeStream`, and
 * removes the rows a shortened document no longer has. When embedding stops with vectors paid for
 * (an `EmbeddingIncompleteError`), or on an abort, the rows embedded are written before the
 * error is thrown.
 *
 * @example
 * ```ts
 * const plan = await planSources(["docs/"]);
 * await ingestStream(streamChunks(plan), { embedder: ef, sink });
 * ```
 */
export async function ingestStream(
  chunks: AsyncIterable<StreamedChunk | StreamedUnchangedFile>,
  options: StreamIngestOptions,
): Promise<IngestSummary> {
  const { embedder, sink, signal } = options;
  const batchSize = checkInteger(options.batchSize ?? 256, "batchSize", 1);
  const model = embedder.modelName;
  const dim = embedder.dim;
  const progress = noProgress();
  let reused = 0;
  let removed = 0;
  const report = () => options.onProgress?.({ ...progress });

  // One write at a time: the producer's metadata-only rows and the consumer's embedded rows.
  let lock: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = lock.then(work, work);
    lock = next.catch(() => {});
    return next;
  };
  const write = (rows: EmbeddingRow[]) =>
    serial(async () => {
      if (rows.length === 0) return;
      try {
        await sink.write(rows);
      } catch (error) {
        await options.onWriteFailure?.(rows, error);
        throw error;
      }
      progress.written += rows.length;
    });

  const queue = new BoundedQueue<Pending>(batchSize * 2);
  const documents = new Map<string, { same: boolean }>();

  const produce = () =>
    forEachGroup(chunks, { size: batchSize, model, dim, signal, progress }, async (group) => {
      const decision = await lookupGroup(group, {
        sink,
        dim,
        documents,
        reuse: options.reuse,
        embed: (pending) => queue.push(pending),
      });
      progress.skipped += decision.unchanged;
      if (decision.updated.length > 0) {
        await write(decision.updated);
        progress.updated += decision.updated.length;
      }
      if (decision.reused.length > 0) {
        await write(decision.reused);
        reused += decision.reused.length;
      }
      if (decision.stale.length > 0 && sink.removeStale !== undefined) {
        const removeStale = sink.removeStale.bind(sink);
        removed += await serial(() => removeStale(decision.stale));
      }
      report();
    });

  // Texts handed to `encodeStream` and not yet written (or dropped), by their index in the
  // stream: at most one step (see STEP_TEXTS). Vectors are written as each call returns
  // (`onEmbedded`), so a kill -9 loses only the calls in flight and the write being made.
  const window = new Map<number, Pending>();
  let handed = 0;
  const arrived: { index: number; row: EmbeddingRow }[] = [];
  let beingWritten = 0;
  let writing: Promise<void> | undefined;
  let writeError: { error: unknown } | undefined;
  let wakeFeeder: (() => void) | undefined;
  const wake = () => {
    const resolve = wakeFeeder;
    wakeFeeder = undefined;
    resolve?.();
  };
  const arrive = (index: number, vector: Float32Array) => {
    const pending = window.get(index);
    if (pending === undefined) return;
    if (vector.length !== dim) {
      // Not a row this sink can take (the embedding function checks dims; kept as before).
      window.delete(index);
      wake();
      return;
    }
    // Taken once: the ordered yield of the same vector comes later and finds nothing.
    window.delete(index);
    arrived.push({ index, row: chunkToRow(pending.chunk, pending.hash, vector) });
    kick();
  };
  // Writes what has arrived, up to `batchSize` rows a write, until nothing is left: one writer
  // at a time, started when rows arrive and none runs.
  const kick = () => {
    if (writing !== undefined || arrived.length === 0 || writeError !== undefined) return;
    writing = (async () => {
      // A call's vectors are told one after another in one go: let them all arrive first, so
      // one call's rows are one write.
      await Promise.resolve();
      try {
        while (arrived.length > 0 && writeError === undefined) {
          const taken = arrived.splice(0, batchSize);
          beingWritten = taken.length;
          await write(taken.map((item) => item.row));
          beingWritten = 0;
          progress.embedded += taken.length;
          report();
          wake();
        }
      } catch (error) {
        writeError = { error };
        wake();
      }
    })().finally(() => {
      writing = undefined;
      // Rows that arrived as the last write ended.
      if (writeError === undefined) kick();
    });
  };
  // Waits for the writes to end. After a failed write, the rows that arrived and were not tried
  // go where the failed ones went (`onWriteFailure`): they are paid for.
  const settle = async () => {
    while (writing !== undefined) await writing;
    kick();
    while (writing !== undefined) await writing;
    if (writeError !== undefined) {
      const rows = arrived.splice(0).map((item) => item.row);
      if (rows.length > 0) await options.onWriteFailure?.(rows, writeError.error);
      throw writeError.error;
    }
  };
  const consume = async () => {
    const inputs = (async function* (): AsyncGenerator<DocumentInput> {
      for await (const pending of queue) {
        // One step at most embedded and not yet written: wait for writes to catch up.
        while (window.size + arrived.length + beingWritten >= STEP_TEXTS) {
          if (writeError !== undefined) throw writeError.error;
          await new Promise<void>((resolve) => {
            wakeFeeder = resolve;
          });
        }
        if (writeError !== undefined) throw writeError.error;
        window.set(handed++, pending);
        const { chunk } = pending;
        yield chunk.title === undefined ? chunk.text : { text: chunk.text, title: chunk.title };
      }
    })();
    let yielded = 0;
    try {
      for await (const vector of embedder.encodeStream(inputs, {
        taskType: "RETRIEVAL_DOCUMENT",
        signal,
        onEmbedded: arrive,
      })) {
        // An embedder without the hook gives each vector here only.
        arrive(yielded++, vector);
        if (writeError !== undefined) throw writeError.error;
      }
    } catch (error) {
      // Nothing paid for is lost: the vectors that arrived, and those the error carries.
      const rescued = rescuedVectors(error);
      if (rescued !== undefined) {
        for (const index of [...window.keys()]) {
          const vector = rescued[index];
          if (vector !== undefined) arrive(index, vector);
        }
      }
      kick();
      await settle().catch(() => {});
      throw writeError?.error ?? error;
    }
    kick();
    await settle();
  };

  const producing = produce().then(
    () => queue.close(),
    (error: unknown) => {
      queue.fail(error);
      throw error;
    },
  );
  const consuming = consume().catch((error: unknown) => {
    queue.fail(error);
    throw error;
  });
  const [produced, consumedResult] = await Promise.allSettled([producing, consuming]);
  // A source problem is the cause when both stopped (the embedding stopped because of it).
  if (produced.status === "rejected") throw produced.reason;
  if (consumedResult.status === "rejected") throw consumedResult.reason;
  return {
    documents: progress.documents,
    chunks: progress.chunks,
    skipped: progress.skipped,
    embedded: progress.embedded,
    updated: progress.updated,
    reused,
    written: progress.written,
    removed,
  };
}

/**
 * The first pass's {@link UnchangedCheck} over a sink: true when every chunk is stored with the
 * content hash and metadata hash this run would write (the test the second pass makes before
 * skipping a chunk), so nothing but the hashes is trusted.
 */
export function unchangedCheck(
  sink: StreamSink,
  embedder: { modelName: string; dim: number },
): UnchangedCheck {
  const model = embedder.modelName;
  const dim = embedder.dim;
  const lookup = coalesced(sink.lookup.bind(sink));
  return async (chunks, compare = "all") => {
    const stored = await lookup(chunks.map((chunk) => chunk.id));
    for (const chunk of chunks) {
      const found = stored.get(chunk.id);
      if (
        found === undefined ||
        (compare !== "metadata" &&
          found.contentHash !==
            contentHash({ text: chunk.text, title: chunk.title, model, dim })) ||
        (compare !== "content" && found.metadataHash !== metadataHash(chunk.metadata))
      )
        return false;
    }
    return true;
  };
}

/**
 * A lookup whose concurrent callers share queries: while one query is out, the ids asked for
 * meanwhile wait and go out together in the next. The first pass checks up to 8 files at once,
 * most of a few chunks: one query per file was most of an unchanged rerun into Milvus Lite.
 * Each caller gets the answer of the query that carried its ids.
 */
export function coalesced(
  lookup: (ids: string[]) => Promise<Map<string, StoredDigest>>,
): (ids: string[]) => Promise<Map<string, StoredDigest>> {
  let waiting: {
    ids: string[];
    resolve: (found: Map<string, StoredDigest>) => void;
    reject: (error: unknown) => void;
  }[] = [];
  let busy = false;
  const send = async () => {
    busy = true;
    while (waiting.length > 0) {
      const batch = waiting;
      waiting = [];
      try {
        const found = await lookup(batch.flatMap((entry) => entry.ids));
        for (const entry of batch) entry.resolve(found);
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
    busy = false;
  };
  return (ids) =>
    new Promise((resolve, reject) => {
      waiting.push({ ids, resolve, reject });
      if (!busy) void send();
    });
}
