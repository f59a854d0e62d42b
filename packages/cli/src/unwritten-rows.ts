/**
 * Rows embedded but not written to Milvus (it failed after every retry) are kept in
 * `<collection>.unwritten.json`, and the next run writes them without paying for their vectors
 * again. Shared by the streaming and the in-memory ingest.
 *
 * @module
 */

import { access } from "node:fs/promises";
import { type EmbeddingRow, LocalRowsFile } from "@gembed/ingest";

/** What an ingest into Milvus wires to keep rows it could not write. */
export interface UnwrittenRows {
  /** A kept vector for this chunk id and content hash, if an earlier run paid for it. */
  reuse: (id: string, hash: string) => number[] | undefined;
  /** Keeps rows Milvus refused after every retry, and says where. */
  onWriteFailure: (rows: EmbeddingRow[], error: unknown) => Promise<void>;
  /** After the run: a run that ended well wrote (or found unchanged) every kept row. */
  finish: (succeeded: boolean) => Promise<void>;
}

/** Opens (lazily creates) the unwritten-rows file of `collection`. */
export async function unwrittenRows(collection: string): Promise<UnwrittenRows> {
  const keptPath = `${collection}.unwritten.json`;
  const exists = await access(keptPath).then(
    () => true,
    () => false,
  );
  let kept = exists ? await LocalRowsFile.open(keptPath) : undefined;
  return {
    reuse: (id, hash) => {
      const row = kept?.get(id);
      return row !== undefined && row.content_hash === hash ? row.vector : undefined;
    },
    onWriteFailure: async (rows) => {
      kept ??= await LocalRowsFile.open(keptPath);
      await kept.append(rows);
      await kept.commit();
      process.stderr.write(
        `gembed: ${rows.length} embedded row(s) could not be written; kept in ${kept.path}, the next run writes them without embedding them again\n`,
      );
    },
    finish: async (succeeded) => {
      if (succeeded && kept !== undefined) await kept.delete();
    },
  };
}
