/**
 * `encodeWithBatchApi`: embeds a whole corpus through the Gemini Batch API (half the price of the
 * synchronous path) in one call, giving the same vectors, in the same order, normalized the same
 * way as the synchronous path; resumable through a state file, never paying twice for one input.
 *
 * @module
 */

import type { DocumentInput, EmbedContentRequest, TaskType } from "../api/types.js";
import {
  BatchDeadlineError,
  BatchDeadlineIncompleteError,
  BatchInputChangedError,
  type BatchItemFailure,
  BatchItemsFailedError,
  BatchJobError,
  BatchJobIncompleteError,
  EmbeddingIncompleteError,
  GembedAbortError,
} from "../errors.js";
import { checkNumber } from "../util/checks.js";
import {
  type BatchApiClient,
  BatchJob,
  type BatchProgress,
  modelPath,
  priorityToWire,
} from "./batch-job.js";
import {
  type BatchInputLimits,
  type BatchInputMode,
  planBatchJobs,
  resolveLimits,
} from "./input.js";
import {
  type BatchRunJobState,
  type BatchRunState,
  type BatchStateStore,
  FileBatchStateStore,
  fingerprintRequests,
} from "./state-store.js";

/** One input: a text, or a document with a title. */
export type BatchDocumentInput = DocumentInput;

/** What a list of inputs holds (as `GeminiEmbeddingFunction.validateInputs` takes it). */
export type BatchInputKind = "documents" | "queries" | "texts";

/**
 * What `encodeWithBatchApi` needs of the embedding function (`GeminiEmbeddingFunction` is one):
 * it builds every request and turns every result, so vectors equal the synchronous path's.
 */
export interface BatchEmbedder {
  /** The model id, e.g. `gemini-embedding-001`. */
  readonly modelName: string;
  /** The client the jobs go through. */
  readonly client: BatchApiClient;
  /** Exactly what the synchronous path sends for one input. */
  buildRequest(input: BatchDocumentInput, taskType: TaskType | undefined): EmbedContentRequest;
  /** Checks, copies and normalizes one vector as the synchronous path does. */
  toVector(values: ArrayLike<number>): Float32Array;
  /**
   * Checks the inputs before any network call (throws `InvalidInputError` naming the bad ones), so
   * an empty text is refused up front instead of failing inside a job that was paid for.
   * Optional: without it, the inputs are not checked.
   */
  validateInputs?(inputs: BatchDocumentInput[], kind: BatchInputKind): void;
  /** The synchronous path, for re-embedding failed items and for the fallback. */
  encode(
    texts: BatchDocumentInput[],
    options: { taskType: TaskType; signal?: AbortSignal },
  ): Promise<Float32Array[]>;
}

/** What `onProgress` of {@link BatchEncodeOptions} learns after each poll. */
export interface BatchEncodeProgress extends BatchProgress {
  /** Which job, from 0, when the input needed several. */
  jobIndex: number;
  /** How many jobs the input needed. */
  jobCount: number;
  /**
   * Inputs the jobs have finished so far (succeeded or failed), over all jobs, as last polled;
   * with `total`, the same fields the synchronous path's `onProgress` gets.
   */
  done: number;
  /** Number of inputs. */
  total: number;
}

