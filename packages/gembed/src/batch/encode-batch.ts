/**
 * `encodeWithBatchApi`: embeds a whole corpus through the Gemini Batch API (half the price of the
 * synchronous path) in one call, giving the same vectors, in the same order, normalized the same
 * way as the synchronous path; resumable through a state file, never paying twice for one input.
 *
 * @module
 */

import type { DocumentInput, EmbedContentRequest, InputKind, TaskType } from "../api/types.js";
import type { GeminiEmbeddingFunction } from "../embedding/gemini-embedding-function.js";
import { requestsOf } from "../embedding/requests.js";
import {
  BatchDeadlineError,
  BatchInputChangedError,
  type BatchItemFailure,
  BatchItemsFailedError,
  BatchJobError,
  EmbeddingAbortedError,
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
  type BatchDecision,
  type CollectOutcome,
  decide,
  type JobOutcome,
  missingIndices,
} from "./decide.js";
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

/**
 * An embedder of one's own for `encodeWithBatchApi` (a `GeminiEmbeddingFunction` needs none: pass
 * it as it is): it builds every request and turns every result, so vectors equal the synchronous
 * path's.
 */
export interface BatchApiEmbedder {
  /** The model id, e.g. `gemini-embedding-001`. */
  readonly modelName: string;
  /** The client the jobs go through. */
  readonly client: BatchApiClient;
  /** Exactly what the synchronous path sends for one input. */
  buildRequest(input: DocumentInput, taskType: TaskType | undefined): EmbedContentRequest;
  /** Checks, copies and normalizes one vector as the synchronous path does. */
  toVector(values: ArrayLike<number>): Float32Array;
  /**
   * Checks the inputs before any network call (throws `InvalidInputError` naming the bad ones), so
   * an empty text is refused up front instead of failing inside a job that was paid for.
   * Optional: without it, the inputs are not checked.
   */
  validateInputs?(inputs: DocumentInput[], kind: InputKind): void;
  /** The synchronous path, for re-embedding failed items and for the fallback. */
  encode(
    texts: DocumentInput[],
    options: { taskType: TaskType; signal?: AbortSignal | undefined },
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
  displayName?: string | undefined;
  /** Job priority (int64; higher runs first). @default 0 */
  priority?: number | bigint | string | undefined;
  /** First wait between two polls, in ms. @default 5_000 */
  pollInterval?: number | undefined;
  /** Longest wait between two polls, in ms. @default 60_000 */
  maxPollInterval?: number | undefined;
  /** Growth factor of the wait between polls. @default 1.5 */
  pollBackoff?: number | undefined;
  /**
   * Stop waiting after this many ms from the call (or at this Date). Without `fallback` this
   * throws {@link BatchDeadlineError} and leaves the job running (a run with the same state file
   * picks it up again); with `fallback` the job is cancelled and the rest goes the synchronous way.
   * @default no deadline
   */
  deadline?: number | Date | undefined;
  /** Called after each poll with the job's state and `batchStats`. */
  onProgress?: ((progress: BatchEncodeProgress) => void) | undefined;
  /**
   * Stops the work. The remote job(s) keep running and the state keeps them (a run with the same
   * state collects them at no new cost): the error is an `EmbeddingAbortedError` that names them
   * (`jobNames`) and carries the vectors already read. Cancelling is a separate choice:
   * `cancelOnAbort`, or `gembed batch cancel <job>`.
   */
  signal?: AbortSignal | undefined;
  /**
   * Cancel the remote job(s), and remove the state, when `signal` aborts, instead of leaving them
   * running.
   * @default false
   */
  cancelOnAbort?: boolean | undefined;
  /** A JSON file keeping the job names, so a new process resumes instead of paying again. */
  stateFile?: string | undefined;
  /** Where to keep the resume state, instead of `stateFile`. */
  store?: BatchStateStore | undefined;
  /**
   * Items that fail inside a job: `"resync"` re-embeds them through the synchronous path;
   * `"return"` keeps them as failures (`encodeWithBatchApi` then throws
   * {@link BatchItemsFailedError}, carrying every successful vector).
   * @default "resync"
   */
  onItemError?: "resync" | "return" | undefined;
  /**
   * When a job ends `FAILED`, `CANCELLED` or `EXPIRED`, or the deadline passes, embed what is
   * missing through the synchronous path (full price) instead of throwing {@link BatchJobError}.
   * @default false
   */
  fallback?: boolean | undefined;
  /** How the input travels: inline, a JSONL file, or chosen by size. @default "auto" */
  inputMode?: BatchInputMode | "auto" | undefined;
  /** Size limits of inline input, inline output and one input file. @default 20 MB inline, 100 MB inline output, 2 GB per file */
  limits?: BatchInputLimits | undefined;
  /**
   * What the inputs are, for `embedder.validateInputs` (queries take plain strings only).
   * @default "texts"
   */
  inputKind?: InputKind | undefined;
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
  if (options.cancelOnAbort !== undefined && typeof options.cancelOnAbort !== "boolean") {
    throw new TypeError("cancelOnAbort must be a boolean");
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
  embedder: BatchApiEmbedder,
  inputs: DocumentInput[],
  taskType: TaskType | undefined,
  signal: AbortSignal | undefined,
): Promise<Float32Array[]> {
  if (inputs.length === 0) return [];
  // TASK_TYPE_UNSPECIFIED is never sent: the same request as buildRequest(input, undefined).
  return embedder.encode(inputs, {
    taskType: taskType ?? "TASK_TYPE_UNSPECIFIED",
    signal,
  });
}

/**
 * Finds a job created just before a crash that kept its name from the state: the newest pages of
 * the job list, by display name, created at most a minute before the state says it was submitted
 * (and, when `requestCount` is given, with that many requests).
 */
export async function findSubmittedJob(
  client: BatchApiClient,
  job: {
    displayName?: string | undefined;
    submittedAt?: string | undefined;
    requestCount?: number;
  },
  signal: AbortSignal | undefined,
): Promise<string | undefined> {
  const since = Date.parse(job.submittedAt ?? "") - 60_000;
  let pageToken: string | undefined;
  for (let page = 0; page < 20; page++) {
    const answer = await client.batches.list(
      { pageSize: 100, pageToken },
      signal ? { signal } : {},
    );
    for (const operation of answer.operations ?? []) {
      const batch = operation.metadata;
      if (batch === undefined || batch.displayName !== job.displayName) continue;
      if (
        job.requestCount !== undefined &&
        Number(batch.batchStats?.requestCount ?? job.requestCount) !== job.requestCount
      )
        continue;
      if (batch.createTime && Date.parse(batch.createTime) < since) continue;
      return operation.name;
    }
    pageToken = answer.nextPageToken;
    if (!pageToken) break;
  }
  return undefined;
}

/** What {@link submitJobs} and {@link collectJobs} share about one run. */
interface RunContext {
  embedder: BatchApiEmbedder;
  inputs: DocumentInput[];
  options: BatchEncodeOptions & { taskType: TaskType | undefined };
  model: string;
  requests: EmbedContentRequest[];
  state: BatchRunState;
  store: BatchStateStore | undefined;
  deadline: Date | undefined;
  save(): Promise<void>;
}

/**
 * Creates (or finds again) every job of the run, so that they all run on the server at once. On
 * abort the jobs created stay running and the state keeps them (with `cancelOnAbort`: they are
 * cancelled and the state removed); the error is an {@link EmbeddingAbortedError} naming them.
 */
async function submitJobs(run: RunContext): Promise<BatchJob[]> {
  const { embedder, options, model, requests } = run;
  const { signal, priority } = options;
  const jobs: BatchJob[] = [];
  try {
    for (const entry of run.state.jobs) {
      const keySpace = { start: entry.start, end: entry.end };
      if (entry.name === undefined && entry.submittedAt !== undefined) {
        // A crash between the create call and saving its answer: look for the job before paying again.
        const found = await findSubmittedJob(
          embedder.client,
          { ...entry, requestCount: entry.end - entry.start },
          signal,
        );
        if (found) entry.name = found;
      }
      if (entry.name !== undefined) {
        jobs.push(
          await BatchJob.attach(embedder.client, entry.name, {
            keySpace,
            signal,
          }),
        );
        continue;
      }
      entry.submittedAt = new Date().toISOString();
      await run.save();
      const job = await BatchJob.create(embedder.client, {
        model,
        requests: requests.slice(entry.start, entry.end),
        indexOffset: entry.start,
        mode: entry.mode,
        displayName: entry.displayName,
        priority,
        // An empty name is no file: the input is uploaded again.
        fileName: entry.fileName || undefined,
        onUploaded: async (fileName) => {
          entry.fileName = fileName;
          await run.save();
        },
        limits: options.limits,
        signal,
      });
      entry.name = job.name;
      await run.save();
      jobs.push(job);
    }
  } catch (error) {
    if (error instanceof GembedAbortError) {
      const names = jobs.map((job) => job.name);
      const vectors = new Array<Float32Array | undefined>(run.inputs.length).fill(undefined);
      const all = vectors.map((_, index) => index);
      if (options.cancelOnAbort === true) {
        await Promise.all(
          jobs.map((job) => job.cancel({ timeout: 10_000, maxRetries: 1 }).catch(() => undefined)),
        );
        await run.store?.clear();
        throw new EmbeddingAbortedError(
          `Aborted by the caller while creating batch jobs; ${names.length} created and cancelled.`,
          vectors,
          all,
          error,
        );
      }
      // Detached: a job whose create call went out is found again by the next run (submittedAt).
      await run.save();
      throw new EmbeddingAbortedError(
        `Aborted by the caller while creating batch jobs; ${names.length > 0 ? `job(s) ${names.join(", ")} keep running (not cancelled) and ` : ""}a run with the same state picks the run up.`,
        vectors,
        all,
        error,
        names,
      );
    }
    throw error;
  }
  return jobs;
}

/**
 * Waits for each job and reads its results. Every vector is placed as soon as it is read, so
 * whatever stops the wait, the work already done is in the outcome; nothing is cancelled or
 * thrown here but the fallback's cancel of a job past its deadline (its partial output is read
 * next). What to keep and throw is {@link decide}'s.
 */
async function collectJobs(run: RunContext, jobs: BatchJob[]): Promise<CollectOutcome> {
  const { embedder, options, deadline } = run;
  const { signal } = options;
  const outcome: CollectOutcome = {
    vectors: new Array<Float32Array | undefined>(run.inputs.length).fill(undefined),
    itemFailures: [],
    jobs: [],
    jobNames: jobs.map((job) => job.name),
  };
  const finishedPerJob = new Array<number>(jobs.length).fill(0);
  for (let jobIndex = 0; jobIndex < jobs.length; jobIndex++) {
    const job = jobs[jobIndex] as BatchJob;
    const entry = run.state.jobs[jobIndex] as BatchRunJobState;
    let jobError: BatchJobError | undefined;
    try {
      await job.wait({
        pollInterval: options.pollInterval,
        maxPollInterval: options.maxPollInterval,
        pollBackoff: options.pollBackoff,
        deadline,
        signal,
        // Whether an abort cancels the jobs is decide's call, for all of them at once.
        cancelOnAbort: false,
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
                  total: run.inputs.length,
                });
              },
            }
          : {}),
      });
    } catch (error) {
      if (error instanceof GembedAbortError) {
        outcome.stoppedBy = { error, aborted: true };
        return outcome;
      }
      if (!(error instanceof BatchJobError)) {
        // The job cannot be reached (an outage, a lost job): stop waiting.
        outcome.stoppedBy = { error, aborted: false };
        return outcome;
      }
      jobError = error;
      if (options.fallback && error instanceof BatchDeadlineError) {
        // Falling back: stop the job so its work is not paid for twice.
        await job.cancel(signal ? { signal } : {}).catch(() => undefined);
        await job.refresh(signal ? { signal } : {}).catch(() => undefined);
      }
    }
    const seen = new Uint8Array(entry.end - entry.start);
    const result: JobOutcome = {
      jobIndex,
      jobName: job.name,
      jobError,
      complete: false,
      missing: [],
    };
    if (jobError === undefined || job.output) {
      try {
        for await (const item of job.results({
          keySpace: { start: entry.start, end: entry.end },
          signal,
        })) {
          seen[item.index - entry.start] = 1;
          if (item.values) outcome.vectors[item.index] = embedder.toVector(item.values);
          else outcome.itemFailures.push({ index: item.index, error: item.error });
        }
        result.complete = true;
      } catch (error) {
        if (error instanceof GembedAbortError) {
          outcome.stoppedBy = { error, aborted: true };
          return outcome;
        }
        // A partial output of a job that did not succeed may lack keys: what came is kept. A
        // successful job's results that break off (a gap, a dropped download) are what is missing.
        if (jobError === undefined) result.resultsError = error;
      }
    }
    if (!result.complete) {
      for (let offset = 0; offset < seen.length; offset++)
        if (seen[offset] === 0) result.missing.push(entry.start + offset);
    }
    outcome.jobs.push(result);
  }
  return outcome;
}

