/**
 * `GeminiEmbeddingFunction`: the TypeScript counterpart of pymilvus's class of the same name,
 * with what users of today's libraries miss: query and document task types per method, a title
 * per document, normalized truncated vectors, chunking by count and bytes over a sliding window
 * of concurrent calls, a quota limiter that honours Gemini's `retryDelay`, checked answers, and
 * partial results when the work cannot finish.
 *
 * @module
 */

import { emitWarning } from "#platform";
import { type EmbedContentRequest, TASK_TYPES, type TaskType } from "../api/types.js";
import type { BatchEncodeOptions, BatchEncodeProgress } from "../batch/encode-batch.js";
import { GeminiClient, type GeminiClientOptions } from "../client/gemini-client.js";
import { abortError } from "../client/retry.js";
import {
  EmbeddingAbortedError,
  EmbeddingIncompleteError,
  GembedAbortError,
  GembedError,
  type InputIssue,
  InvalidInputError,
  InvalidOptionError,
  InvalidResponseError,
  MissingApiKeyError,
} from "../errors.js";
import {
  assertNotRetired,
  DEFAULT_MODEL,
  getModelInfo,
  type ModelInfo,
  modelId,
  modelResourceName,
} from "../models.js";
import { estimateTokens } from "../tokens.js";
import { describeType } from "../util/objects.js";
import {
  type Chunk,
  ChunkBuilder,
  type ChunkItem,
  chunkItems,
  MAX_BYTES_PER_CALL,
  MAX_TEXTS_PER_CALL,
  requestBytes,
} from "./chunking.js";
import { ConcurrencyLimiter, QuotaLimiter, type QuotaOptions } from "./limiter.js";
import {
  type EmbeddingInput,
  isMultimodalInput,
  multimodalBatchEmbedder,
  prepareMultimodalItems,
  UploadCache,
} from "./media.js";
import { toFloat32Vector } from "./normalization.js";
import { checkOptionNames } from "./option-names.js";
import { ChunkRunner, PipelineStoppedError, type PipelineWait, runOrdered } from "./pipeline.js";
import {
  checkInput,
  type DocumentInput,
  type InputKind,
  type NormalizedInput,
  validateInputList,
} from "./validation.js";

export type { QuotaOptions } from "./limiter.js";
export type {
  EmbeddingInput,
  MediaBytes,
  MediaInput,
  MultimodalInput,
  PartInput,
  PartsInput,
  UploadedFileInput,
} from "./media.js";
export type { PipelineWait } from "./pipeline.js";

/** Calls in flight at first, when `concurrency` is not set (the limit then adapts). */
export const INITIAL_CONCURRENCY = 32;
/** The most calls in flight of one `encodeStream` (bounds its memory). */
export const STREAM_CONCURRENCY = 8;
/** The most calls in flight when `concurrency` is not set: one process never opens hundreds of sockets. */
export const DEFAULT_MAX_CONCURRENCY = 64;

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
export type { DocumentInput, InputKind } from "./validation.js";

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

/** The texts gemini-embedding-2 takes instead of a `taskType` (as Google documents). */
const TASK_PROMPTS: Partial<Record<TaskType, string>> = {
  RETRIEVAL_QUERY: "task: search result | query: ",
  QUESTION_ANSWERING: "task: question answering | query: ",
  FACT_VERIFICATION: "task: fact checking | query: ",
  CLASSIFICATION: "task: classification | query: ",
  CLUSTERING: "task: clustering | query: ",
  SEMANTIC_SIMILARITY: "task: sentence similarity | query: ",
  CODE_RETRIEVAL_QUERY: "task: code retrieval | query: ",
};

const TASK_TYPE_SET: ReadonlySet<string> = new Set(TASK_TYPES);

function checkTaskType(name: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== "string") throw new InvalidOptionError(name, `${name} must be a string.`);
  if (!TASK_TYPE_SET.has(value)) {
    throw new InvalidOptionError(
      name,
      `${name} must be one of ${TASK_TYPES.join(", ")}; got "${value}".`,
    );
  }
}

