/**
 * `BatchJob`: one Gemini Batch API embedding job (`asyncBatchEmbedContent`), step by step:
 * create it (inline requests or an uploaded JSONL file), wait for it with backoff up to a deadline,
 * read its results (inline responses or the streamed responses file), cancel it.
 *
 * @module
 */

import type {
  BatchState,
  EmbedBatchStats,
  EmbedContentBatch,
  EmbedContentRequest,
  EmbedOutput,
  File,
  ListOperationsResponse,
  Operation,
} from "../api/types.js";
import { TERMINAL_BATCH_STATES } from "../api/types.js";
import type { RequestOptions } from "../client/http.js";
import { abortError, isRetryableError, sleep, withRetry } from "../client/retry.js";
import {
  BatchDeadlineError,
  BatchJobError,
  GembedAbortError,
  InvalidResponseError,
} from "../errors.js";
import {
  type BatchInputLimits,
  type BatchInputMode,
  inlineRequests,
  jsonlInput,
  planBatchJobs,
} from "./input.js";
import {
  type BatchItemResult,
  type BatchKeySpace,
  readInlineResponses,
  readResponsesFile,
} from "./results.js";

/**
 * The parts of `GeminiClient` a batch job uses. `GeminiClient` is one; any object with these
 * methods works.
 */
export interface BatchApiClient {
  asyncBatchEmbedContent(
    model: string,
    batch: Omit<EmbedContentBatch, "model"> & { model?: string },
    options?: RequestOptions,
  ): Promise<Operation>;
  readonly batches: {
    get(name: string, options?: RequestOptions): Promise<Operation>;
    list(
      params?: { pageSize?: number | undefined; pageToken?: string | undefined },
      options?: RequestOptions,
    ): Promise<ListOperationsResponse>;
    cancel(name: string, options?: RequestOptions): Promise<void>;
    delete(name: string, options?: RequestOptions): Promise<void>;
  };
  readonly files: {
    upload(
      source: AsyncIterable<Uint8Array>,
      params?: { displayName?: string; mimeType?: string; size?: number },
      options?: RequestOptions,
    ): Promise<File>;
    download(name: string, options?: RequestOptions): Promise<AsyncIterable<Uint8Array>>;
    delete(name: string, options?: RequestOptions): Promise<void>;
  };
}

/** `batchStats` as numbers. */
export interface BatchStats {
  requestCount: number;
  successfulRequestCount: number;
  failedRequestCount: number;
  pendingRequestCount: number;
}

/** What `onProgress` learns after each poll. */
export interface BatchProgress {
  /** `batches/{id}`. */
  jobName: string;
  /** The job's state, e.g. `BATCH_STATE_RUNNING`. */
  state: BatchState;
  /** The job's counts. */
  batchStats: BatchStats;
  /** Milliseconds since the wait began. */
  elapsedMs: number;
}

/** Options of {@link BatchJob.create}. */
export interface CreateBatchJobOptions {
  /** The model, `gemini-embedding-001` or `models/gemini-embedding-001`. */
  model: string;
  /** The requests of the job, each as `embedContent` takes it. */
  requests: readonly EmbedContentRequest[];
  /**
   * The key of each request, carried by its line or inline metadata.
   * @default the decimal input index: `String(indexOffset + i)`
   */
  keys?: readonly string[] | undefined;
  /**
   * The input index of `requests[0]`, when this job is one part of a larger input.
   * @default 0
   */
  indexOffset?: number | undefined;
  /**
   * How the input travels: `"auto"` sends inline requests when the whole request stays under
   * `limits.inlineBytes`, else uploads a JSONL file.
   * @default "auto"
   */
  mode?: BatchInputMode | "auto" | undefined;
  /** Size limits. @default {@link DEFAULT_BATCH_INPUT_LIMITS} */
  limits?: BatchInputLimits | undefined;
  /** The job's display name. @default `gembed-<ISO time>` */
  displayName?: string | undefined;
  /** Priority (int64; higher runs first; negative allowed). @default 0 (not sent) */
  priority?: number | bigint | string | undefined;
  /** A JSONL input file already uploaded for these requests (resume); skips the upload. */
  fileName?: string | undefined;
  /** Called with the uploaded file's name before the job is created (to store it). */
  onUploaded?: ((fileName: string) => void | Promise<void>) | undefined;
  /** Aborts the upload and the create call. */
  signal?: AbortSignal | undefined;
}