/**
 * The stored state of this input, or a new plan of jobs when there is none; a state written for
 * another input throws {@link BatchInputChangedError} (nothing submitted).
 */
async function openRunState(
  store: BatchStateStore | undefined,
  where: string,
  plan: { model: string; requests: EmbedContentRequest[]; fingerprint: string; started: number },
  options: BatchEncodeOptions,
): Promise<BatchRunState> {
  const { model, requests, fingerprint } = plan;
  const state = await store?.load();
  if (state && state.fingerprint !== fingerprint) {
    const names = state.jobs.flatMap((job) => (job.name ? [job.name] : []));
    throw new BatchInputChangedError(
      `The input changed since ${where} was written for job(s) ${names.join(", ") || "(not yet created)"} (${state.count} inputs, ${state.model}; now ${requests.length} inputs, ${model}): the texts, model or config differ. Nothing was submitted; delete the state, and cancel the old job if unwanted, to start anew.`,
      names,
    );
  }
  if (state !== undefined) return state;
  const plans = planBatchJobs(requests, {
    limits: options.limits,
    mode: options.inputMode === "auto" ? undefined : options.inputMode,
  });
  const base = options.displayName ?? `gembed-${fingerprint.slice(0, 12)}`;
  return {
    version: 1,
    fingerprint,
    model,
    count: requests.length,
    createdAt: new Date(plan.started).toISOString(),
    jobs: plans.map((job, index) => ({
      start: job.start,
      end: job.end,
      mode: job.mode,
      displayName: plans.length === 1 ? base : `${base}-${index + 1}of${plans.length}`,
    })),
  };
}