function checkInteger(
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

function checkType(name: string, value: unknown, type: "string" | "boolean" | "function"): void {
  if (value !== undefined && typeof value !== type)
    throw new InvalidOptionError(name, `${name} must be a ${type}.`);
}

/** Every option of {@link GeminiEmbeddingFunctionOptions}: any other name is refused. */
const CONSTRUCTOR_OPTIONS = [
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
const CONSTRUCTOR_ALIASES = {
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

const CONFIG_OPTIONS = ["outputDimensionality", "taskType"] as const;
const CONFIG_ALIASES = {
  output_dimensionality: "config.outputDimensionality",
  dimensions: "config.outputDimensionality",
  task_type: "config.taskType",
} as const;

/** Per-call options of the synchronous path (the Batch API path checks its own). */
const ENCODE_OPTIONS = ["signal", "onProgress", "taskType", "mode"] as const;
const ENCODE_STREAM_OPTIONS = [...ENCODE_OPTIONS, "onEmbedded"] as const;
const ENCODE_ALIASES = {
  task_type: "options.taskType",
  on_progress: "options.onProgress",
} as const;

/**
 * Gemini text embeddings for Milvus: documents and queries in, one `Float32Array` per text out,
 * in input order.
 *
 * @example
 * ```ts
 * const ef = new GeminiEmbeddingFunction({ modelName: "gemini-embedding-001", apiKey: "..." });
 * const docs = await ef.encodeDocuments(["Artificial intelligence was founded as an academic discipline in 1956."]);
 * console.log("Dim:", ef.dim, docs[0].length); // Dim: 3072 3072
 * const queries = await ef.encodeQueries(["When was artificial intelligence founded"]);
 * ```
 */
export class GeminiEmbeddingFunction {
  /** The model id, without `models/` (e.g. `gemini-embedding-001`). */
  readonly modelName: string;
  /** The client the calls go through. */
  readonly client: GeminiClient;
  /** The seed's config, as given. */
  readonly config: Readonly<EmbeddingConfig>;
  /** The quota limiter shared by every call of this instance. */
  readonly limiter: QuotaLimiter;
  /** The adaptive limit of calls in flight, shared by every call of this instance. */
  readonly concurrencyLimiter: ConcurrencyLimiter;
  readonly #onWait: ((wait: PipelineWait) => void) | undefined;
  readonly #model: ModelInfo | undefined;
  readonly #resource: string;
  readonly #normalize: boolean;
  readonly #maxTextsPerCall: number;
  readonly #maxBytesPerCall: number;
  readonly #onInputTooLong: ((info: InputTooLongInfo) => void) | undefined;
  readonly #runner: ChunkRunner;
  /** Media uploaded to the Files API by this instance, by content hash (reused on retry/resume). */
  readonly uploads = new UploadCache();
  #learnedDim: number | undefined;

  constructor(options: GeminiEmbeddingFunctionOptions = {}) {
    if (options === null || typeof options !== "object") {
      throw new InvalidOptionError("options", "GeminiEmbeddingFunction options must be an object.");
    }
    checkOptionNames(options, CONSTRUCTOR_OPTIONS, "GeminiEmbeddingFunction", CONSTRUCTOR_ALIASES);
    checkType("modelName", options.modelName, "string");
    checkType("apiKey", options.apiKey, "string");
    checkType("baseUrl", options.baseUrl, "string");
    checkType("normalize", options.normalize, "boolean");
    checkType("onInputTooLong", options.onInputTooLong, "function");
    checkType("onWait", options.onWait, "function");
    checkInteger("timeout", options.timeout, 1);
    checkInteger("maxRetries", options.maxRetries, 0, 100);
    checkInteger("concurrency", options.concurrency, 1, 1024);
    checkInteger("maxTextsPerCall", options.maxTextsPerCall, 1, MAX_TEXTS_PER_CALL);
    checkInteger("maxBytesPerCall", options.maxBytesPerCall, 1024, 4_194_304);
    checkInteger("retryBaseDelay", options.retryBaseDelay, 0);
    checkInteger("maxRetryDelay", options.maxRetryDelay, 0);
    if (options.client !== undefined && !(options.client instanceof GeminiClient)) {
      throw new InvalidOptionError("client", "client must be a GeminiClient.");
    }
    const config = options.config ?? {};
    if (config === null || typeof config !== "object")
      throw new InvalidOptionError("config", "config must be an object.");
    checkOptionNames(config, CONFIG_OPTIONS, "GeminiEmbeddingFunction", CONFIG_ALIASES, "config.");
    checkTaskType("config.taskType", config.taskType);

    const name = options.modelName ?? DEFAULT_MODEL;
    if (name.trim().length === 0)
      throw new InvalidOptionError("modelName", "modelName must not be empty.");
    assertNotRetired(name);
    this.modelName = modelId(name);
    this.#resource = modelResourceName(name);
    this.#model = getModelInfo(name);
    if (this.#model) {
      if (config.outputDimensionality !== undefined && !this.#model.supportsOutputDimensionality) {
        throw new InvalidOptionError(
          "config.outputDimensionality",
          `${this.modelName} does not take outputDimensionality.`,
        );
      }
      checkInteger(
        "config.outputDimensionality",
        config.outputDimensionality,
        this.#model.minDimension,
        this.#model.maxDimension,
      );
    } else {
      checkInteger("config.outputDimensionality", config.outputDimensionality, 1);
    }
    // A field given as `undefined` is not given: the frozen config holds only what was set.
    this.config = Object.freeze(
      Object.fromEntries(Object.entries(config).filter(([, value]) => value !== undefined)),
    ) as EmbeddingConfig;
    this.#normalize = options.normalize ?? true;
    const maxConcurrency = options.concurrency ?? DEFAULT_MAX_CONCURRENCY;
    this.concurrencyLimiter = new ConcurrencyLimiter({
      initial: Math.min(INITIAL_CONCURRENCY, maxConcurrency),
      max: maxConcurrency,
    });
    this.#onWait = options.onWait;
    this.#maxTextsPerCall = options.maxTextsPerCall ?? MAX_TEXTS_PER_CALL;
    this.#maxBytesPerCall = options.maxBytesPerCall ?? MAX_BYTES_PER_CALL;
    this.#onInputTooLong = options.onInputTooLong;
    try {
      this.limiter = new QuotaLimiter(options.quota);
    } catch (error) {
      // The limiter checks its own settings: a bad one is an option error like any other.
      if (error instanceof TypeError || error instanceof RangeError) {
        throw new InvalidOptionError("quota", `quota: ${error.message}`);
      }
      throw error;
    }

    if (options.client) {
      this.client = options.client;
    } else {
      const clientOptions: GeminiClientOptions = {};
      if (options.apiKey !== undefined) clientOptions.apiKey = options.apiKey;
      if (options.baseUrl !== undefined) clientOptions.baseUrl = options.baseUrl;
      if (options.timeout !== undefined) clientOptions.timeout = options.timeout;
      if (options.maxRetryDelay !== undefined) clientOptions.maxRetryDelay = options.maxRetryDelay;
      this.client = new GeminiClient(clientOptions);
      // Found now, not at the first call, where it would arrive wrapped in the error of the
      // work it stopped (and `instanceof MissingApiKeyError` would fail).
      if (this.client.apiKeySource === undefined) {
        throw new MissingApiKeyError(
          "No Gemini API key: set the GEMINI_API_KEY or GOOGLE_API_KEY environment variable (in code, the `apiKey` option also works).",
        );
      }
    }
    this.#runner = new ChunkRunner({
      client: this.client,
      model: this.#resource,
      limiter: this.limiter,
      concurrency: this.concurrencyLimiter,
      maxRetries: options.maxRetries ?? 6,
      maxRateLimitWaits: 50,
      timeout: options.timeout,
      retryBaseDelay: options.retryBaseDelay ?? 500,
      maxRetryDelay: options.maxRetryDelay ?? 60_000,
      toVector: (values) => this.toVector(values),
    });
  }

  /**
   * The output size: `config.outputDimensionality`, else the model's default. For a model gembed
   * does not know, it throws until {@link resolveDim} (or a first encode) has learned it.
   */
  get dim(): number {
    const known = this.#knownDim();
    if (known !== undefined) return known;
    throw new GembedError(
      `The output size of model "${this.modelName}" is not known to gembed; await resolveDim() first, or set config.outputDimensionality.`,
    );
  }

  /**
   * The output size, learned from one call for a model gembed does not know.
   *
   * @example
   * ```ts
   * const dim = await new GeminiEmbeddingFunction({ modelName: "my-tuned-model" }).resolveDim();
   * ```
   */
  async resolveDim(options: { signal?: AbortSignal } = {}): Promise<number> {
    const known = this.#knownDim();
    if (known !== undefined) return known;
    const request = this.buildRequest("dimension probe", undefined);
    const requestOptions: { signal?: AbortSignal } = {};
    if (options.signal) requestOptions.signal = options.signal;
    const response = await this.client.embedContent(this.#resource, request, requestOptions);
    const length = response?.embedding?.values?.length;
    if (typeof length !== "number" || length === 0) {
      throw new InvalidResponseError("embedContent answered no embedding values.");
    }
    this.#learnedDim ??= length;
    return this.#learnedDim;
  }

  /**
   * Embeds documents with `RETRIEVAL_DOCUMENT` (or `config.taskType`), each with its title when
   * given as `{ text, title }`.
   *
   * @example
   * ```ts
   * const vectors = await ef.encodeDocuments([{ text: "Turing was born in London.", title: "Alan Turing" }]);
   * ```
   */
  encodeDocuments(documents: EmbeddingInput[], options?: EncodeOptions): Promise<Float32Array[]>;
  encodeDocuments(
    documents: EmbeddingInput[],
    options: BatchModeEncodeOptions,
  ): Promise<Float32Array[]>;
  encodeDocuments(
    documents: EmbeddingInput[],
    options: EncodeOptions | BatchModeEncodeOptions = {},
  ): Promise<Float32Array[]> {
    return this.#encode(documents, "documents", options, "RETRIEVAL_DOCUMENT");
  }

  /**
   * Embeds queries with `RETRIEVAL_QUERY` (or `config.taskType`); never sends a title.
   *
   * @example
   * ```ts
   * const [query] = await ef.encodeQueries(["Where was Alan Turing born?"]);
   * ```
   */
  encodeQueries(queries: string[], options?: EncodeOptions): Promise<Float32Array[]>;
  encodeQueries(queries: string[], options: BatchModeEncodeOptions): Promise<Float32Array[]>;
  encodeQueries(
    queries: string[],
    options: EncodeOptions | BatchModeEncodeOptions = {},
  ): Promise<Float32Array[]> {
    return this.#encode(queries, "queries", options, "RETRIEVAL_QUERY");
  }

  /**
   * Embeds texts with the given task type (titles are sent only with `RETRIEVAL_DOCUMENT`).
   *
   * @example
   * ```ts
   * const vectors = await ef.encode(["a cat", "a dog"], { taskType: "CLUSTERING" });
   * ```
   */
  encode(
    texts: EmbeddingInput[],
    options: EncodeOptions & { taskType: TaskType },
  ): Promise<Float32Array[]>;
  encode(
    texts: EmbeddingInput[],
    options: BatchModeEncodeOptions & { taskType: TaskType },
  ): Promise<Float32Array[]>;
  encode(
    texts: EmbeddingInput[],
    options: (EncodeOptions | BatchModeEncodeOptions) & { taskType: TaskType },
  ): Promise<Float32Array[]> {
    if (options === null || typeof options !== "object") {
      return Promise.reject(new TypeError("encode options must be an object with a taskType."));
    }
    if (options.taskType === undefined) {
      return Promise.reject(new TypeError("encode needs options.taskType."));
    }
    return this.#encode(texts, "texts", options, options.taskType);
  }

  /**
   * Embeds a stream of texts, yielding one vector per text in input order, with bounded memory
   * (a few chunks ahead). An invalid text throws `InvalidInputError` when it is read. The task
   * type is `options.taskType`, else `config.taskType`, else `RETRIEVAL_DOCUMENT`.
   *
   * @example
   * ```ts
   * for await (const vector of ef.encodeStream(readLines("corpus.txt"))) await sink.write(vector);
   * ```
   */
  async *encodeStream(
    texts: AsyncIterable<DocumentInput> | Iterable<DocumentInput>,
    options: EncodeStreamOptions = {},
  ): AsyncGenerator<Float32Array> {
    this.#checkEncodeOptions(options, ENCODE_STREAM_OPTIONS);
    checkType("options.onEmbedded", options.onEmbedded, "function");
    if (options.mode !== undefined && options.mode !== "sync") {
      throw new TypeError(
        `encodeStream has no Batch API form: options.mode must be "sync" or left out, not ${describeType(options.mode)}.`,
      );
    }
    const source = texts as {
      [Symbol.asyncIterator]?: () => AsyncIterator<DocumentInput>;
      [Symbol.iterator]?: () => Iterator<DocumentInput>;
    } | null;
    const asyncFactory = source?.[Symbol.asyncIterator];
    const syncFactory = source?.[Symbol.iterator];
    const iterator: AsyncIterator<DocumentInput> | Iterator<DocumentInput> | undefined =
      typeof asyncFactory === "function"
        ? asyncFactory.call(source)
        : typeof syncFactory === "function"
          ? syncFactory.call(source)
          : undefined;
    if (iterator === undefined) throw new TypeError("encodeStream takes an iterable of texts.");
    const taskType = options.taskType ?? this.config.taskType ?? "RETRIEVAL_DOCUMENT";
    const signal = options.signal;
    if (signal?.aborted) throw abortError(signal);
    let read = 0;
    let done = 0;
    // Vectors handed to the consumer: always the first `yielded` texts, in order.
    let yielded = 0;
    const builder = this.#newChunkBuilder();
    const self = this;
    let warned = false;
    async function* chunks(): AsyncGenerator<Chunk> {
      for (;;) {
        const next = await iterator!.next();
        if (next.done) break;
        const index = read++;
        const issues: InputIssue[] = [];
        const input = checkInput(next.value, index, "texts", issues);
        if (input === undefined) throw new InvalidInputError(issues, "texts");
        // A stream warns once (the callback still hears of every text).
        if (self.#reportTooLong([input], index, !warned)) warned = true;
        const closed = builder.add(self.#item(input, index, taskType));
        if (closed) yield closed;
      }
      const last = builder.flush();
      if (last) yield last;
    }
    try {
      for await (const result of runOrdered(chunks(), this.#runner, {
        concurrency: this.concurrencyLimiter,
        // A stream is for inputs too large to hold: each call in flight holds an answer, so a
        // stream keeps at most STREAM_CONCURRENCY (or a `concurrency` set lower).
        maxInFlight: STREAM_CONCURRENCY,
        signal,
        onChunkDone: (finished) => {
          done += finished.vectors.length;
          if (options.onEmbedded !== undefined) {
            const { items } = finished.chunk;
            finished.vectors.forEach((vector, position) => {
              const item = items[position];
              if (item !== undefined) options.onEmbedded?.(item.index, vector);
            });
          }
          options.onProgress?.(this.#progress(done, read));
        },
        onWait: this.#waitReporter(options.onProgress, () => [done, read]),
      })) {
        for (const vector of result.vectors) {
          yielded++;
          yield vector;
        }
      }
    } catch (error) {
      if (error instanceof PipelineStoppedError) {
        const vectors: (Float32Array | undefined)[] = [];
        for (const finished of error.finished) {
          finished.chunk.items.forEach((item, position) => {
            vectors[item.index] = finished.vectors[position];
          });
        }
        // Every text read and not embedded: those of unfinished chunks, and a text read into
        // the open chunk (a chunk closed by bytes keeps the text that overflowed it).
        const missing: number[] = [];
        for (let index = yielded; index < read; index++) {
          if (vectors[index] === undefined) missing.push(index);
        }
        throw this.#incomplete(vectors, missing, read, error.cause);
      }
      throw error;
    }
  }

  /** The abort error of an encode call, carrying the vectors received before it. */
  #aborted(
    vectors: (Float32Array | undefined)[],
    total: number,
    cause: GembedAbortError,
  ): EmbeddingAbortedError {
    const missing: number[] = [];
    for (let index = 0; index < total; index++)
      if (vectors[index] === undefined) missing.push(index);
    return new EmbeddingAbortedError(
      `Aborted by the caller after embedding ${total - missing.length} of ${total} texts; ${missing.length} missing (error.vectors keeps the others).`,
      vectors,
      missing,
      cause,
    );
  }

  /**
   * The request the sync path sends for one text: the Batch API path uses it too, so both give
   * identical vectors.
   */
  buildRequest(input: DocumentInput, taskType: TaskType | undefined): EmbedContentRequest {
    const text = typeof input === "string" ? input : input.text;
    const title = typeof input === "string" ? undefined : input.title;
    const request: EmbedContentRequest = { model: this.#resource, content: { parts: [{ text }] } };
    if (this.#model && !this.#model.supportsTaskType) {
      // gemini-embedding-2 takes no taskType: the task goes into the text, as Google documents.
      let prompted = text;
      if (taskType === "RETRIEVAL_DOCUMENT") {
        prompted = `title: ${title && title.trim().length > 0 ? title : "none"} | text: ${text}`;
      } else if (taskType !== undefined && TASK_PROMPTS[taskType] !== undefined) {
        prompted = `${TASK_PROMPTS[taskType]}${text}`;
      }
      request.content = { parts: [{ text: prompted }] };
    } else {
      if (taskType !== undefined && taskType !== "TASK_TYPE_UNSPECIFIED")
        request.taskType = taskType;
      // The API answers 400 to a title with any other task type.
      if (taskType === "RETRIEVAL_DOCUMENT" && title !== undefined && title.trim().length > 0) {
        request.title = title;
      }
    }
    if (this.config.outputDimensionality !== undefined) {
      request.outputDimensionality = this.config.outputDimensionality;
    }
    return request;
  }

  /**
   * Checks one embedding's length against {@link dim} (else `InvalidResponseError`), copies it
   * into a `Float32Array` and L2-normalizes it when the model did not (and `normalize` is on).
   */
  toVector(values: ArrayLike<number>): Float32Array {
    const expected = this.#knownDim();
    const vector = toFloat32Vector(
      values,
      expected,
      this.#normalize && this.#needsNormalization(values?.length),
    );
    if (expected === undefined) this.#learnedDim ??= vector.length;
    return vector;
  }

  /**
   * Checks inputs before any network call: throws `InvalidInputError` naming every bad index
   * (a non-string, an empty or whitespace-only text, a bad title, an object among queries).
   */
  validateInputs(inputs: DocumentInput[], kind: InputKind): void {
    validateInputList(inputs, kind);
  }

  #progress(done: number, total: number): EmbeddingProgress {
    return { done, total, phase: "embedding", concurrency: this.concurrencyLimiter.limit };
  }

  /**
   * Tells a wait to `onProgress` and to the instance's `onWait`, once per wait: the chunks that
   * wait for the same room are one wait.
   */
  #waitReporter(
    onProgress: ((progress: EmbeddingProgress) => void) | undefined,
    counts: () => [number, number],
  ): ((wait: PipelineWait) => void) | undefined {
    if (onProgress === undefined && this.#onWait === undefined) return undefined;
    let last: PipelineWait | undefined;
    return (wait) => {
      if (
        last !== undefined &&
        last.state === wait.state &&
        last.reason === wait.reason &&
        Math.abs(last.resumeAt - wait.resumeAt) < 1000 &&
        Date.now() < last.resumeAt
      ) {
        return;
      }
      last = wait;
      const [done, total] = counts();
      onProgress?.({
        ...this.#progress(done, total),
        phase: wait.state,
        resumeAt: wait.resumeAt,
        reason: wait.reason,
      });
      this.#onWait?.(wait);
    };
  }

  #knownDim(): number | undefined {
    return this.config.outputDimensionality ?? this.#model?.defaultDimension ?? this.#learnedDim;
  }

  #needsNormalization(length: number | undefined): boolean {
    return !(this.#model !== undefined && length === this.#model.normalizedDimension);
  }

  #newChunkBuilder(): ChunkBuilder {
    return new ChunkBuilder({
      maxCount: Math.min(this.#maxTextsPerCall, this.limiter.maxTextsPerCall ?? MAX_TEXTS_PER_CALL),
      maxBytes: this.#maxBytesPerCall,
    });
  }

  #item(input: NormalizedInput, index: number, taskType: TaskType): ChunkItem {
    const request = this.buildRequest(input, taskType);
    return {
      index,
      request,
      bytes: requestBytes(request),
      // The text as sent: for gemini-embedding-2 it carries the task prompt and the title.
      tokens:
        estimateTokens(request.content.parts[0]?.text ?? input.text) +
        (request.title ? estimateTokens(request.title) : 0),
    };
  }

  #checkEncodeOptions(options: EncodeOptions, names: readonly string[] = ENCODE_OPTIONS): void {
    if (options === null || typeof options !== "object")
      throw new InvalidOptionError("options", "options must be an object.");
    checkOptionNames(options, names, "An encode call", ENCODE_ALIASES, "options.");
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new InvalidOptionError("options.signal", "options.signal must be an AbortSignal.");
    }
    checkType("options.onProgress", options.onProgress, "function");
    checkTaskType("options.taskType", options.taskType);
  }

  /** Tells of texts over the input limit; returns true when it emitted the process warning. */
  #reportTooLong(inputs: NormalizedInput[], offset: number, mayWarn = true): boolean {
    const limit = this.#model?.inputTokenLimit;
    if (limit === undefined) return false;
    const over: InputTooLongInfo[] = [];
    for (let position = 0; position < inputs.length; position++) {
      const input = inputs[position];
      if (input === undefined) continue;
      // Cheap bound first: a text under `limit` characters cannot be over the token limit.
      if (input.text.length + (input.title?.length ?? 0) <= limit) continue;
      const tokens = estimateTokens(input.text) + (input.title ? estimateTokens(input.title) : 0);
      if (tokens > limit) over.push({ index: offset + position, tokens, limit });
    }
    if (over.length === 0) return false;
    if (this.#onInputTooLong) {
      for (const info of over) this.#onInputTooLong(info);
      return false;
    }
    if (!mayWarn) return false;
    const shown = over
      .slice(0, 20)
      .map((info) => info.index)
      .join(", ");
    emitWarning(
      `${over.length} text(s) over the ${limit}-token input limit of ${this.modelName} will be truncated by the API: index ${shown}${over.length > 20 ? ", ..." : ""}`,
      "GEMBED_INPUT_TOO_LONG",
    );
    return true;
  }

  #incomplete(
    vectors: (Float32Array | undefined)[],
    missing: number[],
    total: number,
    cause: unknown,
  ): EmbeddingIncompleteError {
    const reason = cause instanceof Error ? cause.message : describeType(cause);
    // With nothing embedded the cause is the whole story (an unknown model, a refused key, a
    // refused connection): it leads the message.
    return new EmbeddingIncompleteError(
      missing.length === total
        ? `Nothing embedded (0 of ${total} texts): ${reason}`
        : `Embedded ${total - missing.length} of ${total} texts; ${missing.length} missing. Stopped by: ${reason}`,
      vectors,
      missing,
      cause,
    );
  }

  /**
   * The Batch API path. Loaded on demand so the synchronous path never loads it; the same
   * `buildRequest` and `toVector` as the synchronous path give the same vectors.
   */
  async #encodeBatch(
    inputs: EmbeddingInput[],
    kind: InputKind,
    options: BatchModeEncodeOptions,
    methodTaskType: TaskType,
  ): Promise<Float32Array[]> {
    checkTaskType("options.taskType", options.taskType);
    const taskType = options.taskType ?? this.config.taskType ?? methodTaskType;
    const { encodeWithBatchApi } = await import("../batch/encode-batch.js");
    const { mode: _mode, taskType: _taskType, ...batchOptions } = options;
    if (Array.isArray(inputs) && inputs.some(isMultimodalInput)) {
      // Media goes into the job as uploaded files (fileData), the same request for each input.
      const embedder = await multimodalBatchEmbedder(this, inputs, kind, taskType, options.signal);
      return encodeWithBatchApi(embedder, inputs as DocumentInput[], {
        ...batchOptions,
        taskType,
        inputKind: kind,
      });
    }
    return encodeWithBatchApi(this, inputs as DocumentInput[], {
      ...batchOptions,
      taskType,
      inputKind: kind,
    });
  }

  async #encode(
    inputs: EmbeddingInput[],
    kind: InputKind,
    options: EncodeOptions | BatchModeEncodeOptions,
    methodTaskType: TaskType,
  ): Promise<Float32Array[]> {
    if (options !== null && typeof options === "object" && options.mode === "batch") {
      return this.#encodeBatch(inputs, kind, options as BatchModeEncodeOptions, methodTaskType);
    }
    if (options !== null && typeof options === "object" && options.mode !== undefined) {
      if (options.mode !== "sync") {
        throw new TypeError(
          `options.mode must be "sync" or "batch", not ${describeType(options.mode)}.`,
        );
      }
    }
    this.#checkEncodeOptions(options as EncodeOptions);
    const taskType = options.taskType ?? this.config.taskType ?? methodTaskType;
    // Media and multi-part inputs (gemini-embedding-2): checked, then one request each (media.ts).
    const multimodal = Array.isArray(inputs) && inputs.some(isMultimodalInput);
    const normalized = multimodal ? [] : validateInputList(inputs, kind);
    const signal = options.signal;
    if (signal?.aborted) throw abortError(signal);
    this.#reportTooLong(normalized, 0);
    const items = multimodal
      ? await prepareMultimodalItems(inputs, kind, {
          model: this.modelName,
          client: this.client,
          uploads: this.uploads,
          maxBytesPerCall: this.#maxBytesPerCall,
          textItem: (input, index) => this.#item(input, index, taskType),
          textRequest: (text) => this.buildRequest(text, taskType),
          signal,
        })
      : normalized.map((input, index) => this.#item(input, index, taskType));
    const total = items.length;
    if (total === 0) return [];
    const chunks = chunkItems(items, {
      maxCount: Math.min(this.#maxTextsPerCall, this.limiter.maxTextsPerCall ?? MAX_TEXTS_PER_CALL),
      maxBytes: this.#maxBytesPerCall,
    });
    const vectors = new Array<Float32Array | undefined>(total).fill(undefined);
    let done = 0;
    try {
      const results = runOrdered(chunks[Symbol.iterator](), this.#runner, {
        concurrency: this.concurrencyLimiter,
        lookahead: Number.POSITIVE_INFINITY,
        signal,
        onChunkDone: (result) => {
          result.chunk.items.forEach((item, position) => {
            vectors[item.index] = result.vectors[position];
          });
          done += result.vectors.length;
          options.onProgress?.(this.#progress(done, total));
        },
        onWait: this.#waitReporter(options.onProgress, () => [done, total]),
      });
      for await (const _ of results) {
        // Results are placed as each chunk finishes (above), so partial work survives a stop.
      }
    } catch (error) {
      if (error instanceof PipelineStoppedError) {
        const missing: number[] = [];
        for (let index = 0; index < total; index++)
          if (vectors[index] === undefined) missing.push(index);
        throw this.#incomplete(vectors, missing, total, error.cause);
      }
      // The caller's abort surfaces from the pipeline at once, without the chunks it finished:
      // they were placed above as each one ended, so the abort error carries them (paid for).
      if (signal?.aborted && error instanceof GembedAbortError) {
        throw this.#aborted(vectors.slice(), total, error);
      }
      throw error;
    }
    return vectors as Float32Array[];
  }
}
