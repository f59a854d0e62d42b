/**
 * Every error gembed throws derives from {@link GembedError}.
 *
 * API errors keep the parsed `google.rpc.Status` as fields; nothing is stringified into the
 * message, and no message ever contains an API key.
 *
 * @module
 */

import { type AnyMessage, type Status, TYPE_URLS } from "./api/types.js";

/** Base class of every error gembed throws. */
export class GembedError extends Error {
  override name = "GembedError";
}

/** One violation of a `google.rpc.QuotaFailure`. */
export interface QuotaViolation {
  quotaMetric?: string;
  quotaId?: string;
  quotaDimensions?: Record<string, string>;
  quotaValue?: string;
  subject?: string;
  description?: string;
}

/** Options of {@link GeminiApiError}. */
export interface GeminiApiErrorOptions {
  /** The HTTP status of the answer. */
  httpStatus: number;
  /** The parsed `error` of the body, when the body was a `google.rpc.Status`. */
  error?: Status | undefined;
  /** The first bytes of a body that was not a `google.rpc.Status`. */
  bodyExcerpt?: string | undefined;
  /** Response headers, for `Retry-After`. */
  headers?: Headers | undefined;
  /** What was being done, e.g. `POST models/gemini-embedding-001:batchEmbedContents`. */
  operation?: string | undefined;
}

/** Parses a protobuf Duration string such as `"59s"` or `"1.5s"` into milliseconds. */
export function parseDurationMs(value: unknown): number | undefined {
  if (typeof value !== "string") return undefined;
  const match = /^(\d+(?:\.\d+)?)s$/.exec(value.trim());
  if (!match?.[1]) return undefined;
  return Math.round(Number(match[1]) * 1000);
}

/** Parses a `Retry-After` header (seconds or an HTTP date) into milliseconds. */
export function parseRetryAfterMs(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - Date.now());
}

const RETRYABLE_HTTP = new Set([408, 429, 500, 502, 503, 504]);

/**
 * An error answer of the Gemini API. Build one with {@link GeminiApiError.generate}, which picks
 * the subclass from the HTTP status.
 */
export class GeminiApiError extends GembedError {
  override name = "GeminiApiError";
  /** The HTTP status, e.g. 429. */
  readonly httpStatus: number;
  /** The `google.rpc.Status` code name, e.g. `RESOURCE_EXHAUSTED`. */
  readonly status: string | undefined;
  /** The numeric code of the status body (usually the HTTP status). */
  readonly code: number | undefined;
  /** `google.rpc.Status.details`, as sent. */
  readonly details: AnyMessage[];
  /** The wait the server asks for: `RetryInfo.retryDelay`, else `Retry-After`. */
  readonly retryDelayMs: number | undefined;
  /** The violations of a `QuotaFailure` detail. */
  readonly quotaViolations: QuotaViolation[];
  /** `ErrorInfo.reason`, e.g. `API_KEY_INVALID`. */
  readonly reason: string | undefined;
  /** The first bytes of a body that was not JSON. */
  readonly bodyExcerpt: string | undefined;

  constructor(message: string, options: GeminiApiErrorOptions) {
    super(message);
    this.httpStatus = options.httpStatus;
    this.status = options.error?.status;
    this.code = options.error?.code;
    this.details = Array.isArray(options.error?.details) ? options.error.details : [];
    this.bodyExcerpt = options.bodyExcerpt;
    this.quotaViolations = [];
    let retryDelayMs: number | undefined;
    let reason: string | undefined;
    for (const detail of this.details) {
      if (detail["@type"] === TYPE_URLS.retryInfo)
        retryDelayMs = parseDurationMs(detail.retryDelay);
      if (detail["@type"] === TYPE_URLS.quotaFailure && Array.isArray(detail.violations)) {
        this.quotaViolations.push(...(detail.violations as QuotaViolation[]));
      }
      if (detail["@type"] === TYPE_URLS.errorInfo && typeof detail.reason === "string") {
        reason = detail.reason;
      }
    }
    this.retryDelayMs = retryDelayMs ?? parseRetryAfterMs(options.headers?.get("retry-after"));
    this.reason = reason;
  }