/** Carries out a decision to stop: cancels, keeps or clears the state as decided, then throws. */
async function stopAsDecided(
  run: RunContext,
  jobs: BatchJob[],
  decision: Extract<BatchDecision, { kind: "throw" }>,
): Promise<never> {
  if (decision.cancelRunning) {
    await Promise.all(
      jobs
        .filter((job) => !job.done)
        .map((job) => job.cancel({ timeout: 10_000, maxRetries: 1 }).catch(() => undefined)),
    );
  }
  if (decision.state === "keep") {
    // A later run reattaches the running and finished jobs, and creates new ones only for the
    // ranges whose job ended FAILED, CANCELLED or EXPIRED (attaching to those would fail again).
    for (const jobIndex of decision.resetJobs) {
      const entry = run.state.jobs[jobIndex] as BatchRunJobState;
      delete entry.name;
      delete entry.fileName;
      delete entry.submittedAt;
    }
    await run.save();
  } else {
    await run.store?.clear();
  }
  throw decision.error;
}

/**
 * Embeds through the synchronous path the inputs the jobs did not give (`indices`), into
 * `result`. On failure the jobs' vectors are kept, with whatever the synchronous path finished,
 * and the state stays, so a later run reads the jobs again and only re-embeds what is missing.
 */
async function embedTheRest(
  run: RunContext,
  result: BatchEncodeResult,
  indices: number[],
): Promise<void> {
  const { inputs } = run;
  try {
    const vectors = await embedSync(
      run.embedder,
      indices.map((index) => inputs[index] as DocumentInput),
      run.options.taskType,
      run.options.signal,
    );
    indices.forEach((index, position) => {
      result.vectors[index] = vectors[position];
    });
  } catch (error) {
    const partial = rescued(error);
    indices.forEach((index, position) => {
      const vector = partial[position];
      if (vector !== undefined) result.vectors[index] = vector;
    });
    const cause =
      error instanceof EmbeddingIncompleteError || error instanceof EmbeddingAbortedError
        ? error.cause
        : error;
    const stillMissing = missingIndices(result.vectors);
    const reason = cause instanceof Error ? cause.message : String(cause);
    const message = `Embedded ${inputs.length - stillMissing.length} of ${inputs.length} texts through batch job(s) ${result.jobNames.join(", ")} and the synchronous path; ${stillMissing.length} missing. Stopped by: ${reason}`;
    throw error instanceof GembedAbortError
      ? new EmbeddingAbortedError(message, result.vectors, stillMissing, cause)
      : new EmbeddingIncompleteError(message, result.vectors, stillMissing, cause);
  }
  result.syncCount = indices.length;
}

