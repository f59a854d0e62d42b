/**
 * What a streaming ingest decides for one group of chunks once it has looked their ids up in the
 * sink: skip (stored unchanged), write again with the stored vector (metadata alone changed),
 * write with a vector an earlier run paid for (`reuse`), or embed; and which documents now have
 * fewer chunks than stored. Shared by `ingestStream` (stream-pipeline.ts) and `ingestBatch`
 * (batch-ingest.ts).
 *
 * @module
 */

import type { DocumentChunk, EmbeddingRow } from "./documents.js";
import { contentHash } from "./hash.js";
import { chunkToRow } from "./pipeline.js";
import { metadataHash } from "./row-parts.js";
import type { StreamIngestProgress, StreamSink } from "./stream-pipeline.js";
import type { StreamedChunk, StreamedUnchangedFile } from "./stream-sources.js";

/** A chunk with its content hash. */
export interface HashedChunk {
  chunk: DocumentChunk;
  hash: string;
}

/** What {@link lookupGroup} found for a group. */
export interface GroupDecision {
  /** Chunks stored with the same content hash and metadata. */
  unchanged: number;
  /** Rows whose metadata alone changed, with their stored vector: written, not embedded. */
  updated: EmbeddingRow[];
  /** Rows with a vector given back by `reuse`. */
  reused: EmbeddingRow[];
  /** Documents whose last chunk was in the group and whose stored chunks may be more. */
  stale: { id: string; count: number }[];
}

/**
 * Looks a group up in the sink and decides each chunk (see the module comment); `embed` is called
 * for each chunk to embed, in order. `documents` carries, across groups, whether each document
 * read so far is stored with the same chunk count (a document's chunks may span groups).
 */
export async function lookupGroup(
  group: readonly HashedChunk[],
  context: {
    sink: StreamSink;
    dim: number;
    documents: Map<string, { same: boolean }>;
    reuse?: ((id: string, hash: string) => number[] | undefined) | undefined;
    embed: (pending: HashedChunk) => Promise<void>;
  },
): Promise<GroupDecision> {
  const { sink, dim, documents } = context;
  const decision: GroupDecision = { unchanged: 0, updated: [], reused: [], stale: [] };
  if (group.length === 0) return decision;
  sink.check?.(group.map((pending) => pending.chunk));
  const stored = await sink.lookup(group.map((pending) => pending.chunk.id));
  const metadataOnly: HashedChunk[] = [];
  for (const pending of group) {
    const { chunk, hash } = pending;
    const found = stored.get(chunk.id);
    const state = documents.get(chunk.documentId) ?? { same: true };
    documents.set(chunk.documentId, state);
    if (found === undefined || found.chunks !== chunk.count) state.same = false;
    if (found !== undefined && found.contentHash === hash) {
      if (found.metadataHash === metadataHash(chunk.metadata)) decision.unchanged++;
      else if (sink.storedVectors !== undefined) metadataOnly.push(pending);
      else await context.embed(pending);
    } else {
      const vector = context.reuse?.(chunk.id, hash);
      if (vector !== undefined && vector.length === dim)
        decision.reused.push({ ...chunkToRow(chunk, hash, new Float32Array(0)), vector });
      else await context.embed(pending);
    }
    if (chunk.index === chunk.count - 1) {
      if (!state.same) decision.stale.push({ id: chunk.documentId, count: chunk.count });
      documents.delete(chunk.documentId);
    }
  }
  if (metadataOnly.length > 0) {
    const vectors = await sink.storedVectors!(metadataOnly.map((pending) => pending.chunk.id));
    for (const pending of metadataOnly) {
      const vector = vectors.get(pending.chunk.id);
      if (vector !== undefined && vector.length === dim)
        decision.updated.push({
          ...chunkToRow(pending.chunk, pending.hash, new Float32Array(0)),
          vector,
        });
      // The row went away (or lost its vector) since it was looked up: embed it after all.
      else await context.embed(pending);
    }
  }
  return decision;
}

/**
 * Reads a stream of chunks a group of `size` at a time: counts each in `progress` (a file the
 * first pass found unchanged is counted whole, as skipped), hashes it, and hands each full group,
 * then the last one, to `onGroup`.
 */
export async function forEachGroup(
  chunks: AsyncIterable<StreamedChunk | StreamedUnchangedFile>,
  options: {
    size: number;
    model: string;
    dim: number;
    signal?: AbortSignal | undefined;
    progress: Pick<StreamIngestProgress, "bytes" | "documents" | "chunks" | "skipped">;
  },
  onGroup: (group: HashedChunk[]) => Promise<void>,
): Promise<void> {
  const { size, model, dim, signal, progress } = options;
  let group: HashedChunk[] = [];
  for await (const { chunk, bytes, unchanged } of chunks) {
    signal?.throwIfAborted();
    progress.bytes += bytes;
    if (chunk === undefined) {
      // A file the first pass found wholly stored unchanged.
      progress.documents += unchanged.documents;
      progress.chunks += unchanged.chunks;
      progress.skipped += unchanged.chunks;
      continue;
    }
    progress.chunks++;
    if (chunk.index === 0) progress.documents++;
    group.push({ chunk, hash: contentHash({ text: chunk.text, title: chunk.title, model, dim }) });
    if (group.length >= size) {
      await onGroup(group);
      group = [];
    }
  }
  if (group.length > 0) await onGroup(group);
}