  /** True when a quota violation is counted per day: waiting a minute will not clear it. */
  get isPerDayQuota(): boolean {
    return this.quotaViolations.some((violation) =>
      /per ?day/i.test(`${violation.quotaId ?? ""} ${violation.quotaMetric ?? ""}`),
    );
  }

  /** True when the same request may succeed later (408, 429 but not per day, 5xx but 501). */
  get isRetryable(): boolean {
    if (this.httpStatus === 429) return !this.isPerDayQuota;
    return RETRYABLE_HTTP.has(this.httpStatus);
  }

  /** Builds the subclass that fits the HTTP status. */
  static generate(options: GeminiApiErrorOptions): GeminiApiError {
    const base = options.error?.message ?? `HTTP ${options.httpStatus}`;
    const where = options.operation ? ` (${options.operation})` : "";
    const excerpt =
      options.error === undefined && options.bodyExcerpt ? `: ${options.bodyExcerpt}` : "";
    const message = `${options.httpStatus}${options.error?.status ? ` ${options.error.status}` : ""}: ${base}${excerpt}${where}`;
    switch (options.httpStatus) {
      case 400:
        return new BadRequestError(message, options);
      case 401:
        return new AuthenticationError(message, options);
      case 403:
        return new PermissionDeniedError(message, options);
      case 404:
        return new NotFoundError(message, options);
      case 409:
        return new ConflictError(message, options);
      case 413:
        return new PayloadTooLargeError(message, options);
      case 429:
        return new RateLimitError(message, options);
      default:
        if (options.httpStatus >= 500) return new InternalServerError(message, options);
        return new GeminiApiError(message, options);
    }
  }
}

/** 400 INVALID_ARGUMENT (also a bad API key, `reason: "API_KEY_INVALID"`). */
export class BadRequestError extends GeminiApiError {
  override name = "BadRequestError";
}
/** 401 UNAUTHENTICATED. */
export class AuthenticationError extends GeminiApiError {
  override name = "AuthenticationError";
}
/** 403 PERMISSION_DENIED. */
export class PermissionDeniedError extends GeminiApiError {
  override name = "PermissionDeniedError";
}
/** 404 NOT_FOUND (an unknown or retired model, a missing job or file). */
export class NotFoundError extends GeminiApiError {
  override name = "NotFoundError";
}
/** 409 ABORTED / ALREADY_EXISTS. */
export class ConflictError extends GeminiApiError {
  override name = "ConflictError";
}
/** 413: the request body is over the limit. */
export class PayloadTooLargeError extends GeminiApiError {
  override name = "PayloadTooLargeError";
}
/** 429 RESOURCE_EXHAUSTED: a quota is used up; see `retryDelayMs` and `isPerDayQuota`. */
export class RateLimitError extends GeminiApiError {
  override name = "RateLimitError";
}
/** 5xx: INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED. */
export class InternalServerError extends GeminiApiError {
  override name = "InternalServerError";
}

/** Host names that do not exist: waiting will not make them appear. */
const PERMANENT_CONNECTION_CODES = new Set(["ENOTFOUND"]);

/**
 * No answer: the connection was refused, reset or dropped, or the host name did not resolve.
 * Retryable, except for a host name that does not exist (`code` `ENOTFOUND`).
 */
export class GeminiConnectionError extends GembedError {
  override name = "GeminiConnectionError";

  /** The system error code under it (e.g. `ECONNRESET`, `ENOTFOUND`), when there is one. */
  get code(): string | undefined {
    let cause: unknown = this.cause;
    for (let depth = 0; depth < 5 && cause !== null && typeof cause === "object"; depth++) {
      const code = (cause as { code?: unknown }).code;
      if (typeof code === "string") return code;
      cause = (cause as { cause?: unknown }).cause;
    }
    return undefined;
  }

  /** False when the host name does not exist (`ENOTFOUND`): retrying cannot help. */
  get isRetryable(): boolean {
    const code = this.code;
    return code === undefined || !PERMANENT_CONNECTION_CODES.has(code);
  }
}

/** One attempt took longer than the `timeout` option. Retryable. */
export class GeminiTimeoutError extends GembedError {
  override name = "GeminiTimeoutError";
}

/** The caller's `signal` aborted the work. Never retried. */
export class GembedAbortError extends GembedError {
  override name = "AbortError";
}