/**
 * Embeds `inputs` through the Batch API and reports everything: vectors, failed items, jobs.
 * See {@link encodeWithBatchApi}. Three steps: {@link submitJobs}, {@link collectJobs} (an
 * outcome) and the pure {@link decide} (what to keep, what to throw, what to embed synchronously).
 */
export async function encodeWithBatchApiDetailed(
  embeddingFunction: GeminiEmbeddingFunction | BatchApiEmbedder,
  inputs: DocumentInput[],
  options: BatchEncodeOptions & { taskType: TaskType | undefined },
): Promise<BatchEncodeResult> {
  checkOptions(options);
  const embedder = batchApiEmbedder(embeddingFunction);
  if (!Array.isArray(inputs)) throw new TypeError("inputs must be an array");
  embedder.validateInputs?.(inputs, options.inputKind ?? "texts");
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
  const requests = inputs.map((input) => embedder.buildRequest(input, options.taskType));
  const fingerprint = fingerprintRequests(model, requests);
  const store =
    options.store ?? (options.stateFile ? new FileBatchStateStore(options.stateFile) : undefined);
  const where = options.stateFile ? `the state file ${options.stateFile}` : "the state store";

  // One run at a time per state: two would each create jobs and pay twice.
  const lock = await store?.lock?.();
  try {
    const state = await openRunState(
      store,
      where,
      { model, requests, fingerprint, started },
      options,
    );
    const run: RunContext = {
      embedder,
      inputs,
      options,
      model,
      requests,
      state,
      store,
      deadline,
      save: async () => {
        await store?.save(state);
      },
    };
    const jobs = await submitJobs(run);
    result.jobNames = jobs.map((job) => job.name);
    const outcome = await collectJobs(run, jobs);
    result.vectors = outcome.vectors;
    const decision = decide(outcome, {
      fallback: options.fallback === true,
      onItemError: options.onItemError ?? "resync",
      cancelOnAbort: options.cancelOnAbort === true,
    });
    if (decision.kind === "throw") return await stopAsDecided(run, jobs, decision);
    // What the jobs did not give: the synchronous path, as the caller allows.
    result.failures = decision.failures;
    if (decision.indices.length > 0) await embedTheRest(run, result, decision.indices);
    await store?.clear();
    return result;
  } finally {
    await lock?.release();
  }
}