/** Options of {@link encodeWithBatchApi}. */
export interface BatchEncodeOptions {
  /** Display name of the job(s); several jobs get `-1of3`, `-2of3`... @default `gembed-<fingerprint>` */
  displayName?: string;
  /** Job priority (int64; higher runs first). @default 0 */
  priority?: number | bigint | string;
  /** First wait between two polls, in ms. @default 5_000 */
  pollInterval?: number;
  /** Longest wait between two polls, in ms. @default 60_000 */
  maxPollInterval?: number;
  /** Growth factor of the wait between polls. @default 1.5 */
  pollBackoff?: number;
  /**
   * Stop waiting after this many ms from the call (or at this Date). Without `fallback` this
   * throws {@link BatchDeadlineError} and leaves the job running (a run with the same state file
   * picks it up again); with `fallback` the job is cancelled and the rest goes the synchronous way.
   * @default no deadline
   */
  deadline?: number | Date;
  /** Called after each poll with the job's state and `batchStats`. */
  onProgress?: (progress: BatchEncodeProgress) => void;
  /** Aborts the work and cancels the remote job(s). */
  signal?: AbortSignal;
  /** A JSON file keeping the job names, so a new process resumes instead of paying again. */
  stateFile?: string;
  /** Where to keep the resume state, instead of `stateFile`. */
  store?: BatchStateStore;
  /**
   * Items that fail inside a job: `"resync"` re-embeds them through the synchronous path;
   * `"return"` keeps them as failures (`encodeWithBatchApi` then throws
   * {@link BatchItemsFailedError}, carrying every successful vector).
   * @default "resync"
   */
  onItemError?: "resync" | "return";
  /**
   * When a job ends `FAILED`, `CANCELLED` or `EXPIRED`, or the deadline passes, embed what is
   * missing through the synchronous path (full price) instead of throwing {@link BatchJobError}.
   * @default false
   */
  fallback?: boolean;
  /** How the input travels: inline, a JSONL file, or chosen by size. @default "auto" */
  inputMode?: BatchInputMode | "auto";
  /** Size limits of inline input, inline output and one input file. @default 20 MB inline, 100 MB inline output, 2 GB per file */
  limits?: BatchInputLimits;
  /**
   * What the inputs are, for `embedder.validateInputs` (queries take plain strings only).
   * @default "texts"
   */
  inputKind?: BatchInputKind;
}

/** What {@link encodeWithBatchApiDetailed} gives. */
export interface BatchEncodeResult {
  /** One vector per input; undefined only where `failures` names the index. */
  vectors: (Float32Array | undefined)[];
  /** Items that failed inside a job (only with `onItemError: "return"`). */
  failures: BatchItemFailure[];
  /** The jobs used, `batches/{id}`. */
  jobNames: string[];
  /** Inputs embedded through the synchronous path (resynced items and fallback). */
  syncCount: number;
}

function checkOptions(options: BatchEncodeOptions): void {
  if (typeof options !== "object" || options === null)
    throw new TypeError("options must be an object");
  if (options.displayName !== undefined && typeof options.displayName !== "string") {
    throw new TypeError("displayName must be a string");
  }
  priorityToWire(options.priority);
  for (const name of ["pollInterval", "maxPollInterval", "pollBackoff"] as const) {
    const value = options[name];
    if (value === undefined) continue;
    checkNumber(value, name);
    if (value < (name === "pollBackoff" ? 1 : 0) || !Number.isFinite(value)) {
      throw new RangeError(`${name} is out of range: ${value}`);
    }
  }
  const deadline = options.deadline;
  if (deadline instanceof Date) {
    // Checked here, not only when the first wait begins: by then the jobs are paid for.
    if (Number.isNaN(deadline.getTime())) throw new RangeError("deadline is an invalid Date");
  } else if (deadline !== undefined) {
    if (typeof deadline !== "number" || Number.isNaN(deadline)) {
      throw new TypeError("deadline must be a number of ms or a Date");
    }
    if (deadline < 0 || !Number.isFinite(deadline)) {
      throw new RangeError(`deadline must be a finite number >= 0, got ${deadline}`);
    }
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== "function") {
    throw new TypeError("onProgress must be a function");
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new TypeError("signal must be an AbortSignal");
  }
  if (
    options.stateFile !== undefined &&
    (typeof options.stateFile !== "string" || options.stateFile === "")
  ) {
    throw new TypeError("stateFile must be a non-empty string");
  }
  if (options.store !== undefined && typeof options.store?.load !== "function") {
    throw new TypeError("store must have load, save and clear methods");
  }
  if (
    options.onItemError !== undefined &&
    options.onItemError !== "resync" &&
    options.onItemError !== "return"
  ) {
    throw new RangeError(
      `onItemError must be "resync" or "return", got ${String(options.onItemError)}`,
    );
  }
  if (options.fallback !== undefined && typeof options.fallback !== "boolean") {
    throw new TypeError("fallback must be a boolean");
  }
  const kind = options.inputKind;
  if (kind !== undefined && kind !== "documents" && kind !== "queries" && kind !== "texts") {
    throw new RangeError(
      `inputKind must be "documents", "queries" or "texts", got ${String(kind)}`,
    );
  }
  const mode = options.inputMode;
  if (mode !== undefined && mode !== "auto" && mode !== "inline" && mode !== "file") {
    throw new RangeError(`inputMode must be "auto", "inline" or "file", got ${String(mode)}`);
  }
  resolveLimits(options.limits);
}