/** Options of {@link BatchJob.wait}. */
export interface WaitBatchJobOptions {
  /** First wait between two polls, in ms. @default 5_000 */
  pollInterval?: number | undefined;
  /** Longest wait between two polls, in ms. @default 60_000 */
  maxPollInterval?: number | undefined;
  /** Each wait is the last one times this factor, up to `maxPollInterval`. @default 1.5 */
  pollBackoff?: number | undefined;
  /**
   * Give up waiting after this many ms (a number) or at this time (a Date), with
   * {@link BatchDeadlineError}. The job is left running.
   * @default no deadline
   */
  deadline?: number | Date | undefined;
  /** Called after each poll with the job's state and counts. */
  onProgress?: ((progress: BatchProgress) => void) | undefined;
  /** Aborts the wait; the remote job is then cancelled (see `cancelOnAbort`). */
  signal?: AbortSignal | undefined;
  /**
   * Polls in a row that may fail with a retryable error (after the client's own retries) before
   * the wait gives up with that error; a long wait outlives a network blip, not an outage.
   * @default 10
   */
  maxPollFailures?: number | undefined;
  /** Cancel the remote job when `signal` aborts. @default true */
  cancelOnAbort?: boolean | undefined;
  /**
   * Throw {@link BatchJobError} when the job ends `FAILED`, `CANCELLED` or `EXPIRED`.
   * @default true
   */
  throwOnFailure?: boolean | undefined;
}

const MAX_INT64 = 9223372036854775807n;
const MIN_INT64 = -9223372036854775808n;

function checkPositive(name: string, value: unknown, minimum = 0): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(`${name} must be a number, got ${typeof value}`);
  }
  if (!(value >= minimum) || value === Number.POSITIVE_INFINITY) {
    throw new RangeError(`${name} must be a finite number >= ${minimum}, got ${value}`);
  }
  return value;
}

/** Checks a priority and gives its int64 wire form. */
export function priorityToWire(priority: unknown): string | undefined {
  if (priority === undefined) return undefined;
  let value: bigint;
  if (typeof priority === "number") {
    if (!Number.isInteger(priority))
      throw new RangeError(`priority must be an integer, got ${priority}`);
    value = BigInt(priority);
  } else if (typeof priority === "bigint") {
    value = priority;
  } else if (typeof priority === "string") {
    if (!/^-?\d+$/.test(priority))
      throw new RangeError(`priority must be an integer, got "${priority}"`);
    value = BigInt(priority);
  } else {
    throw new TypeError(`priority must be a number, bigint or string, got ${typeof priority}`);
  }
  if (value > MAX_INT64 || value < MIN_INT64) throw new RangeError("priority must fit in an int64");
  return value.toString();
}

/** The model in the `models/...` form. */
export function modelPath(model: string): string {
  return model.startsWith("models/") ? model : `models/${model}`;
}

function toCount(value: string | number | undefined): number {
  const count = Number(value ?? 0);
  return Number.isFinite(count) ? count : 0;
}

/** `batchStats` as numbers (absent counts are 0). */
export function parseBatchStats(stats: EmbedBatchStats | undefined): BatchStats {
  return {
    requestCount: toCount(stats?.requestCount),
    successfulRequestCount: toCount(stats?.successfulRequestCount),
    failedRequestCount: toCount(stats?.failedRequestCount),
    pendingRequestCount: toCount(stats?.pendingRequestCount),
  };
}

function deadlineTime(deadline: number | Date | undefined, started: number): number {
  if (deadline === undefined) return Number.POSITIVE_INFINITY;
  if (deadline instanceof Date) {
    if (Number.isNaN(deadline.getTime())) throw new RangeError("deadline is an invalid Date");
    return deadline.getTime();
  }
  return started + (checkPositive("deadline", deadline) as number);
}

