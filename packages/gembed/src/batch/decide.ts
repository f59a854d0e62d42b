/**
 * The pure part of a Batch API run: given what collecting the jobs gave (an outcome), decide what
 * to keep (the state file, the jobs) and what to throw, or what to embed through the synchronous
 * path. No I/O here, so every rule is unit-tested without a server (`decide.test.ts`).
 *
 * @module
 */

import {
  BatchDeadlineError,
  BatchDeadlineIncompleteError,
  type BatchItemFailure,
  type BatchJobError,
  BatchJobIncompleteError,
  EmbeddingAbortedError,
  EmbeddingIncompleteError,
} from "../errors.js";

/** What waiting on one job and reading its results gave. */
export interface JobOutcome {
  /** The job's position in the run (and in the state's `jobs`). */
  jobIndex: number;
  /** `batches/{id}`. */
  jobName: string;
  /** The job ended `FAILED`, `CANCELLED` or `EXPIRED`, or its deadline passed. */
  jobError?: BatchJobError | undefined;
  /** The job's results were read to the end. */
  complete: boolean;
  /** Reading the results of a job that succeeded broke off (a gap, a dropped download). */
  resultsError?: unknown;
  /** Input indices of this job whose results were not read. */
  missing: number[];
}

/** What collecting the jobs gave. */
export interface CollectOutcome {
  /** One slot per input: every vector read so far. */
  vectors: (Float32Array | undefined)[];
  /** Items that failed inside a job. */
  itemFailures: BatchItemFailure[];
  /** The jobs waited on, in order (fewer than all when the wait stopped). */
  jobs: JobOutcome[];
  /** Every job of the run, `batches/{id}`, in order. */
  jobNames: string[];
  /**
   * The wait stopped before every job was read: the caller aborted (`aborted`), or a job could
   * not be reached (an outage, a lost job).
   */
  stoppedBy?: { error: unknown; aborted: boolean } | undefined;
}

/** The caller's choices that bear on the decision. */
export interface DecideOptions {
  /** Embed what the jobs did not give through the synchronous path instead of throwing. */
  fallback: boolean;
  /** Failed items: re-embedded (`"resync"`) or returned as failures (`"return"`). */
  onItemError: "resync" | "return";
  /** On abort, cancel the jobs instead of leaving them running (detaching). */
  cancelOnAbort: boolean;
}

/** What the run does next. */
export type BatchDecision =
  | {
      kind: "throw";
      error: Error;
      /** `"keep"`: save the state (a later run picks the jobs up); `"clear"`: remove it. */
      state: "keep" | "clear";
      /** Jobs (by index) whose entries are reset in the kept state: they ended for good. */
      resetJobs: number[];
      /** Cancel the jobs still running before throwing. */
      cancelRunning: boolean;
    }
  | {
      kind: "sync";
      /** Inputs to embed through the synchronous path (sorted; may be empty). */
      indices: number[];
      /** Failures returned to the caller (with `onItemError: "return"`), sorted by index. */
      failures: BatchItemFailure[];
    };

/** Input indices without a vector. */
export function missingIndices(vectors: readonly (Float32Array | undefined)[]): number[] {
  const missing: number[] = [];
  for (let index = 0; index < vectors.length; index++)
    if (vectors[index] === undefined) missing.push(index);
  return missing;
}

/**
 * Decides, from what the jobs gave, what to keep and what to throw:
 *
 * - an abort detaches (state kept, jobs running, {@link EmbeddingAbortedError} naming them), or
 *   with `cancelOnAbort` cancels the jobs and clears the state;
 * - a job that cannot be reached keeps the state (a later run picks the jobs up);
 * - without `fallback`, a job that ended `FAILED`/`CANCELLED`/`EXPIRED` throws
 *   {@link BatchJobIncompleteError} (its entry reset, so a rerun creates a new job for that range
 *   only), a deadline throws {@link BatchDeadlineIncompleteError} and keeps the state, and results
 *   that broke off keep the state (the output stays readable for 48 h);
 * - else the synchronous path embeds what is missing (and the failed items, with `"resync"`).
 *
 * Every error carries the vectors read (`vectors`, `missingIndices`).
 */