async function embedSync(
  embedder: BatchEmbedder,
  inputs: BatchDocumentInput[],
  taskType: TaskType | undefined,
  signal: AbortSignal | undefined,
): Promise<Float32Array[]> {
  if (inputs.length === 0) return [];
  // TASK_TYPE_UNSPECIFIED is never sent: the same request as buildRequest(input, undefined).
  return embedder.encode(inputs, {
    taskType: taskType ?? "TASK_TYPE_UNSPECIFIED",
    ...(signal ? { signal } : {}),
  });
}

/** Finds a job created just before a crash that kept its name from the state. */
async function findSubmittedJob(
  client: BatchApiClient,
  job: BatchRunJobState,
  signal: AbortSignal | undefined,
): Promise<string | undefined> {
  const since = Date.parse(job.submittedAt ?? "") - 60_000;
  let pageToken: string | undefined;
  for (let page = 0; page < 20; page++) {
    const answer = await client.batches.list(
      { pageSize: 100, ...(pageToken ? { pageToken } : {}) },
      signal ? { signal } : {},
    );
    for (const operation of answer.operations ?? []) {
      const batch = operation.metadata;
      if (batch?.displayName !== job.displayName) continue;
      if (Number(batch.batchStats?.requestCount ?? job.end - job.start) !== job.end - job.start)
        continue;
      if (batch.createTime && Date.parse(batch.createTime) < since) continue;
      return operation.name;
    }
    pageToken = answer.nextPageToken;
    if (!pageToken) break;
  }
  return undefined;
}

/**
 * Embeds `inputs` through the Batch API and reports everything: vectors, failed items, jobs.
 * See {@link encodeWithBatchApi}.
 */
