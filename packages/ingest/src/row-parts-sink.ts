import type { RowParts } from "./row-parts.js";
import type { StoredDigest, StreamSink } from "./stream-pipeline.js";

/**
 * A {@link StreamSink} over local {@link RowParts}: lookups by key in its state index, rows
 * appended to its journal a step at a time, stale chunks found from each document's recorded
 * chunk count. Call `parts.finish()` at the end to seal the journal into the parts.
 */
export function rowPartsSink(parts: RowParts): StreamSink {
  return {
    lookup: async (ids) => {
      const found = new Map<string, StoredDigest>();
      for (const [id, entry] of parts.lookup(ids))
        found.set(id, { contentHash: entry.contentHash, metadataHash: entry.metadataHash });
      return found;
    },
    storedVectors: (ids) => parts.storedVectors(ids),
    write: (rows) => parts.append(rows),
    removeStale: async (documents) => {
      let removed = 0;
      for (const { id, count } of documents) removed += parts.removeStale(id, count);
      return removed;
    },
  };
}