const FAILURE_REASON = {
  BATCH_STATE_FAILED: "failed",
  BATCH_STATE_CANCELLED: "cancelled",
  BATCH_STATE_EXPIRED: "expired",
} as const;

/**
 * One Batch API embedding job.
 *
 * @example
 * ```ts
 * const job = await BatchJob.create(client, { model: "gemini-embedding-001", requests });
 * await job.wait({ deadline: 6 * 3600_000, onProgress: (p) => console.log(p.state) });
 * for await (const result of job.results()) console.log(result.index, result.values?.length);
 * ```
 */
export class BatchJob {
  /** The client the job talks through. */
  readonly client: BatchApiClient;
  /** `batches/{id}`. */
  readonly name: string;
  /** The keys the results must cover, when known (jobs created or attached with keys). */
  keySpace: BatchKeySpace | undefined;
  #operation: Operation;

  /** Wraps an operation already fetched; see {@link BatchJob.create} and {@link BatchJob.attach}. */
  constructor(client: BatchApiClient, operation: Operation, keySpace?: BatchKeySpace) {
    if (typeof operation?.name !== "string" || operation.name === "") {
      throw new InvalidResponseError("A batch operation without a name");
    }
    this.client = client;
    this.name = operation.name;
    this.#operation = operation;
    this.keySpace = keySpace;
  }

  /**
   * Creates one job for `options.requests`: inline when the request stays under 20 MB, else
   * through an uploaded JSONL file. More input than one 2 GB file holds is a RangeError (use
   * `encodeWithBatchApi`, which splits it into several jobs).
   */
  static async create(client: BatchApiClient, options: CreateBatchJobOptions): Promise<BatchJob> {
    if (typeof options !== "object" || options === null)
      throw new TypeError("options must be an object");
    if (typeof options.model !== "string" || options.model === "") {
      throw new TypeError("model must be a non-empty string");
    }
    if (!Array.isArray(options.requests)) throw new TypeError("requests must be an array");
    if (options.requests.length === 0) throw new RangeError("requests must not be empty");
    if (
      options.keys !== undefined &&
      (!Array.isArray(options.keys) || options.keys.length !== options.requests.length)
    ) {
      throw new RangeError("keys must be an array with one key per request");
    }
    if (options.keys && new Set(options.keys).size !== options.keys.length) {
      throw new RangeError("keys must be unique");
    }
    const offset = options.indexOffset ?? 0;
    if (typeof offset !== "number" || !Number.isInteger(offset) || offset < 0) {
      throw new RangeError("indexOffset must be an integer >= 0");
    }
    if (options.displayName !== undefined && typeof options.displayName !== "string") {
      throw new TypeError("displayName must be a string");
    }
    const mode = options.mode ?? "auto";
    if (mode !== "auto" && mode !== "inline" && mode !== "file") {
      throw new RangeError(`mode must be "auto", "inline" or "file", got ${String(mode)}`);
    }
    const priority = priorityToWire(options.priority);
    const keys =
      options.keys ??
      (offset === 0 ? undefined : options.requests.map((_, index) => String(offset + index)));
    const plans = options.fileName
      ? [{ start: 0, end: options.requests.length, mode: "file" as const, bytes: 0 }]
      : planBatchJobs(options.requests, {
          limits: options.limits,
          keys,
          mode: mode === "auto" ? undefined : mode,
        });
    const plan = plans[0];
    if (plans.length !== 1 || plan === undefined) {
      throw new RangeError(
        `The input needs ${plans.length} JSONL files; one job takes one file (encodeWithBatchApi splits it into several jobs)`,
      );
    }
    const model = modelPath(options.model);
    const displayName = options.displayName ?? `gembed-${new Date().toISOString()}`;
    const requestOptions: RequestOptions = options.signal ? { signal: options.signal } : {};
    let fileName = options.fileName;
    if (plan.mode === "file" && fileName === undefined) {
      const file = await client.files.upload(
        jsonlInput(options.requests, 0, options.requests.length, keys ? { keys } : {}),
        { displayName: `${displayName}-input`, mimeType: "application/jsonl", size: plan.bytes },
        requestOptions,
      );
      fileName = file.name;
      await options.onUploaded?.(fileName);
    }
    const operation = await client.asyncBatchEmbedContent(
      model,
      {
        model,
        displayName,
        ...(priority !== undefined ? { priority } : {}),
        inputConfig:
          plan.mode === "file"
            ? { fileName: fileName as string }
            : {
                requests: {
                  requests: inlineRequests(options.requests, 0, options.requests.length, keys),
                },
              },
      },
      requestOptions,
    );
    const keySpace: BatchKeySpace = options.keys
      ? { keys: options.keys, start: offset }
      : { start: offset, end: offset + options.requests.length };
    return new BatchJob(client, operation, keySpace);
  }

