/**
 * The options of `GeminiEmbeddingFunction` and of its encode calls: their types (with the
 * documented defaults), the names each takes (any other is refused, naming the right one) and
 * the checks of their values.
 *
 * @module
 */

import { TASK_TYPES, type TaskType } from "../api/types.js";
import type { BatchEncodeOptions, BatchEncodeProgress } from "../batch/encode-batch.js";
import type { GeminiClient } from "../client/gemini-client.js";
import { InvalidOptionError } from "../errors.js";
import type { QuotaOptions } from "./limiter.js";
import { checkOptionNames } from "./option-names.js";
import type { PipelineWait } from "./pipeline.js";

/**
 * What `onProgress` is told: texts done, and whether the work is running or waiting (and until
 * when), as each chunk finishes and as a wait begins. The fields past `total` are always set by
 * the synchronous path (they are optional so one callback also fits the Batch API's progress).
 */
export interface EmbeddingProgress {
  /** Texts embedded so far. */
  done: number;
  /** Texts in all (when streaming: the texts read so far). */
  total: number;
  /** `embedding`, or the wait the work is in (see {@link PipelineWait}). */
  phase?: "embedding" | PipelineWait["state"];
  /** While waiting: when the work goes on, in ms since the epoch. */
  resumeAt?: number;
  /** While waiting: why, in a few words. */
  reason?: string;
  /** Calls allowed in flight now (the adaptive limit). */
  concurrency?: number;
}

/** Per-call options of the encode methods. */
export interface EncodeOptions {
  /** Aborts the work at once (rejects with `GembedAbortError`). */
  signal?: AbortSignal | undefined;
  /**
   * Called as each chunk finishes, with the texts done and the total (when streaming: the texts
   * read so far), and as a wait begins (for quota, or backing off after a failure), with when
   * the work resumes.
   */
  onProgress?: ((progress: EmbeddingProgress) => void) | undefined;
  /** The task type; overrides the method's own and `config.taskType`. */
  taskType?: TaskType | undefined;
  /**
   * `"sync"`: `batchEmbedContents` calls. `"batch"`: the Batch API (half the price, slower),
   * with the options of {@link BatchModeEncodeOptions}.
   * @default "sync"
   */
  mode?: "sync" | "batch" | undefined;
}

/** Options of `encodeStream`: those of the encode methods, and a hook told of each vector as its call returns. */
export interface EncodeStreamOptions extends EncodeOptions {
  /**
   * Called with each text's index (its position in the stream) and vector as soon as its call
   * returns, in any order, before the vector is yielded in input order. A consumer that must not
   * lose what it paid for (an ingest killed part-way) writes vectors from here: a call that
   * returns while an earlier one is slow is not held behind it.
   */
  onEmbedded?: ((index: number, vector: Float32Array) => void) | undefined;
}

/**
 * Per-call options of the encode methods with `mode: "batch"`: the Batch API path
 * (`encodeWithBatchApi` in `src/batch/`), which gives the same vectors, in the same order,
 * normalized the same way as the synchronous path.
 *
 * @example
 * ```ts
 * const vectors = await ef.encodeDocuments(texts, { mode: "batch", stateFile: "embed.state.json" });
 * ```
 */
export interface BatchModeEncodeOptions
  extends Omit<EncodeOptions, "onProgress" | "mode">,
    Omit<BatchEncodeOptions, "signal" | "onProgress" | "inputKind"> {
  mode: "batch";
  /** Told after each poll: the job's state and `batchStats`, with `done` and `total` over all jobs. */
  onProgress?: (progress: BatchEncodeProgress) => void;
}

/** What {@link GeminiEmbeddingFunctionOptions.onInputTooLong} is told. */
export interface InputTooLongInfo {
  /** Index of the text in the input. */
  index: number;
  /** Estimated tokens of the text (and title). */
  tokens: number;
  /** The model's input limit in tokens. */
  limit: number;
}

/** The seed's `config`: the output size and a task type that overrides the methods' own. */
export interface EmbeddingConfig {
  /**
   * Output size (Matryoshka truncation), within the model's range.
   * @default the model's default (3072 for gemini-embedding-001)
   */
  outputDimensionality?: number | undefined;
  /**
   * A task type used by every method instead of `RETRIEVAL_DOCUMENT` / `RETRIEVAL_QUERY`.
   * @default undefined
   */
  taskType?: TaskType | undefined;
}

