/**
 * What `gembed ingest` says after a deliberate Ctrl-C: what was kept and how to resume, instead of
 * `gembed: AbortError: The operation was aborted by the caller.`
 *
 * @module
 */

import type { IngestProgress } from "@gembed/ingest";
import { EmbeddingAbortedError } from "gembed";
import { InterruptedError } from "./errors.js";

/** What the interrupted ingest was doing. */
export interface InterruptedIngest {
  /** Where rows went: a file path or `Milvus collection <name>`. */
  target: string;
  /** The last progress the pipeline reported (after the write of the vectors it rescued). */
  progress: IngestProgress | undefined;
  /** The Batch API state file, with `--batch`. */
  stateFile?: string | undefined;
}

/**
 * The error to end an interrupted ingest with: `error` when it is not an abort, else an
 * {@link InterruptedError} whose message tells what was written and how to go on.
 */
export function interruptedIngest(error: unknown, run: InterruptedIngest): unknown {
  if (!(error instanceof Error) || error.name !== "AbortError") return error;
  const written = run.progress?.written ?? 0;
  // A streamed run does not know its chunk total (Infinity): "the missing chunk(s)".
  const left =
    run.progress === undefined || !Number.isFinite(run.progress.total)
      ? undefined
      : Math.max(0, run.progress.total - run.progress.done);
  const jobs = batchJobsOf(error);
  const parts = [
    `interrupted: ${written} row(s) written to ${run.target}${written > 0 ? " (every vector received before Ctrl-C)" : ""}.`,
  ];
  if (jobs.length > 0) {
    parts.push(
      `Batch job(s) ${jobs.join(", ")} keep running (not cancelled); ${run.stateFile ?? "the state file"} keeps them: run the same command again to collect their results without paying again, or stop them with \`gembed batch cancel <job>\`.`,
    );
  } else {
    parts.push(
      `Run the same command again to embed only the ${left === undefined ? "missing" : `${left} missing`} chunk(s).`,
    );
  }
  return new InterruptedError(parts.join(" "), { cause: error });
}

function batchJobsOf(error: Error): string[] {
  let cause: unknown = error;
  for (let depth = 0; depth < 4 && cause instanceof Error; depth++) {
    if (cause instanceof EmbeddingAbortedError && cause.jobNames.length > 0) return cause.jobNames;
    cause = cause.cause;
  }
  return [];
}
