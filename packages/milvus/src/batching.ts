import type { EmbeddingRow } from "@gembed/ingest";
import { checkInteger } from "gembed/internal";

/** Milvus refuses a request over 64 MiB (its default gRPC receive limit). */
export const MILVUS_REQUEST_LIMIT_BYTES = 64 * 1024 * 1024;

/** Options of {@link planBatches}. */
export interface BatchPlanOptions {
  /**
   * Most estimated bytes per request: three quarters of Milvus's 64 MiB limit, leaving room for
   * protobuf framing and the estimate's error.
   * @default 48 MiB
   */
  maxBytes?: number | undefined;
  /**
   * Most rows per request.
   * @default 10000
   */
  maxRows?: number | undefined;
}

/**
 * Estimated bytes a row takes in an insert request: 4 per float of the vector, the UTF-8 bytes
 * of every string, the metadata's JSON, and 16 per field of protobuf framing.
 */
export function estimateRowBytes(row: EmbeddingRow): number {
  return (
    row.vector.length * 4 +
    Buffer.byteLength(row.id) +
    Buffer.byteLength(row.text) +
    Buffer.byteLength(row.title) +
    Buffer.byteLength(row.content_hash) +
    Buffer.byteLength(JSON.stringify(row.metadata)) +
    6 * 16
  );
}

/**
 * Splits rows into consecutive batches that each stay under `maxBytes` (estimated) and
 * `maxRows`. A single row over `maxBytes` is a `RangeError` (Milvus would refuse it whole).
 *
 * @example
 * ```ts
 * for (const batch of planBatches(rows)) await client.upsert({ collection_name, data: batch });
 * ```
 */
export function planBatches<T extends EmbeddingRow>(
  rows: T[],
  options: BatchPlanOptions = {},
): T[][] {
  const maxBytes = options.maxBytes ?? 48 * 1024 * 1024;
  const maxRows = options.maxRows ?? 10_000;
  checkInteger(maxBytes, "maxBytes", 1);
  checkInteger(maxRows, "maxRows", 1);
  if (maxBytes > MILVUS_REQUEST_LIMIT_BYTES) {
    throw new RangeError(
      `maxBytes must be at most Milvus's limit of ${MILVUS_REQUEST_LIMIT_BYTES} bytes`,
    );
  }
  const batches: T[][] = [];
  let current: T[] = [];
  let currentBytes = 0;
  for (const row of rows) {
    const bytes = estimateRowBytes(row);
    if (bytes > maxBytes) {
      throw new RangeError(
        `row ${row.id} takes about ${bytes} bytes, more than maxBytes (${maxBytes})`,
      );
    }
    if (current.length > 0 && (currentBytes + bytes > maxBytes || current.length >= maxRows)) {
      batches.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(row);
    currentBytes += bytes;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