/**
 * The embedder of a `GeminiEmbeddingFunction`: its own requests and vectors (`requests.ts`, the
 * ones its synchronous path uses), its input checks and its synchronous path.
 */
function batchApiEmbedder(embedder: GeminiEmbeddingFunction | BatchApiEmbedder): BatchApiEmbedder {
  const requests = requestsOf(embedder);
  if (requests !== undefined) {
    const embeddingFunction = embedder as GeminiEmbeddingFunction;
    return {
      modelName: embeddingFunction.modelName,
      client: embeddingFunction.client,
      buildRequest: (input, taskType) => requests.buildRequest(input, taskType),
      toVector: (values) => requests.toVector(values),
      validateInputs: (inputs, kind) => embeddingFunction.validateInputs(inputs, kind),
      encode: (texts, options) => embeddingFunction.encode(texts, options),
    };
  }
  const own = embedder as Partial<BatchApiEmbedder> | null;
  if (
    own === null ||
    typeof own !== "object" ||
    typeof own.buildRequest !== "function" ||
    typeof own.toVector !== "function" ||
    typeof own.encode !== "function"
  ) {
    throw new TypeError(
      "encodeWithBatchApi takes a GeminiEmbeddingFunction, or an embedder with buildRequest, toVector and encode.",
    );
  }
  return embedder as BatchApiEmbedder;
}

