import type { EmbeddingRow } from "./documents.js";
import type { LocalRowsFile } from "./local-rows-file.js";
import type { RowSink, StoredRowState } from "./pipeline.js";

/**
 * A {@link RowSink} over a {@link LocalRowsFile}: rows go to its journal as they come; call
 * `file.commit()` at the end to merge them into the bulk-import file. It tells ingest each row's
 * metadata and vector, so a row whose metadata alone changed is rewritten without an embedding.
 */
export function localRowsSink(file: LocalRowsFile): RowSink {
  return {
    contentHashes: async (ids) => file.contentHashes(ids),
    storedRows: async (ids) => {
      const stored = new Map<string, StoredRowState>();
      for (const id of ids) {
        const row = file.get(id);
        if (row !== undefined)
          stored.set(id, { contentHash: row.content_hash, metadata: row.metadata ?? {} });
      }
      return stored;
    },
    storedVectors: async (ids) => {
      const vectors = new Map<string, number[]>();
      for (const id of ids) {
        const row = file.get(id);
        if (row !== undefined) vectors.set(id, row.vector);
      }
      return vectors;
    },
    write: (rows: EmbeddingRow[]) => file.append(rows),
    removeStale: async (documentIds, keep) => {
      const documents = new Set(documentIds);
      const stale = file
        .rows()
        .filter((row) => {
          const documentId = row.metadata.document_id;
          return typeof documentId === "string" && documents.has(documentId) && !keep.has(row.id);
        })
        .map((row) => row.id);
      return file.remove(stale);
    },
  };
}