export function decide(outcome: CollectOutcome, options: DecideOptions): BatchDecision {
  const { vectors, itemFailures } = outcome;
  const failures = [...itemFailures].sort((a, b) => a.index - b.index);
  if (outcome.stoppedBy?.aborted) {
    const missing = missingIndices(vectors);
    const detached = !options.cancelOnAbort;
    const jobs = outcome.jobNames.join(", ");
    return {
      kind: "throw",
      state: detached ? "keep" : "clear",
      resetJobs: [],
      cancelRunning: !detached,
      error: new EmbeddingAbortedError(
        detached
          ? `Aborted by the caller; batch job(s) ${jobs} keep running (not cancelled) and a run with the same state collects them; ${vectors.length - missing.length} of ${vectors.length} vectors kept (error.vectors).`
          : `Aborted by the caller; batch job(s) ${jobs} cancelled; ${vectors.length - missing.length} of ${vectors.length} vectors kept (error.vectors).`,
        vectors,
        missing,
        outcome.stoppedBy.error,
        detached ? outcome.jobNames : [],
      ),
    };
  }
  const jobErrors = options.fallback
    ? []
    : outcome.jobs.flatMap((job) => (job.jobError ? [job.jobError] : []));
  const resultsError = outcome.jobs.find(
    (job) => job.jobError === undefined && job.resultsError !== undefined,
  )?.resultsError;
  const stopped = outcome.stoppedBy !== undefined;
  if (stopped || jobErrors.length > 0 || (resultsError !== undefined && !options.fallback)) {
    const keep =
      stopped ||
      (!options.fallback &&
        (resultsError !== undefined ||
          jobErrors.some((error) => error instanceof BatchDeadlineError)));
    return {
      kind: "throw",
      state: keep ? "keep" : "clear",
      // A job that ended for good cannot be attached again: a rerun creates a new one instead.
      resetJobs: keep
        ? outcome.jobs
            .filter(
              (job) =>
                !options.fallback &&
                job.jobError !== undefined &&
                !(job.jobError instanceof BatchDeadlineError),
            )
            .map((job) => job.jobIndex)
        : [],
      cancelRunning: false,
      error: incompleteError(vectors, failures, jobErrors, outcome.stoppedBy, resultsError),
    };
  }
  const missing = outcome.jobs.flatMap((job) => job.missing);
  const resync = options.onItemError !== "return";
  const indices = resync ? [...missing, ...failures.map((failure) => failure.index)] : missing;
  return {
    kind: "sync",
    indices: indices.sort((a, b) => a - b),
    failures: resync ? [] : failures,
  };
}

/** The error of a run stopped by its jobs, carrying every vector already computed. */
function incompleteError(
  vectors: (Float32Array | undefined)[],
  failures: BatchItemFailure[],
  jobErrors: BatchJobError[],
  stoppedBy: { error: unknown } | undefined,
  resultsError: unknown,
): Error {
  const missing = missingIndices(vectors);
  const kept = `${vectors.length - missing.length} of ${vectors.length} vectors kept, ${missing.length} missing (error.vectors, error.missingIndices)`;
  const first = jobErrors[0];
  if (stoppedBy === undefined && first !== undefined) {
    const message = `${first.message}${otherJobErrors(jobErrors)}; ${kept}`;
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

/** `; N other job(s) did not finish either: …` after the first job error, or nothing. */
export function otherJobErrors(jobErrors: readonly BatchJobError[]): string {
  return jobErrors.length > 1
    ? `; ${jobErrors.length - 1} other job(s) did not finish either: ${jobErrors
        .slice(1)
        .map((error) => `${error.jobName} (${error.state})`)
        .join(", ")}`
    : "";
}