/**
 * The caller's `signal` stopped an encode call part-way. Nothing paid for is lost: as with
 * {@link EmbeddingIncompleteError}, `vectors[i]` holds every vector already received (undefined
 * where missing) and `missingIndices` the inputs still to do. A Batch API run that was stopped
 * names its jobs in `jobNames`: they keep running (they are not cancelled unless the caller asked
 * for it) and a run with the same state file collects them. Its `name` stays `"AbortError"`, so
 * `error.name === "AbortError"` checks keep working, and it is a {@link GembedAbortError}.
 *
 * @example
 * ```ts
 * try { await ef.encodeDocuments(texts, { signal }); }
 * catch (error) { if (error instanceof EmbeddingAbortedError) keep(error.vectors); }
 * ```
 */
export class EmbeddingAbortedError extends GembedAbortError {
  readonly vectors: (Float32Array | undefined)[];
  readonly missingIndices: number[];
  /** Batch API jobs left running (detached), `batches/{id}`; empty for the synchronous path. */
  readonly jobNames: string[];
  constructor(
    message: string,
    vectors: (Float32Array | undefined)[],
    missingIndices: number[],
    cause: unknown,
    jobNames: string[] = [],
  ) {
    super(message, { cause });
    this.vectors = vectors;
    this.missingIndices = missingIndices;
    this.jobNames = jobNames;
  }
}

/**
 * An option that gembed does not take, or takes with another name or value: an unknown key
 * (`output_dimensionality` from pymilvus: the message names `config.outputDimensionality`), a
 * value of the wrong type, or out of range. Thrown when the object is built, before any call.
 * It extends `TypeError` (the options object is not of the expected shape), so existing
 * `instanceof TypeError` checks still hold; the CLI maps it (and only it among TypeErrors) to
 * exit code 2.
 */
export class InvalidOptionError extends TypeError {
  override name = "InvalidOptionError";
  /** The option at fault, as the caller wrote it (e.g. `output_dimensionality`, `config.taskType`). */
  readonly option: string;
  /** The option to use instead, when the caller wrote a known alias (e.g. `config.outputDimensionality`). */
  readonly suggestion: string | undefined;
  constructor(option: string, message: string, suggestion?: string) {
    super(message);
    this.option = option;
    this.suggestion = suggestion;
  }
}

/**
 * A file that another process is writing (a local rows file, a batch state file): refused instead
 * of letting two writers lose each other's rows. The message names the file and the process.
 */
export class FileLockedError extends GembedError {
  override name = "FileLockedError";
  /** The file that is locked. */
  readonly path: string;
  /** The process holding the lock, when its lock file says. */
  readonly pid: number | undefined;
  constructor(path: string, pid: number | undefined, message: string) {
    super(message);
    this.path = path;
    this.pid = pid;
  }
}

/** An answer that does not have the expected shape (e.g. fewer embeddings than requests). */
export class InvalidResponseError extends GembedError {
  override name = "InvalidResponseError";
}

/** No API key in the options nor in `GOOGLE_API_KEY` / `GEMINI_API_KEY`. */
export class MissingApiKeyError extends GembedError {
  override name = "MissingApiKeyError";
}

/** One problem with one input text. */
export interface InputIssue {
  /** The index of the text in the input. */
  index: number;
  /** What is wrong, e.g. `"empty or whitespace-only text"`. */
  reason: string;
  /** Which field, when not the text itself (e.g. `"title"`). */
  field?: string;
}

/** Bad input, found before any network call; `issues` names every offending index. */
export class InvalidInputError extends GembedError {
  override name = "InvalidInputError";
  readonly issues: InputIssue[];
  constructor(issues: InputIssue[], what = "input") {
    const shown = issues
      .slice(0, 10)
      .map((issue) => `#${issue.index}${issue.field ? ` ${issue.field}` : ""}: ${issue.reason}`)
      .join("; ");
    const more = issues.length > 10 ? ` (and ${issues.length - 10} more)` : "";
    super(`Invalid ${what}: ${issues.length} problem(s): ${shown}${more}`);
    this.issues = issues;
  }
}

/** A model that Google retired; the message names the replacement. */
export class RetiredModelError extends GembedError {
  override name = "RetiredModelError";
  readonly model: string;
  readonly replacement: string;
  constructor(model: string, replacement: string) {
    super(`The model "${model}" is retired and answers 404; use "${replacement}" instead.`);
    this.model = model;
    this.replacement = replacement;
  }
}

