/**
 * Bulk-import files for a Milvus cluster or Zilliz Cloud, written by the Milvus Node SDK's own
 * `BulkWriter` (JSON or Parquet) for the gembed collection schema: the way to load many millions
 * of rows, which one process upserting over gRPC is not (see docs/milvus.md, "Bulk import").
 *
 * @module
 */

import { mkdtemp, rename, rm } from "node:fs/promises";
import path from "node:path";
import type { EmbeddingRow } from "@gembed/ingest";
import { collectionFields } from "./schema.js";
import { loadMilvusSdk } from "./sdk.js";

/** The formats Milvus's bulk import reads that the SDK's `BulkWriter` writes. */
export type BulkImportFormat = "json" | "parquet";

/** Options of {@link writeBulkImportFiles}. */
export interface BulkImportFileOptions {
  /**
   * The file to write, e.g. `rows.parquet`; when the rows fill more than one chunk, the files
   * are `rows-1.parquet`, `rows-2.parquet`, ….
   */
  out: string;
  /** The vector size of every row (the collection's `dim`). */
  dim: number;
  /**
   * `parquet` or `json`.
   * @default from the extension of `out` (`.parquet` is Parquet, anything else JSON)
   */
  format?: BulkImportFormat | undefined;
  /**
   * Bytes per file (the SDK's `chunkSize`).
   * @default 512 MiB
   */
  chunkSize?: number | undefined;
}

/** The format `out`'s extension names: `.parquet` is Parquet, anything else JSON. */
export function bulkImportFormat(out: string): BulkImportFormat {
  return /\.parquet$/i.test(out) ? "parquet" : "json";
}

/**
 * Writes rows as Milvus bulk-import files through the SDK's `BulkWriter`, with the gembed
 * schema (so a row that does not fit it is refused by the SDK's own checks), and returns the
 * paths written. The files appear whole: they are written in a temporary folder beside `out` and
 * renamed into place.
 *
 * @example
 * ```ts
 * const files = await writeBulkImportFiles(rows, { out: "docs.parquet", dim: 768 });
 * // upload files to the bucket of your Milvus, then import them (docs/milvus.md)
 * ```
 */
export async function writeBulkImportFiles(
  rows: Iterable<EmbeddingRow> | AsyncIterable<EmbeddingRow>,
  options: BulkImportFileOptions,
): Promise<string[]> {
  if (typeof options?.out !== "string" || options.out.length === 0) {
    throw new TypeError("out must be a non-empty string");
  }
  const format = options.format ?? bulkImportFormat(options.out);
  if (format !== "json" && format !== "parquet") {
    throw new RangeError(`format must be "json" or "parquet", got ${String(format)}`);
  }
  const fields = collectionFields(options.dim);
  const sdk = await loadMilvusSdk();
  const out = path.resolve(options.out);
  const staging = await mkdtemp(path.join(path.dirname(out), `.${path.basename(out)}.`));
  try {
    const writer = new sdk.BulkWriter({
      schema: { fields: fields.map((field) => ({ ...field })), enable_dynamic_field: false },
      format,
      localPath: staging,
      chunkSize: options.chunkSize ?? 512 * 1024 * 1024,
    });
    for await (const row of rows) {
      // Milvus wants plain arrays; a Float32Array would be written as an object.
      await writer.append({ ...row, vector: Array.from(row.vector) });
    }
    const written = (await writer.close()).flat();
    const extension = path.extname(out);
    const stem = out.slice(0, out.length - extension.length);
    const targets =
      written.length === 1
        ? [out]
        : written.map((_, index) => `${stem}-${index + 1}${extension || `.${format}`}`);
    for (const [index, file] of written.entries()) await rename(file, targets[index]!);
    return targets;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
