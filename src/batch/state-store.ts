/**
 * The resume state of a Batch API run: which jobs were created for which input, so that a process
 * that dies while waiting picks the same jobs up again instead of paying for new ones.
 *
 * The state carries a fingerprint of the input (sha256 of the model, the config and every text,
 * i.e. every request as sent), so a changed input is refused rather than matched to old results.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import { dirname } from "node:path";
import type { EmbedContentRequest } from "../api/types.js";
import { BatchStateFileError } from "../errors.js";
import { writeFileAtomic } from "../util/atomic-write.js";
import { type FileLock, lockFile } from "../util/file-lock.js";
import type { BatchInputMode } from "./input.js";

/** One job of a run, as stored. */
export interface BatchRunJobState {
  /** First input index of the job. */
  start: number;
  /** One past the last input index. */
  end: number;
  /** How the input travels. */
  mode: BatchInputMode;
  /** The display name the job is (or was about to be) created with. */
  displayName: string;
  /** `batches/{id}`, once created. */
  name?: string;
  /** `files/{id}` of the uploaded JSONL input, once uploaded. */
  fileName?: string;
  /** When the create call was sent (ISO time); set before the call, so a crash right after it can be matched by listing jobs. */
  submittedAt?: string;
}

/** Everything a run stores to resume. */
export interface BatchRunState {
  /** Format version. */
  version: 1;
  /** {@link fingerprintRequests} of the input. */
  fingerprint: string;
  /** `models/...` of the jobs. */
  model: string;
  /** Number of inputs. */
  count: number;
  /** When the run started (ISO time). */
  createdAt: string;
  /** The jobs, in input order. */
  jobs: BatchRunJobState[];
}

/** Where a run keeps its resume state: a file ({@link FileBatchStateStore}) or anything else. */
export interface BatchStateStore {
  /** The stored state, or undefined when there is none. */
  load(): Promise<BatchRunState | undefined>;
  /** Replaces the stored state; must be atomic (a crash leaves the old or the new state). */
  save(state: BatchRunState): Promise<void>;
  /** Removes the state (the run finished). */
  clear(): Promise<void>;
  /**
   * Takes the state for one run, until `release`; a store another run holds throws (e.g.
   * `FileLockedError`), so two runs never create jobs for one input twice. Optional.
   */
  lock?(): Promise<{ release(): Promise<void> }>;
}

/**
 * The fingerprint of an input: sha256 (hex) of the model and of every request as it will be sent
 * (text, title, task type, output dimensionality), in order.
 */
export function fingerprintRequests(
  model: string,
  requests: readonly EmbedContentRequest[],
  keys?: readonly string[],
): string {
  const hash = createHash("sha256");
  hash.update(`gembed-batch-v1\n${model}\n${requests.length}\n`);
  for (let index = 0; index < requests.length; index++) {
    if (keys) hash.update(`${keys[index]}\t`);
    hash.update(JSON.stringify(requests[index]));
    hash.update("\n");
  }
  return hash.digest("hex");
}

/** Keeps the state in memory (for tests, or a caller that persists it elsewhere). */
export class MemoryBatchStateStore implements BatchStateStore {
  #state: string | undefined;
  /** @param initial - a state to start from. */
  constructor(initial?: BatchRunState) {
    this.#state = initial ? JSON.stringify(initial) : undefined;
  }
  async load(): Promise<BatchRunState | undefined> {
    return this.#state === undefined ? undefined : (JSON.parse(this.#state) as BatchRunState);
  }
  async save(state: BatchRunState): Promise<void> {
    this.#state = JSON.stringify(state);
  }
  async clear(): Promise<void> {
    this.#state = undefined;
  }
}

/**
 * Keeps the state in a JSON file. Writes are atomic: a temporary file beside it is written,
 * flushed to disk and renamed over the old one, so a crash never leaves half a state.
 */
export class FileBatchStateStore implements BatchStateStore {
  /** The state file's path. */
  readonly path: string;
  /** @param path - the state file; its folder is created when missing. */
  constructor(path: string) {
    if (typeof path !== "string" || path.length === 0) {
      throw new TypeError("The state file path must be a non-empty string");
    }
    this.path = path;
  }

  async load(): Promise<BatchRunState | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    let state: BatchRunState;
    try {
      state = JSON.parse(text) as BatchRunState;
    } catch (error) {
      // JSON.parse names no file: "Unexpected end of JSON input" alone sends a user nowhere.
      throw new BatchStateFileError(
        this.path,
        `${this.path} is not valid JSON (${(error as Error).message}): a gembed batch state file cut short or edited. Its jobs may still be running; delete the file to start anew (gembed batch list shows the jobs).`,
        { cause: error },
      );
    }
    if (
      state?.version !== 1 ||
      typeof state.fingerprint !== "string" ||
      !Array.isArray(state.jobs)
    ) {
      throw new TypeError(`${this.path} is not a gembed batch state file`);
    }
    return state;
  }

  async save(state: BatchRunState): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await writeFileAtomic(this.path, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  }

  async clear(): Promise<void> {
    await rm(this.path, { force: true });
  }

  /**
   * Locks the state file (`<path>.lock`, holding this process's pid) for one run: a second run
   * on the same file throws `FileLockedError` naming the file and the process, instead of
   * creating its own jobs. A lock left by a process that is gone is taken over.
   */
  async lock(): Promise<FileLock> {
    return lockFile(this.path, "the batch state file");
  }
}
