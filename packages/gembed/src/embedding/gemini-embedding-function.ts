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
import type { TaskType } from "../api/types.js";
import { modelPath } from "../client/checks.js";
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
} from "./chunking.js";
import { ConcurrencyLimiter, QuotaLimiter } from "./limiter.js";
import {
  type EmbeddingInput,
  isMultimodalInput,
  multimodalBatchEmbedder,
  prepareMultimodalItems,
  UploadCache,
} from "./media.js";
import { checkOptionNames } from "./option-names.js";
import {
  type BatchModeEncodeOptions,
  CONFIG_ALIASES,
  CONFIG_OPTIONS,
  CONSTRUCTOR_ALIASES,
  CONSTRUCTOR_OPTIONS,
  checkEncodeOptions,
  checkInteger,
  checkTaskType,
  checkType,
  type EmbeddingConfig,
  type EmbeddingProgress,
  ENCODE_STREAM_OPTIONS,
  type EncodeOptions,
  type EncodeStreamOptions,
  type GeminiEmbeddingFunctionOptions,
  type InputTooLongInfo,
} from "./options.js";
import { ChunkRunner, PipelineStoppedError, type PipelineWait, runOrdered } from "./pipeline.js";
import { attachRequests, EmbeddingRequests } from "./requests.js";
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
export type {
  BatchModeEncodeOptions,
  EmbeddingConfig,
  EmbeddingProgress,
  EncodeOptions,
  EncodeStreamOptions,
  GeminiEmbeddingFunctionOptions,
  InputTooLongInfo,
} from "./options.js";
export type { PipelineWait } from "./pipeline.js";

/** Calls in flight at first, when `concurrency` is not set (the limit then adapts). */
export const INITIAL_CONCURRENCY = 32;
/** The most calls in flight of one `encodeStream` (bounds its memory). */
export const STREAM_CONCURRENCY = 8;
/** The most calls in flight when `concurrency` is not set: one process never opens hundreds of sockets. */
export const DEFAULT_MAX_CONCURRENCY = 64;

export type { DocumentInput, InputKind } from "./validation.js";

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
  /** Requests and vectors, shared with the Batch API path (`requests.ts`). */
  readonly #requests: EmbeddingRequests;
  readonly #maxTextsPerCall: number;
  readonly #maxBytesPerCall: number;
  readonly #onInputTooLong: ((info: InputTooLongInfo) => void) | undefined;
  readonly #runner: ChunkRunner;
  /** Media uploaded to the Files API by this instance, by content hash (reused on retry/resume). */
  readonly uploads = new UploadCache();

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
    // The same rule as the client's: refused here, at construction, not at the first call.
    modelPath(name, "modelName");
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
    this.#requests = new EmbeddingRequests({
      resource: this.#resource,
      model: this.#model,
      outputDimensionality: this.config.outputDimensionality,
      normalize: options.normalize ?? true,
    });
    attachRequests(this, this.#requests);
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
      toVector: (values) => this.#requests.toVector(values),
    });
  }

  /**
   * The output size: `config.outputDimensionality`, else the model's default. For a model gembed
   * does not know, it throws until {@link resolveDim} (or a first encode) has learned it.
   */
  get dim(): number {
    const known = this.#requests.knownDim();
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
    const known = this.#requests.knownDim();
    if (known !== undefined) return known;
    const request = this.#requests.buildRequest("dimension probe", undefined);
    const requestOptions: { signal?: AbortSignal } = {};
    if (options.signal) requestOptions.signal = options.signal;
    const response = await this.client.embedContent(this.#resource, request, requestOptions);
    const length = response?.embedding?.values?.length;
    if (typeof length !== "number" || length === 0) {
      throw new InvalidResponseError("embedContent answered no embedding values.");
    }
    return this.#requests.learnDim(length);
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
    checkEncodeOptions(options, ENCODE_STREAM_OPTIONS);
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

  #newChunkBuilder(): ChunkBuilder {
    return new ChunkBuilder({
      maxCount: Math.min(this.#maxTextsPerCall, this.limiter.maxTextsPerCall ?? MAX_TEXTS_PER_CALL),
      maxBytes: this.#maxBytesPerCall,
    });
  }

  #item(input: NormalizedInput, index: number, taskType: TaskType): ChunkItem {
    const request = this.#requests.buildRequest(input, taskType);
    return {
      index,
      request,
      // Counted only if the call comes near its byte limit (see ChunkBuilder).
      // The text as sent: for gemini-embedding-2 it carries the task prompt and the title.
      tokens:
        estimateTokens(request.content.parts[0]?.text ?? input.text) +
        (request.title ? estimateTokens(request.title) : 0),
    };
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
   * requests and vectors (`requests.ts`) as the synchronous path give the same vectors.
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
      const embedder = await multimodalBatchEmbedder(
        this,
        this.#requests,
        inputs,
        kind,
        taskType,
        options.signal,
      );
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
    checkEncodeOptions(options as EncodeOptions);
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
          textRequest: (text) => this.#requests.buildRequest(text, taskType),
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