/**
 * Work that could not finish. Nothing paid for is lost: `vectors[i]` holds every vector already
 * computed (undefined where missing) and `missingIndices` the inputs still to do. `cause` is the
 * error that stopped the work.
 */
export class EmbeddingIncompleteError extends GembedError {
  override name = "EmbeddingIncompleteError";
  readonly vectors: (Float32Array | undefined)[];
  readonly missingIndices: number[];
  constructor(
    message: string,
    vectors: (Float32Array | undefined)[],
    missingIndices: number[],
    cause: unknown,
  ) {
    super(message, { cause });
    this.vectors = vectors;
    this.missingIndices = missingIndices;
  }
}

/** Why a batch job did not give its results: its final state, or a deadline that passed. */
export type BatchJobFailureReason = "failed" | "cancelled" | "expired" | "deadline";

/**
 * A Batch API job that ended `FAILED`, `CANCELLED` or `EXPIRED`, or that was still pending when
 * the caller's deadline passed (`reason: "deadline"`, see {@link BatchDeadlineError}). The message
 * names the job; `state` is its last known `BatchState`.
 */
export class BatchJobError extends GembedError {
  override name = "BatchJobError";
  /** `batches/{id}`. */
  readonly jobName: string;
  /** The job's last known state, e.g. `BATCH_STATE_EXPIRED`. */
  readonly state: string;
  /** Which of the four outcomes this is. */
  readonly reason: BatchJobFailureReason;
  constructor(
    message: string,
    jobName: string,
    state: string,
    reason: BatchJobFailureReason,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.jobName = jobName;
    this.state = state;
    this.reason = reason;
  }
}

/** A batch job still pending or running when the caller's deadline passed. */
export class BatchDeadlineError extends BatchJobError {
  override name = "BatchDeadlineError";
}

/**
 * A resume state (state file or store) belongs to another input: the texts, the model or the
 * config changed since the job was submitted. Nothing was submitted; delete the state file (and
 * cancel the old job if it is no longer wanted) to start anew.
 */
/**
 * A batch state file that cannot be read back (cut short, edited by hand): names the file. Its
 * jobs may still be running, so gembed never deletes it for the user.
 */
export class BatchStateFileError extends GembedError {
  override readonly name: string = "BatchStateFileError";
  /** The state file. */
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.path = path;
  }
}

export class BatchInputChangedError extends GembedError {
  override name = "BatchInputChangedError";
  /** The jobs the stored state points at. */
  readonly jobNames: string[];
  constructor(message: string, jobNames: string[]) {
    super(message);
    this.jobNames = jobNames;
  }
}

/**
 * The results of a batch job do not cover its input exactly once: keys missing, repeated or
 * unknown. The message names the first offending keys.
 */
export class BatchResultsError extends InvalidResponseError {
  override name = "BatchResultsError";
  readonly jobName: string;
  /** Keys of the input with no result. */
  readonly missingKeys: string[];
  /** Keys that came back more than once. */
  readonly duplicateKeys: string[];
  /** Keys that match no input. */
  readonly unknownKeys: string[];
  constructor(
    message: string,
    jobName: string,
    keys: { missing?: string[]; duplicate?: string[]; unknown?: string[] },
  ) {
    super(message);
    this.jobName = jobName;
    this.missingKeys = keys.missing ?? [];
    this.duplicateKeys = keys.duplicate ?? [];
    this.unknownKeys = keys.unknown ?? [];
  }
}

/** One item that failed inside a batch job. */
export interface BatchItemFailure {
  /** The index of the input. */
  index: number;
  /** The error the job gave for it (a {@link GeminiApiError} built from its `google.rpc.Status`). */
  error: Error;
}

/**
 * Some items failed inside a batch job and the caller chose `onItemError: "return"`: `vectors`
 * holds every successful vector (the job's work is kept), `failures` each failed index with its
 * error.
 */
export class BatchItemsFailedError extends EmbeddingIncompleteError {
  override name = "BatchItemsFailedError";
  readonly failures: BatchItemFailure[];
  constructor(
    message: string,
    vectors: (Float32Array | undefined)[],
    failures: BatchItemFailure[],
  ) {
    super(
      message,
      vectors,
      failures.map((failure) => failure.index),
      failures[0]?.error,
    );
    this.failures = failures;
  }
}

