import { GembedError } from "gembed";

/** `@zilliz/milvus2-sdk-node` (an optional peer dependency) is not installed. */
export class MilvusSdkMissingError extends GembedError {
  override name = "MilvusSdkMissingError";
  constructor(options?: { cause?: unknown }) {
    super(
      'gembed/milvus needs the Milvus Node SDK: run "npm install @zilliz/milvus2-sdk-node" (>=2.5 <4).',
      options,
    );
  }
}

/**
 * An existing collection does not fit the embedding function (another vector dim, another
 * metric, a missing field). Thrown before anything is written.
 */
export class MilvusSchemaMismatchError extends GembedError {
  override name = "MilvusSchemaMismatchError";
  /** The collection. */
  readonly collectionName: string;
  /** Every difference found, e.g. `vector dim is 768, the embedding function makes 3072`. */
  readonly problems: string[];
  constructor(collectionName: string, problems: string[]) {
    super(`Collection "${collectionName}" does not fit: ${problems.join("; ")}`);
    this.collectionName = collectionName;
    this.problems = problems;
  }
}

/** Milvus answered a call with an error status. */
export class MilvusOperationError extends GembedError {
  override name = "MilvusOperationError";
  /** What was being done, e.g. `upsert into docs`. */
  readonly operation: string;
  /** Milvus's error code (`error_code` name or numeric `code`). */
  readonly code: string | undefined;
  /** Milvus's reason. */
  readonly reason: string | undefined;
  constructor(
    operation: string,
    code: string | undefined,
    reason: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      `Milvus ${operation} failed${code ? ` (${code})` : ""}${reason ? `: ${reason}` : ""}`,
      options,
    );
    this.operation = operation;
    this.code = code;
    this.reason = reason;
  }
}

/**
 * A batch of rows could not be written after every retry. The batches before it stay written;
 * `ids` are the rows of the failed batch, `pendingIds` every row not written (the failed batch
 * and those after it), `writtenCount` how many rows were written before it.
 */
export class MilvusWriteError extends GembedError {
  override name = "MilvusWriteError";
  readonly ids: string[];
  readonly pendingIds: string[];
  readonly writtenCount: number;
  constructor(
    collectionName: string,
    ids: string[],
    pendingIds: string[],
    writtenCount: number,
    cause: unknown,
  ) {
    const shown = ids.slice(0, 5).join(", ") + (ids.length > 5 ? `, … (${ids.length} ids)` : "");
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `Writing ${ids.length} row(s) to "${collectionName}" failed (${writtenCount} row(s) before them are written): ids ${shown}: ${reason}`,
      { cause },
    );
    this.ids = ids;
    this.pendingIds = pendingIds;
    this.writtenCount = writtenCount;
  }
}