  /**
   * Attaches to an existing job by name (`batches/x` or `x`), e.g. after a restart.
   * @param keySpace - the keys its results must cover; default: any unique keys, as many as
   *   `batchStats.requestCount`.
   */
  static async attach(
    client: BatchApiClient,
    name: string,
    options: RequestOptions & { keySpace?: BatchKeySpace | undefined } = {},
  ): Promise<BatchJob> {
    if (typeof name !== "string" || name === "")
      throw new TypeError("name must be a non-empty string");
    const { keySpace, ...requestOptions } = options;
    const operation = await client.batches.get(name, requestOptions);
    return new BatchJob(client, operation, keySpace);
  }

  /** The last operation fetched. */
  get operation(): Operation {
    return this.#operation;
  }

  /** The job resource (the operation's `metadata`). */
  get batch(): Partial<EmbedContentBatch> {
    return this.#operation.metadata ?? {};
  }

  /** The job's state at the last fetch. */
  get state(): BatchState {
    const state = this.batch.state;
    if (state) return state;
    return this.#operation.done ? "BATCH_STATE_SUCCEEDED" : "BATCH_STATE_UNSPECIFIED";
  }

  /** The job's counts at the last fetch. */
  get batchStats(): BatchStats {
    return parseBatchStats(this.batch.batchStats);
  }

  /** True once the job is `SUCCEEDED`, `FAILED`, `CANCELLED` or `EXPIRED`. */
  get done(): boolean {
    return TERMINAL_BATCH_STATES.has(this.state);
  }

  /** Where the results are: inline responses or a responses file. */
  get output(): EmbedOutput | undefined {
    if (this.batch.output) return this.batch.output;
    const response = this.#operation.response as (EmbedOutput & { "@type"?: string }) | undefined;
    if (response && (response.responsesFile || response.inlinedResponses)) return response;
    return undefined;
  }

  /** Fetches the job again. */
  async refresh(options: RequestOptions = {}): Promise<this> {
    this.#operation = await this.client.batches.get(this.name, options);
    return this;
  }

  /** Asks the service to cancel the job (billing stops for what has not run). */
  async cancel(options: RequestOptions = {}): Promise<void> {
    await this.client.batches.cancel(this.name, options);
  }

  /** Deletes the job resource (does not cancel it). */
  async delete(options: RequestOptions = {}): Promise<void> {
    await this.client.batches.delete(this.name, options);
  }