/**
 * What a batch run that stopped on a job's outcome kept: every vector already computed and the
 * inputs still to do, so nothing already paid for is lost.
 */
export interface BatchIncompleteWork {
  /** One entry per input: the vector, or undefined where it is missing. */
  readonly vectors: (Float32Array | undefined)[];
  /** The inputs without a vector, ascending. */
  readonly missingIndices: number[];
  /** Every job that did not give its results (the first one is this error's own). */
  readonly jobErrors: BatchJobError[];
  /** Items that failed inside jobs that did succeed (also counted in `missingIndices`). */
  readonly failures: BatchItemFailure[];
}

/**
 * `encodeWithBatchApi` without `fallback`: at least one job ended `FAILED`, `CANCELLED` or
 * `EXPIRED` (the first is named by `jobName`, `state`, `reason`). The results of the other jobs
 * are kept in `vectors`; `missingIndices` are the inputs still to do.
 */
export class BatchJobIncompleteError extends BatchJobError implements BatchIncompleteWork {
  override name = "BatchJobIncompleteError";
  readonly vectors: (Float32Array | undefined)[];
  readonly missingIndices: number[];
  readonly jobErrors: BatchJobError[];
  readonly failures: BatchItemFailure[];
  constructor(message: string, first: BatchJobError, work: BatchIncompleteWork) {
    super(message, first.jobName, first.state, first.reason, { cause: first });
    this.vectors = work.vectors;
    this.missingIndices = work.missingIndices;
    this.jobErrors = work.jobErrors;
    this.failures = work.failures;
  }
}

/**
 * `encodeWithBatchApi` without `fallback`: the deadline passed with a job still pending (it keeps
 * running, and the resume state is kept). The results of the jobs that did finish are kept in
 * `vectors`; `missingIndices` are the inputs still to do.
 */
export class BatchDeadlineIncompleteError
  extends BatchDeadlineError
  implements BatchIncompleteWork
{
  override name = "BatchDeadlineIncompleteError";
  readonly vectors: (Float32Array | undefined)[];
  readonly missingIndices: number[];
  readonly jobErrors: BatchJobError[];
  readonly failures: BatchItemFailure[];
  constructor(message: string, first: BatchJobError, work: BatchIncompleteWork) {
    super(message, first.jobName, first.state, first.reason, { cause: first });
    this.vectors = work.vectors;
    this.missingIndices = work.missingIndices;
    this.jobErrors = work.jobErrors;
    this.failures = work.failures;
  }
}

/**
 * A resumable upload cannot go on after a failed chunk: the server holds fewer bytes
 * (`receivedBytes`) than the first byte still held in memory (`bufferedFrom`), and the source is
 * a stream that cannot be read again. Nothing more was sent; start the upload anew (an upload
 * from bytes or from a path re-reads the missing bytes instead). `cause` is the chunk's failure.
 */
export class UploadResumeError extends GembedError {
  override name = "UploadResumeError";
  /** The bytes the server said it holds (`x-goog-upload-size-received`). */
  readonly receivedBytes: number;
  /** The offset of the first byte the client still holds. */
  readonly bufferedFrom: number;
  constructor(
    message: string,
    receivedBytes: number,
    bufferedFrom: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.receivedBytes = receivedBytes;
    this.bufferedFrom = bufferedFrom;
  }
}

/**
 * The server answered a redirect that is not followed: to another origin (the API key is sent
 * only to the origin it was meant for, never on to wherever an answer points), or one redirect
 * too many. Not retried: the same call would be redirected again.
 */
export class RedirectError extends GembedError {
  override name = "RedirectError";
  /** The HTTP status of the redirect (301, 302, 303, 307, 308). */
  readonly httpStatus: number;
  /** The origin the call went to, e.g. `https://generativelanguage.googleapis.com`. */
  readonly fromOrigin: string;
  /** The origin the redirect pointed to (its path and query are not kept: they may hold secrets). */
  readonly toOrigin: string;
  constructor(message: string, httpStatus: number, fromOrigin: string, toOrigin: string) {
    super(message);
    this.httpStatus = httpStatus;
    this.fromOrigin = fromOrigin;
    this.toOrigin = toOrigin;
  }
}