/** Options of {@link GeminiEmbeddingFunction}. */
export interface GeminiEmbeddingFunctionOptions {
  /**
   * The model, with or without `models/`. A retired model throws `RetiredModelError`.
   * @default "gemini-embedding-001"
   */
  modelName?: string | undefined;
  /**
   * The API key (never logged, never in an error message).
   * @default process.env.GOOGLE_API_KEY, else process.env.GEMINI_API_KEY
   */
  apiKey?: string | undefined;
  /** Output size and task type, as in the seed. @default {} */
  config?: EmbeddingConfig | undefined;
  /**
   * The API's base URL (e.g. a local `gembed serve`).
   * @default process.env.GOOGLE_GEMINI_BASE_URL, else https://generativelanguage.googleapis.com
   */
  baseUrl?: string | undefined;
  /** A client to use instead of building one (then `apiKey` and `baseUrl` are not used). */
  client?: GeminiClient | undefined;
  /**
   * Milliseconds per attempt of one call.
   * @default 60_000
   */
  timeout?: number | undefined;
  /**
   * Retries of one chunk after an error (5xx, dropped connection, timeout, short answer). A 429
   * that will clear by waiting does not count: it waits the server's `retryDelay`.
   * @default 6
   */
  maxRetries?: number | undefined;
  /**
   * The most calls in flight at once (a sliding window: the next call starts as soon as one
   * ends). The number in flight adapts below it: it grows while answers come back steadily and
   * shrinks on 429s, 503s, timeouts and rising latency.
   * @default 64 (starting at 32)
   */
  concurrency?: number | undefined;
  /**
   * Told when any call of this instance starts to wait (for quota, or backing off after a
   * failure), with when it resumes: for a display that shows waits (the CLI does).
   * @default undefined
   */
  onWait?: ((wait: PipelineWait) => void) | undefined;
  /**
   * The client-side quota limiter; `false` turns it off (429s are still waited out).
   * @default {} (adaptive: learns the ceiling from 429s)
   */
  quota?: QuotaOptions | false | undefined;
  /**
   * L2-normalize vectors the model does not normalize (gemini-embedding-001 below 3072).
   * @default true
   */
  normalize?: boolean | undefined;
  /**
   * Told of each text over the model's input limit (the API truncates it silently).
   * @default undefined (a process warning `GEMBED_INPUT_TOO_LONG` lists the indices)
   */
  onInputTooLong?: ((info: InputTooLongInfo) => void) | undefined;
  /**
   * Most texts per `batchEmbedContents` call (the API allows 100).
   * @default 100
   */
  maxTextsPerCall?: number | undefined;
  /**
   * Most bytes of JSON per call (the API refuses more than 4 MiB).
   * @default 3_500_000
   */
  maxBytesPerCall?: number | undefined;
  /**
   * Backoff of the first retry in ms when the server names no wait (doubled each retry, with jitter).
   * @default 500
   */
  retryBaseDelay?: number | undefined;
  /**
   * Cap of one wait in ms.
   * @default 60_000
   */
  maxRetryDelay?: number | undefined;
}

const TASK_TYPE_SET: ReadonlySet<string> = new Set(TASK_TYPES);

export function checkTaskType(name: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== "string") throw new InvalidOptionError(name, `${name} must be a string.`);
  if (!TASK_TYPE_SET.has(value)) {
    throw new InvalidOptionError(
      name,
      `${name} must be one of ${TASK_TYPES.join(", ")}; got "${value}".`,
    );
  }
}

export function checkInteger(
  name: string,
  value: unknown,
  minimum: number,
  maximum = Number.MAX_SAFE_INTEGER,
): void {
  if (value === undefined) return;
  if (typeof value !== "number" || Number.isNaN(value))
    throw new InvalidOptionError(name, `${name} must be a number.`);
  if (!Number.isInteger(value) || value < minimum || value > maximum) {
    throw new InvalidOptionError(
      name,
      `${name} must be an integer from ${minimum} to ${maximum}, got ${value}.`,
    );
  }
}

export function checkType(
  name: string,
  value: unknown,
  type: "string" | "boolean" | "function",
): void {
  if (value !== undefined && typeof value !== type)
    throw new InvalidOptionError(name, `${name} must be a ${type}.`);
}

/** Every option of {@link GeminiEmbeddingFunctionOptions}: any other name is refused. */
export const CONSTRUCTOR_OPTIONS = [
  "modelName",
  "apiKey",
  "config",
  "baseUrl",
  "client",
  "timeout",
  "maxRetries",
  "concurrency",
  "onWait",
  "quota",
  "normalize",
  "onInputTooLong",
  "maxTextsPerCall",
  "maxBytesPerCall",
  "retryBaseDelay",
  "maxRetryDelay",
] as const satisfies readonly (keyof GeminiEmbeddingFunctionOptions)[];

/** pymilvus's (and other libraries') names for what gembed keeps under another name. */
export const CONSTRUCTOR_ALIASES = {
  model_name: "modelName",
  model: "modelName",
  api_key: "apiKey",
  base_url: "baseUrl",
  output_dimensionality: "config.outputDimensionality",
  outputDimensionality: "config.outputDimensionality",
  dimensions: "config.outputDimensionality",
  dimension: "config.outputDimensionality",
  dim: "config.outputDimensionality",
  task_type: "config.taskType",
  taskType: "config.taskType",
} as const;

export const CONFIG_OPTIONS = ["outputDimensionality", "taskType"] as const;
export const CONFIG_ALIASES = {
  output_dimensionality: "config.outputDimensionality",
  dimensions: "config.outputDimensionality",
  task_type: "config.taskType",
} as const;

/** Per-call options of the synchronous path (the Batch API path checks its own). */
const ENCODE_OPTIONS = ["signal", "onProgress", "taskType", "mode"] as const;
/** The options `encodeStream` takes: the encode options and `onEmbedded`. */
export const ENCODE_STREAM_OPTIONS = [...ENCODE_OPTIONS, "onEmbedded"] as const;
const ENCODE_ALIASES = {
  task_type: "options.taskType",
  on_progress: "options.onProgress",
} as const;

/** Checks the per-call options of the synchronous path (names, signal, callback, task type). */
export function checkEncodeOptions(
  options: EncodeOptions,
  names: readonly string[] = ENCODE_OPTIONS,
): void {
  if (options === null || typeof options !== "object")
    throw new InvalidOptionError("options", "options must be an object.");
  checkOptionNames(options, names, "An encode call", ENCODE_ALIASES, "options.");
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new InvalidOptionError("options.signal", "options.signal must be an AbortSignal.");
  }
  checkType("options.onProgress", options.onProgress, "function");
  checkTaskType("options.taskType", options.taskType);
}