export async function encodeWithBatchApiDetailed(
  embedder: BatchEmbedder,
  inputs: BatchDocumentInput[],
  options: BatchEncodeOptions & { taskType: TaskType | undefined },
): Promise<BatchEncodeResult> {
  checkOptions(options);
  if (!Array.isArray(inputs)) throw new TypeError("inputs must be an array");
  embedder.validateInputs?.(inputs, options.inputKind ?? "texts");
  const { taskType, signal } = options;
  const started = Date.now();
  const deadline =
    options.deadline === undefined
      ? undefined
      : options.deadline instanceof Date
        ? options.deadline
        : new Date(started + options.deadline);
  const result: BatchEncodeResult = {
    vectors: new Array<Float32Array | undefined>(inputs.length).fill(undefined),
    failures: [],
    jobNames: [],
    syncCount: 0,
  };
  if (inputs.length === 0) return result;

  const model = modelPath(embedder.modelName);
  const requests = inputs.map((input) => embedder.buildRequest(input, taskType));
  const fingerprint = fingerprintRequests(model, requests);
  const store =
    options.store ?? (options.stateFile ? new FileBatchStateStore(options.stateFile) : undefined);
  const where = options.stateFile ? `the state file ${options.stateFile}` : "the state store";

  let state = await store?.load();
  if (state && state.fingerprint !== fingerprint) {
    const names = state.jobs.flatMap((job) => (job.name ? [job.name] : []));
    throw new BatchInputChangedError(
      `The input changed since ${where} was written for job(s) ${names.join(", ") || "(not yet created)"} (${state.count} inputs, ${state.model}; now ${inputs.length} inputs, ${model}): the texts, model or config differ. Nothing was submitted; delete the state, and cancel the old job if unwanted, to start anew.`,
      names,
    );
  }
  if (state === undefined) {
    const plans = planBatchJobs(requests, {
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.inputMode && options.inputMode !== "auto" ? { mode: options.inputMode } : {}),
    });
    const base = options.displayName ?? `gembed-${fingerprint.slice(0, 12)}`;
    state = {
      version: 1,
      fingerprint,
      model,
      count: inputs.length,
      createdAt: new Date(started).toISOString(),
      jobs: plans.map((plan, index) => ({
        start: plan.start,
        end: plan.end,
        mode: plan.mode,
        displayName: plans.length === 1 ? base : `${base}-${index + 1}of${plans.length}`,
      })),
    };
  }
  const runState: BatchRunState = state;
  const save = async () => {
    await store?.save(runState);
  };

  // 1. Create (or find again) every job, so that they all run on the server at once.
  const jobs: BatchJob[] = [];
  const priority = options.priority;
  try {
    for (const entry of runState.jobs) {
      const keySpace = { start: entry.start, end: entry.end };
      if (entry.name === undefined && entry.submittedAt !== undefined) {
        // A crash between the create call and saving its answer: look for the job before paying again.
        const found = await findSubmittedJob(embedder.client, entry, signal);
        if (found) entry.name = found;
      }
      if (entry.name !== undefined) {
        jobs.push(
          await BatchJob.attach(embedder.client, entry.name, {
            keySpace,
            ...(signal ? { signal } : {}),
          }),
        );
        continue;
      }
      entry.submittedAt = new Date().toISOString();
      await save();
      const job = await BatchJob.create(embedder.client, {
        model,
        requests: requests.slice(entry.start, entry.end),
        indexOffset: entry.start,
        mode: entry.mode,
        displayName: entry.displayName,
        ...(priority !== undefined ? { priority } : {}),
        ...(entry.fileName ? { fileName: entry.fileName } : {}),
        onUploaded: async (fileName) => {
          entry.fileName = fileName;
          await save();
        },
        ...(options.limits ? { limits: options.limits } : {}),
        ...(signal ? { signal } : {}),
      });
      entry.name = job.name;
      await save();
      jobs.push(job);
    }
  } catch (error) {
    if (error instanceof GembedAbortError) {
      await Promise.all(
        jobs.map((job) => job.cancel({ timeout: 10_000, maxRetries: 1 }).catch(() => undefined)),
      );
      await store?.clear();
    }
    throw error;
  }
  result.jobNames = jobs.map((job) => job.name);

  // 2. Wait for each job and read its results. Every vector is placed as soon as it is read, so
  // whatever stops the run below, the work already done travels with the error.
  const itemFailures: BatchItemFailure[] = [];
  const missing: number[] = [];
  const jobErrors: BatchJobError[] = [];
  const failedEntries: BatchRunJobState[] = [];
  let resultsError: unknown;
  let stoppedBy: { error: unknown } | undefined;
  let keepState = false;
  const finishedPerJob = new Array<number>(jobs.length).fill(0);
  const cancelRunning = (except?: BatchJob) =>
    Promise.all(
      jobs
        .filter((other) => other !== except && !other.done)
        .map((other) => other.cancel({ timeout: 10_000, maxRetries: 1 }).catch(() => undefined)),
    );
  for (let jobIndex = 0; jobIndex < jobs.length; jobIndex++) {
    const job = jobs[jobIndex] as BatchJob;
    const entry = runState.jobs[jobIndex] as BatchRunJobState;
    let jobError: BatchJobError | undefined;
    try {
      await job.wait({
        ...(options.pollInterval !== undefined ? { pollInterval: options.pollInterval } : {}),
        ...(options.maxPollInterval !== undefined
          ? { maxPollInterval: options.maxPollInterval }
          : {}),
        ...(options.pollBackoff !== undefined ? { pollBackoff: options.pollBackoff } : {}),
        ...(deadline ? { deadline } : {}),
        ...(signal ? { signal } : {}),
        ...(options.onProgress
          ? {
              onProgress: (progress) => {
                const stats = progress.batchStats;
                finishedPerJob[jobIndex] = stats.successfulRequestCount + stats.failedRequestCount;
                options.onProgress?.({
                  ...progress,
                  jobIndex,
                  jobCount: jobs.length,
                  done: finishedPerJob.reduce((sum, count) => sum + count, 0),
                  total: inputs.length,
                });
              },
            }
          : {}),
      });
    } catch (error) {
      if (error instanceof GembedAbortError) {
        // job.wait cancelled its own job; cancel the others too.
        await cancelRunning(job);
        await store?.clear();
        throw error;
      }
      if (!(error instanceof BatchJobError)) {
        // The job cannot be reached (an outage, a lost job): stop waiting; the jobs keep running
        // and the state is kept, so a later run picks them up.
        stoppedBy = { error };
        keepState = true;
        break;
      }
      jobError = error;
      if (options.fallback && error instanceof BatchDeadlineError) {
        // Falling back: stop the job so its work is not paid for twice.
        await job.cancel(signal ? { signal } : {}).catch(() => undefined);
        await job.refresh(signal ? { signal } : {}).catch(() => undefined);
      }
    }
    const seen = new Uint8Array(entry.end - entry.start);
    let complete = false;
    if (jobError === undefined || job.output) {
      try {
        for await (const item of job.results({
          keySpace: { start: entry.start, end: entry.end },
          ...(signal ? { signal } : {}),
        })) {
          seen[item.index - entry.start] = 1;
          if (item.values) result.vectors[item.index] = embedder.toVector(item.values);
          else itemFailures.push({ index: item.index, error: item.error });
        }
        complete = true;
      } catch (error) {
        if (error instanceof GembedAbortError) {
          await cancelRunning();
          await store?.clear();
          throw error;
        }
        // A partial output of a job that did not succeed may lack keys: what came is kept. A
        // successful job's results that break off (a gap, a dropped download) are what is missing.
        if (jobError === undefined) {
          resultsError ??= error;
          // The job's output stays readable for 48 h: a later run reads it again.
          if (!options.fallback) keepState = true;
        }
      }
    }
    if (!complete) {
      for (let offset = 0; offset < seen.length; offset++)
        if (seen[offset] === 0) missing.push(entry.start + offset);
    }
    if (jobError !== undefined && !options.fallback) {
      jobErrors.push(jobError);
      // A deadline leaves the job running: keep the state so a later run picks it up.
      if (jobError instanceof BatchDeadlineError) keepState = true;
      else failedEntries.push(entry);
    }
  }

  if (stoppedBy !== undefined || jobErrors.length > 0 || (resultsError && !options.fallback)) {
    if (keepState) {
      // A later run reattaches the running and finished jobs, and creates new ones only for the
      // ranges whose job ended FAILED, CANCELLED or EXPIRED (attaching to those would fail again).
      for (const entry of failedEntries) {
        delete entry.name;
        delete entry.fileName;
        delete entry.submittedAt;
      }
      await save();
    } else {
      await store?.clear();
    }
    throw incompleteError(result.vectors, itemFailures, jobErrors, stoppedBy, resultsError);
  }

  // 3. What the jobs did not give: the synchronous path, as the caller allows.
  const resync = options.onItemError !== "return";
  const toSync = resync ? [...missing, ...itemFailures.map((failure) => failure.index)] : missing;
  if (!resync) result.failures = itemFailures.sort((a, b) => a.index - b.index);
  if (toSync.length > 0) {
    toSync.sort((a, b) => a - b);
    try {
      const vectors = await embedSync(
        embedder,
        toSync.map((index) => inputs[index] as BatchDocumentInput),
        taskType,
        signal,
      );
      toSync.forEach((index, position) => {
        result.vectors[index] = vectors[position];
      });
    } catch (error) {
      // The jobs' vectors are paid for: keep them, with whatever the synchronous path finished.
      // The state stays, so a later run reads the jobs again and only re-embeds what is missing.
      const partial = error instanceof EmbeddingIncompleteError ? error.vectors : [];
      toSync.forEach((index, position) => {
        const vector = partial[position];
        if (vector !== undefined) result.vectors[index] = vector;
      });
      const cause = error instanceof EmbeddingIncompleteError ? error.cause : error;
      const stillMissing = missingIndices(result.vectors);
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new EmbeddingIncompleteError(
        `Embedded ${inputs.length - stillMissing.length} of ${inputs.length} texts through batch job(s) ${result.jobNames.join(", ")} and the synchronous path; ${stillMissing.length} missing. Stopped by: ${reason}`,
        result.vectors,
        stillMissing,
        cause,
      );
    }
    result.syncCount = toSync.length;
  }
  await store?.clear();
  return result;
}

