/**
 * `decide`: what a Batch API run keeps and throws, from an outcome alone (no server).
 */
import { describe, expect, it } from "vitest";
import {
  BatchDeadlineError,
  BatchDeadlineIncompleteError,
  BatchJobError,
  BatchJobIncompleteError,
  EmbeddingAbortedError,
  EmbeddingIncompleteError,
  GembedAbortError,
  GeminiConnectionError,
} from "../errors.js";
import { type CollectOutcome, type DecideOptions, decide, type JobOutcome } from "./decide.js";

const vector = () => new Float32Array([1, 0]);
const defaults: DecideOptions = { fallback: false, onItemError: "resync", cancelOnAbort: false };

/** Two jobs of 2 inputs each: job 0 read, job 1 as given. */
function outcome(second: Partial<JobOutcome>, extra: Partial<CollectOutcome> = {}): CollectOutcome {
  return {
    vectors: [vector(), vector(), undefined, undefined],
    itemFailures: [],
    jobNames: ["batches/a", "batches/b"],
    jobs: [
      { jobIndex: 0, jobName: "batches/a", complete: true, missing: [] },
      { jobIndex: 1, jobName: "batches/b", complete: false, missing: [2, 3], ...second },
    ],
    ...extra,
  };
}

const failed = new BatchJobError("job b failed", "batches/b", "BATCH_STATE_FAILED", "failed");
const late = new BatchDeadlineError("job b late", "batches/b", "BATCH_STATE_RUNNING", "deadline");

describe("decide", () => {
  it("an abort detaches: state kept, nothing cancelled, the error names the jobs and carries the vectors", () => {
    const decision = decide(
      outcome({}, { jobs: [], stoppedBy: { error: new GembedAbortError("x"), aborted: true } }),
      defaults,
    );
    expect(decision.kind).toBe("throw");
    if (decision.kind !== "throw") return;
    expect(decision.state).toBe("keep");
    expect(decision.cancelRunning).toBe(false);
    expect(decision.error).toBeInstanceOf(EmbeddingAbortedError);
    const error = decision.error as EmbeddingAbortedError;
    expect(error.jobNames).toEqual(["batches/a", "batches/b"]);
    expect(error.missingIndices).toEqual([2, 3]);
    expect(error.vectors.filter(Boolean)).toHaveLength(2);
  });

  it("an abort with cancelOnAbort cancels and clears", () => {
    const decision = decide(
      outcome({}, { jobs: [], stoppedBy: { error: new GembedAbortError("x"), aborted: true } }),
      { ...defaults, cancelOnAbort: true },
    );
    expect(decision).toMatchObject({ kind: "throw", state: "clear", cancelRunning: true });
    if (decision.kind === "throw")
      expect((decision.error as EmbeddingAbortedError).jobNames).toEqual([]);
  });

  it("a job out of reach keeps the state for a later run", () => {
    const decision = decide(
      outcome({}, { stoppedBy: { error: new GeminiConnectionError("down"), aborted: false } }),
      defaults,
    );
    expect(decision).toMatchObject({ kind: "throw", state: "keep", resetJobs: [] });
    if (decision.kind === "throw") expect(decision.error).toBeInstanceOf(EmbeddingIncompleteError);
  });

  it("a failed job without fallback: clears the state, the error carries the other job's vectors", () => {
    const decision = decide(outcome({ jobError: failed }), defaults);
    expect(decision).toMatchObject({ kind: "throw", state: "clear", resetJobs: [] });
    if (decision.kind !== "throw") return;
    expect(decision.error).toBeInstanceOf(BatchJobIncompleteError);
    expect((decision.error as BatchJobIncompleteError).missingIndices).toEqual([2, 3]);
  });

  it("a deadline keeps the state; a failed job beside it is reset so a rerun pays only for its range", () => {
    const three: CollectOutcome = {
      vectors: [undefined, undefined, undefined],
      itemFailures: [],
      jobNames: ["batches/a", "batches/b", "batches/c"],
      jobs: [
        { jobIndex: 0, jobName: "batches/a", jobError: late, complete: false, missing: [0] },
        { jobIndex: 1, jobName: "batches/b", jobError: failed, complete: false, missing: [1] },
        { jobIndex: 2, jobName: "batches/c", complete: false, missing: [2] },
      ],
    };
    const decision = decide(three, defaults);
    expect(decision).toMatchObject({ kind: "throw", state: "keep", resetJobs: [1] });
    if (decision.kind === "throw")
      expect(decision.error).toBeInstanceOf(BatchDeadlineIncompleteError);
  });

  it("results that broke off keep the state (the output stays readable); with fallback they are re-embedded", () => {
    const broken = outcome({ resultsError: new Error("gap"), missing: [3] });
    expect(decide(broken, defaults)).toMatchObject({ kind: "throw", state: "keep" });
    expect(decide(broken, { ...defaults, fallback: true })).toEqual({
      kind: "sync",
      indices: [3],
      failures: [],
    });
  });

  it("with fallback, a failed job's inputs go the synchronous way", () => {
    expect(decide(outcome({ jobError: failed }), { ...defaults, fallback: true })).toEqual({
      kind: "sync",
      indices: [2, 3],
      failures: [],
    });
  });

  it("failed items are re-embedded, or returned sorted with onItemError: return", () => {
    const items = outcome(
      { complete: true, missing: [] },
      {
        itemFailures: [
          { index: 3, error: new Error("b") },
          { index: 2, error: new Error("a") },
        ],
      },
    );
    expect(decide(items, defaults)).toEqual({ kind: "sync", indices: [2, 3], failures: [] });
    const returned = decide(items, { ...defaults, onItemError: "return" });
    expect(returned.kind).toBe("sync");
    if (returned.kind === "sync") {
      expect(returned.indices).toEqual([]);
      expect(returned.failures.map((failure) => failure.index)).toEqual([2, 3]);
    }
  });
});
