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

/** A Milvus `common.Status`, as the SDK gives it back. */
export interface MilvusStatus {
  /** The legacy `ErrorCode` (a name such as `IllegalArgument`, or a number the enum lacks). */
  error_code?: string | number;
  /** The newer numeric code (Milvus's `merr`), e.g. 100 for a collection not found. */
  code?: number;
  reason?: string;
  /** Set by Milvus 2.3+ on errors that may pass when tried again. */
  retriable?: boolean;
}

/**
 * Legacy `error_code`s that name a problem of the request or the schema: trying again sends the
 * same rows to the same schema. PermissionDenied 3, CollectionNotExists 4, IllegalArgument 5,
 * IllegalDimension 7, IllegalCollectionName 9, IllegalRowRecord 11, IllegalVectorID 12,
 * CollectionNameNotFound 28, UpsertAutoIDTrue 51, SchemaMismatch 62; and 6, which Milvus Lite 3
 * sends as its IllegalArgument (a wrong dim, a missing field, a value over `max_length`).
 */
const PERMANENT_ERROR_CODES = new Set([
  "PermissionDenied",
  "CollectionNotExists",
  "IllegalArgument",
  "IllegalDimension",
  "IllegalCollectionName",
  "IllegalRowRecord",
  "IllegalVectorID",
  "CollectionNameNotFound",
  "UpsertAutoIDTrue",
  "SchemaMismatch",
  ...[3, 4, 5, 6, 7, 9, 11, 12, 28, 51, 62].map(String),
]);

/**
 * The same in the newer `code` (Milvus's `merr`, none of them `retriable`): 6 (Milvus Lite's
 * IllegalArgument), collection not found 100, illegal schema 105, schema mismatch 109, partition
 * not found 200, database not found 800, parameter invalid, missing, too large 1100-1102, not
 * authenticated or permitted 1400-1401, field not found or invalid 1700-1701, invalid insert
 * data 1804.
 */
const PERMANENT_CODES = new Set([
  6, 100, 105, 109, 200, 800, 1100, 1101, 1102, 1400, 1401, 1700, 1701, 1804,
]);

/**
 * Whether a failed status may pass when the same call is sent again: yes when Milvus says
 * `retriable`, no for a problem of the request or schema (a wrong field, a dim mismatch, a
 * collection that does not exist), yes for the rest (an internal or unexpected failure of the
 * server, as a 5xx is for HTTP).
 */
export function isRetryableStatus(status: MilvusStatus): boolean {
  if (status.retriable === true) return true;
  if (status.error_code !== undefined && PERMANENT_ERROR_CODES.has(String(status.error_code))) {
    return false;
  }
  return !(typeof status.code === "number" && PERMANENT_CODES.has(status.code));
}

/**
 * gRPC status codes of a failed call worth sending again (the SDK has already retried them
 * itself): DEADLINE_EXCEEDED 4, RESOURCE_EXHAUSTED 8, ABORTED 10, UNAVAILABLE 14.
 */
const RETRYABLE_GRPC_CODES = new Map([
  [4, "DEADLINE_EXCEEDED"],
  [8, "RESOURCE_EXHAUSTED"],
  [10, "ABORTED"],
  [14, "UNAVAILABLE"],
]);

/** Milvus answered a call with an error status. */
export class MilvusOperationError extends GembedError {
  override name = "MilvusOperationError";
  /** What was being done, e.g. `upsert into docs`. */
  readonly operation: string;
  /** Milvus's error code (`error_code` name or numeric `code`). */
  readonly code: string | undefined;
  /** Milvus's reason. */
  readonly reason: string | undefined;
  /**
   * Whether the same call may pass when sent again (false for a problem of the request or the
   * schema); gembed's retries read it through `isRetryableError`.
   */
  readonly isRetryable: boolean;
  constructor(
    operation: string,
    code: string | undefined,
    reason: string | undefined,
    options?: { cause?: unknown; retryable?: boolean | undefined },
  ) {
    super(
      `Milvus ${operation} failed${code ? ` (${code})` : ""}${reason ? `: ${reason}` : ""}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.operation = operation;
    this.code = code;
    this.reason = reason;
    this.isRetryable = options?.retryable ?? true;
  }

  /** The error of a failed status, retryable as {@link isRetryableStatus} says. */
  static fromStatus(operation: string, status: MilvusStatus): MilvusOperationError {
    return new MilvusOperationError(
      operation,
      String(status.error_code ?? status.code),
      status.reason,
      { retryable: isRetryableStatus(status) },
    );
  }

  /**
   * What a call that threw is turned into: a status the SDK threw (it throws the answer of the
   * `DescribeCollection` it sends first, e.g. for a collection that does not exist) or a gRPC
   * failure becomes a MilvusOperationError; anything else (the SDK's own checks of the rows, a
   * bug) is given back as it is, and is not retried.
   */
  static fromThrown(operation: string, error: unknown): unknown {
    if (error instanceof MilvusOperationError || typeof error !== "object" || error === null) {
      return error;
    }
    const status = (error as { status?: unknown }).status;
    if (!(error instanceof Error) && typeof status === "object" && status !== null) {
      return MilvusOperationError.fromStatus(operation, status as MilvusStatus);
    }
    const code = (error as { code?: unknown }).code;
    if (error instanceof Error && typeof code === "number") {
      const details = (error as { details?: unknown }).details;
      return new MilvusOperationError(
        operation,
        RETRYABLE_GRPC_CODES.get(code) ?? `gRPC ${code}`,
        typeof details === "string" ? details : error.message,
        { cause: error, retryable: RETRYABLE_GRPC_CODES.has(code) },
      );
    }
    return error;
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