/** The vectors an error of the synchronous path carries (none for another error). */
function rescued(error: unknown): (Float32Array | undefined)[] {
  return error instanceof EmbeddingIncompleteError || error instanceof EmbeddingAbortedError
    ? error.vectors
    : [];
}

/**
 * Embeds `inputs` through the Gemini Batch API (`asyncBatchEmbedContent`, half the price of the
 * synchronous path): the same vectors, in the same order, normalized the same way as the
 * synchronous path, since a `GeminiEmbeddingFunction` builds every request and turns every result
 * with the same code (`embedding/requests.ts`) as its synchronous path.
 *
 * Input under 20 MB goes inline, more through uploaded JSONL files (several jobs past 2 GB). With
 * `stateFile` (or `store`), a process that dies while waiting picks up the same job(s) when run
 * again with the same input; a changed input throws {@link BatchInputChangedError}.
 *
 * Nothing already done is lost: every error thrown once jobs exist carries `vectors` (what was
 * computed) and `missingIndices`; an abort leaves the jobs running for a later run to collect.
 *
 * @throws {@link BatchJobIncompleteError} (a {@link BatchJobError}) when a job ends `FAILED`,
 *   `CANCELLED` or `EXPIRED` (without `fallback`); {@link BatchDeadlineIncompleteError} (a
 *   {@link BatchDeadlineError}) at the deadline; {@link BatchItemsFailedError} when items failed
 *   and `onItemError` is `"return"`; `EmbeddingIncompleteError` when a job cannot be reached, its
 *   results break off or the synchronous step fails; `InvalidInputError` for bad inputs, before
 *   any call; `EmbeddingAbortedError` (a `GembedAbortError`) on abort: the jobs keep running,
 *   the state keeps them (with `cancelOnAbort`, they are cancelled).
 *
 * @example
 * ```ts
 * const vectors = await encodeWithBatchApi(ef, texts, {
 *   taskType: "RETRIEVAL_DOCUMENT", stateFile: "embed.state.json", deadline: 12 * 3600_000,
 * });
 * ```
 */
export async function encodeWithBatchApi(
  embedder: GeminiEmbeddingFunction | BatchApiEmbedder,
  inputs: DocumentInput[],
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