function missingIndices(vectors: readonly (Float32Array | undefined)[]): number[] {
  const missing: number[] = [];
  for (let index = 0; index < vectors.length; index++)
    if (vectors[index] === undefined) missing.push(index);
  return missing;
}

/** The error of a run stopped by its jobs, carrying every vector already computed. */
function incompleteError(
  vectors: (Float32Array | undefined)[],
  itemFailures: BatchItemFailure[],
  jobErrors: BatchJobError[],
  stoppedBy: { error: unknown } | undefined,
  resultsError: unknown,
): Error {
  const missing = missingIndices(vectors);
  const kept = `${vectors.length - missing.length} of ${vectors.length} vectors kept, ${missing.length} missing (error.vectors, error.missingIndices)`;
  const failures = itemFailures.sort((a, b) => a.index - b.index);
  const first = jobErrors[0];
  if (stoppedBy === undefined && first !== undefined) {
    const others =
      jobErrors.length > 1
        ? `; ${jobErrors.length - 1} other job(s) did not finish either: ${jobErrors
            .slice(1)
            .map((error) => `${error.jobName} (${error.state})`)
            .join(", ")}`
        : "";
    const message = `${first.message}${others}; ${kept}`;
    const work = { vectors, missingIndices: missing, jobErrors, failures };
    return first instanceof BatchDeadlineError
      ? new BatchDeadlineIncompleteError(message, first, work)
      : new BatchJobIncompleteError(message, first, work);
  }
  const cause = stoppedBy ? stoppedBy.error : resultsError;
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new EmbeddingIncompleteError(
    `Batch run stopped: ${reason}; ${kept}`,
    vectors,
    missing,
    cause,
  );
}