  /**
   * Polls until the job ends, waiting longer between polls each time. Throws
   * {@link BatchDeadlineError} at the deadline (the job keeps running), {@link BatchJobError} when
   * the job ends `FAILED`, `CANCELLED` or `EXPIRED`, and `GembedAbortError` when `signal` aborts,
   * after cancelling the remote job.
   */
  async wait(options: WaitBatchJobOptions = {}): Promise<this> {
    if (typeof options !== "object" || options === null)
      throw new TypeError("options must be an object");
    const first = checkPositive("pollInterval", options.pollInterval) ?? 5_000;
    const longest = checkPositive("maxPollInterval", options.maxPollInterval) ?? 60_000;
    const backoff = checkPositive("pollBackoff", options.pollBackoff, 1) ?? 1.5;
    const maxFailures = checkPositive("maxPollFailures", options.maxPollFailures) ?? 10;
    if (options.onProgress !== undefined && typeof options.onProgress !== "function") {
      throw new TypeError("onProgress must be a function");
    }
    const started = Date.now();
    const deadline = deadlineTime(options.deadline, started);
    const signal = options.signal;
    let interval = Math.min(first, longest);
    let polled = false;
    const report = () =>
      options.onProgress?.({
        jobName: this.name,
        state: this.state,
        batchStats: this.batchStats,
        elapsedMs: Date.now() - started,
      });
    const deadlineError = () =>
      new BatchDeadlineError(
        `Batch job ${this.name} is still ${shortState(this.state)} after the deadline; it keeps running (resume or cancel it)`,
        this.name,
        this.state,
        "deadline",
      );
    // The next wait between two polls, growing each time, never past the deadline.
    const nextWait = () => {
      const wait = Math.max(0, Math.min(interval, deadline - Date.now()));
      interval = Math.min(longest, interval * backoff);
      return wait;
    };
    try {
      for (;;) {
        if (signal?.aborted) throw abortError(signal);
        if (polled || !this.done) {
          // A long wait should not die of one network blip: a failed poll is retried (the same
          // classification as every retry) after the usual poll wait, from the last known state,
          // up to maxFailures in a row and until the deadline.
          let pastDeadline = false;
          await withRetry(() => this.refresh(signal ? { signal } : {}), {
            maxRetries: Math.floor(maxFailures),
            shouldRetry: (error) => {
              if (!isRetryableError(error)) return false;
              pastDeadline = deadline <= Date.now();
              return !pastDeadline;
            },
            delay: nextWait,
            maxDelay: Number.POSITIVE_INFINITY,
            signal,
            onRetry: report,
          }).catch((error: unknown) => {
            if (!pastDeadline) throw error;
            report();
            throw deadlineError();
          });
        }
        polled = true;
        report();
        if (this.done) break;
        if (deadline - Date.now() <= 0) throw deadlineError();
        await sleep(nextWait(), signal);
      }
    } catch (error) {
      if (error instanceof GembedAbortError && options.cancelOnAbort !== false) {
        await this.cancel({ timeout: 10_000, maxRetries: 1 }).catch(() => undefined);
      }
      throw error;
    }
    if (options.throwOnFailure !== false) this.throwIfFailed();
    return this;
  }

  /** Throws {@link BatchJobError} when the job ended `FAILED`, `CANCELLED` or `EXPIRED`. */
  throwIfFailed(): void {
    const state = this.state;
    if (state in FAILURE_REASON) {
      const reason = FAILURE_REASON[state as keyof typeof FAILURE_REASON];
      const detail = this.#operation.error?.message ? `: ${this.#operation.error.message}` : "";
      throw new BatchJobError(
        `Batch job ${this.name} ended ${shortState(state)}${detail}`,
        this.name,
        state,
        reason,
      );
    }
  }

  /**
   * The job's results, one per request: from inline responses, or streamed line by line from the
   * responses file (memory stays flat). Throws `BatchResultsError` when a key is missing, repeated
   * or unknown, and {@link BatchJobError} when the job has no output.
   */
  async *results(
    options: RequestOptions & { keySpace?: BatchKeySpace | undefined } = {},
  ): AsyncGenerator<BatchItemResult> {
    const { keySpace: given, ...requestOptions } = options;
    if (!this.done) await this.refresh(requestOptions);
    const output = this.output;
    const keySpace = given ?? this.keySpace ?? { count: this.batchStats.requestCount || undefined };
    if (output?.inlinedResponses) {
      yield* readInlineResponses(
        this.name,
        output.inlinedResponses.inlinedResponses ?? [],
        keySpace,
      );
      return;
    }
    if (output?.responsesFile) {
      const stream = await this.client.files.download(output.responsesFile, requestOptions);
      yield* readResponsesFile(this.name, stream, keySpace);
      return;
    }
    this.throwIfFailed();
    throw new BatchJobError(
      `Batch job ${this.name} is ${shortState(this.state)} and has no output yet`,
      this.name,
      this.state,
      "failed",
    );
  }
}

/**
 * A state as messages show it: `CANCELLED`, not `BATCH_STATE_CANCELLED`, as the CLI prints
 * states everywhere (the error's `state` field keeps the API's name).
 */
function shortState(state: string): string {
  return state.replace(/^BATCH_STATE_/, "");
}
