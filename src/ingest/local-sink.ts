import type { EmbeddingRow } from "./documents.js";
import type { LocalRowsFile } from "./local-rows-file.js";
import type { RowSink } from "./pipeline.js";

/**
 * A {@link RowSink} over a {@link LocalRowsFile}: rows go to its journal as they come; call
 * `file.commit()` at the end to merge them into the bulk-import file.
 */
export function localRowsSink(file: LocalRowsFile): RowSink {
  return {
    contentHashes: async (ids) => file.contentHashes(ids),
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