/**
 * Embeds `inputs` through the Gemini Batch API (`asyncBatchEmbedContent`, half the price of the
 * synchronous path): the same vectors, in the same order, normalized the same way as the
 * synchronous path, since every request is built by `embedder.buildRequest` and every result goes
 * through `embedder.toVector`.
 *
 * Input under 20 MB goes inline, more through uploaded JSONL files (several jobs past 2 GB). With
 * `stateFile` (or `store`), a process that dies while waiting picks up the same job(s) when run
 * again with the same input; a changed input throws {@link BatchInputChangedError}.
 *
 * Nothing already done is lost: every error thrown once jobs exist (but an abort) carries
 * `vectors` (what was computed) and `missingIndices`.
 *
 * @throws {@link BatchJobIncompleteError} (a {@link BatchJobError}) when a job ends `FAILED`,
 *   `CANCELLED` or `EXPIRED` (without `fallback`); {@link BatchDeadlineIncompleteError} (a
 *   {@link BatchDeadlineError}) at the deadline; {@link BatchItemsFailedError} when items failed
 *   and `onItemError` is `"return"`; `EmbeddingIncompleteError` when a job cannot be reached, its
 *   results break off or the synchronous step fails; `InvalidInputError` for bad inputs, before
 *   any call; `GembedAbortError` on abort (jobs cancelled).
 *
 * @example
 * ```ts
 * const vectors = await encodeWithBatchApi(ef, texts, {
 *   taskType: "RETRIEVAL_DOCUMENT", stateFile: "embed.state.json", deadline: 12 * 3600_000,
 * });
 * ```
 */
export async function encodeWithBatchApi(
  embedder: BatchEmbedder,
  inputs: BatchDocumentInput[],
  options: BatchEncodeOptions & { taskType: TaskType | undefined },
): Promise<Float32Array[]> {
  const result = await encodeWithBatchApiDetailed(embedder, inputs, options);
  if (result.failures.length > 0) {
    throw new BatchItemsFailedError(
      `${result.failures.length} of ${inputs.length} item(s) failed inside batch job(s) ${result.jobNames.join(", ")}: #${result.failures
        .slice(0, 10)
        .map((failure) => `${failure.index} (${failure.error.message})`)
        .join(", #")}`,
      result.vectors,
      result.failures,
    );
  }
  return result.vectors as Float32Array[];
}
