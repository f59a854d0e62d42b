import type { StoredDigest, StreamSink } from "@gembed/ingest";
import { metadataHash } from "@gembed/ingest";
import type { MilvusCollection, WriteOptions } from "./collection.js";

/**
 * A Milvus collection as the sink of a streaming ingest: each step's ids are looked up with one
 * query (never every id of the collection), rows are upserted a step at a time in byte-bounded
 * batches, and a document's stale chunks are looked for, by primary key, only when its stored rows
 * do not already show its new chunk count (a rerun of an unchanged corpus queries nothing more
 * than the lookups).
 */
export function milvusStreamSink(
  collection: MilvusCollection,
  options: WriteOptions = {},
): StreamSink {
  return {
    check: (chunks) => collection.checkDocuments(chunks),
    lookup: async (ids) => {
      const found = new Map<string, StoredDigest>();
      for (const [id, state] of await collection.storedRows(ids)) {
        const chunks = state.metadata.chunks;
        found.set(id, {
          contentHash: state.contentHash,
          metadataHash: metadataHash(state.metadata),
          ...(typeof chunks === "number" ? { chunks } : {}),
        });
      }
      return found;
    },
    storedVectors: (ids) => collection.storedVectors(ids),
    write: async (rows) => {
      await collection.upsertRows(rows, options);
    },
    // By primary key: a filter on `metadata["document_id"]` is a scan of the whole collection,
    // which made the ingest into Milvus Lite slower with every row it held.
    removeStale: (documents) => collection.removeStaleChunks(documents),
  };
}
