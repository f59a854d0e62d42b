/**
 * gembed as an AI SDK embedding model (`EmbeddingModelV3`, the interface `ai` 6 expects): `embed`
 * and `embedMany` go through `GeminiEmbeddingFunction`, which does the chunking, the quota
 * limiting and the retrying; errors come back as the AI SDK's own types with a truthful
 * `isRetryable`, and an AI SDK retry of the same call only sends what is still missing.
 *
 * Imports gembed only through its public entry, so this folder can become its own package.
 *
 * @module
 */

import {
  APICallError,
  type EmbeddingModelV3,
  type EmbeddingModelV3CallOptions,
  type EmbeddingModelV3Result,
  InvalidArgumentError,
} from "@ai-sdk/provider";
import {
  type DocumentInput,
  EmbeddingIncompleteError,
  GeminiApiError,
  GeminiEmbeddingFunction,
  type GeminiEmbeddingFunctionOptions,
  InvalidInputError,
  isRetryableError,
  TASK_TYPES,
  type TaskType,
} from "gembed";

/**
 * Options of {@link createGembed}: everything `GeminiEmbeddingFunction` takes but the model and
 * its config, and a `signal` that stops every call (each call's `abortSignal` works too).
 */
export type GembedProviderSettings = Omit<
  GeminiEmbeddingFunctionOptions,
  "modelName" | "config"
> & {
  signal?: AbortSignal;
};

/** Settings of one model, fixed when it is created. */
export interface GembedEmbeddingSettings {
  /**
   * Output size (Matryoshka truncation). A call may ask for another with `providerOptions`.
   * @default the model's default (3072 for gemini-embedding-001)
   */
  outputDimensionality?: number;
  /**
   * Task type of every call that names none in `providerOptions`.
   * @default "RETRIEVAL_DOCUMENT"
   */
  taskType?: TaskType;
}

/**
 * Per-call `providerOptions.gembed` (`providerOptions.google`'s `taskType` and
 * `outputDimensionality` are read too, so code written for `@ai-sdk/google` keeps working).
 */
export interface GembedEmbeddingProviderOptions {
  /** Task type of this call. */
  taskType?: TaskType | undefined;
  /** Title of every value (with `RETRIEVAL_DOCUMENT` only): for `embed`. */
  title?: string | undefined;
  /** One title per value, in order (with `RETRIEVAL_DOCUMENT` only): for `embedMany`. */
  titles?: (string | undefined | null)[];
  /** Output size of this call. */
  outputDimensionality?: number | undefined;
}

/**
 * Thrown when some values could not be embedded: an `APICallError` (so the AI SDK's retry logic
 * reads `isRetryable`, which is true only when trying again can help: a 5xx, a dropped connection,
 * a timeout, a short answer, a per-minute quota; false for a per-day quota, a bad key or a bad
 * request), carrying every vector
 * already computed. `cause` is gembed's `EmbeddingIncompleteError`.
 */
export class GembedEmbeddingError extends APICallError {
  /** The vectors computed, by value index (undefined where missing). */
  readonly vectors: (number[] | undefined)[];
  /** Indices of the values not embedded. */
  readonly missingIndices: number[];
  constructor(
    incomplete: EmbeddingIncompleteError,
    url: string,
    requestBodyValues: unknown,
    vectors: (number[] | undefined)[],
  ) {
    const cause = incomplete.cause;
    const apiError = cause instanceof GeminiApiError ? cause : undefined;
    const headers: Record<string, string> = {};
    // The AI SDK's retry reads `retry-after-ms`: the wait Gemini named in `RetryInfo`.
    if (apiError?.retryDelayMs !== undefined)
      headers["retry-after-ms"] = String(apiError.retryDelayMs);
    super({
      message: incomplete.message,
      url,
      requestBodyValues,
      ...(apiError ? { statusCode: apiError.httpStatus, responseHeaders: headers } : {}),
      cause: incomplete,
      // gembed retries a short answer itself: one that stays short may still come right.
      isRetryable: isRetryableError(cause, { checkedAnswers: true }),
      data: { missingIndices: incomplete.missingIndices },
    });
    this.vectors = vectors;
    this.missingIndices = incomplete.missingIndices;
  }
}

const TASK_TYPE_SET: ReadonlySet<string> = new Set(TASK_TYPES);

interface CallOptions {
  taskType: TaskType;
  titles: (string | undefined)[] | undefined;
  outputDimensionality: number | undefined;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function invalid(argument: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError({ argument, message });
}

/** Reads and checks `providerOptions.gembed` (and `.google`) for `count` values. */
function readCallOptions(
  providerOptions: EmbeddingModelV3CallOptions["providerOptions"],
  settings: GembedEmbeddingSettings,
  count: number,
): CallOptions {
  const google = record(providerOptions?.google) ?? {};
  const own = record(providerOptions?.gembed) ?? {};
  const taskType = own.taskType ?? google.taskType ?? settings.taskType ?? "RETRIEVAL_DOCUMENT";
  if (typeof taskType !== "string" || !TASK_TYPE_SET.has(taskType)) {
    throw invalid(
      "providerOptions.gembed.taskType",
      `taskType must be one of ${TASK_TYPES.join(", ")}; got ${JSON.stringify(taskType)}.`,
    );
  }
  const dims = own.outputDimensionality ?? google.outputDimensionality;
  if (dims !== undefined && (typeof dims !== "number" || !Number.isInteger(dims) || dims < 1)) {
    throw invalid(
      "providerOptions.gembed.outputDimensionality",
      `outputDimensionality must be a positive integer; got ${JSON.stringify(dims)}.`,
    );
  }
  let titles: (string | undefined)[] | undefined;
  if (own.titles !== undefined) {
    if (!Array.isArray(own.titles) || own.titles.length !== count) {
      throw invalid(
        "providerOptions.gembed.titles",
        `titles must be an array of one title (or null) per value: ${count} values.`,
      );
    }
    titles = own.titles.map((title: unknown, index) => {
      if (title === null || title === undefined) return undefined;
      if (typeof title !== "string") {
        throw invalid(
          "providerOptions.gembed.titles",
          `titles[${index}] must be a string or null.`,
        );
      }
      return title;
    });
  } else if (own.title !== undefined) {
    if (typeof own.title !== "string")
      throw invalid("providerOptions.gembed.title", "title must be a string.");
    titles = Array.from({ length: count }, () => own.title as string);
  }
  if (titles !== undefined && taskType !== "RETRIEVAL_DOCUMENT") {
    // The API answers 400 to a title with any other task type; say so before any call.
    throw invalid(
      "providerOptions.gembed.titles",
      `titles go with taskType RETRIEVAL_DOCUMENT only, not ${taskType}.`,
    );
  }
  return { taskType: taskType as TaskType, titles, outputDimensionality: dims };
}

/** What an interrupted call had done, kept so the AI SDK's retry of it resumes. */
interface PartialWork {
  key: string;
  vectors: (number[] | undefined)[];
}

/** An AI SDK embedding model backed by a `GeminiEmbeddingFunction`. */
export class GembedEmbeddingModel implements EmbeddingModelV3 {
  readonly specificationVersion = "v3";
  readonly provider = "gembed";
  readonly modelId: string;
  /**
   * No limit: `embedMany` hands gembed every value in one call, and gembed chunks them (100 texts
   * and 3.5 MB per request) over its sliding window under its quota limiter. A finite number here
   * would make the AI SDK split and fire every chunk at once, past the limiter.
   */
  readonly maxEmbeddingsPerCall = Number.POSITIVE_INFINITY;
  /** Calls share one limiter per model and output size, so parallel calls stay under the quota. */
  readonly supportsParallelCalls = true;
  readonly #settings: GembedEmbeddingSettings;
  readonly #providerSettings: GembedProviderSettings;
  readonly #functions = new Map<number | undefined, GeminiEmbeddingFunction>();
  // Keyed by the `values` array: the AI SDK's retry passes the same array again.
  readonly #partials = new WeakMap<string[], PartialWork>();

  constructor(
    modelId: string,
    settings: GembedEmbeddingSettings = {},
    providerSettings: GembedProviderSettings = {},
  ) {
    this.modelId = modelId;
    this.#settings = { ...settings };
    this.#providerSettings = { ...providerSettings };
    if (settings.taskType !== undefined && !TASK_TYPE_SET.has(settings.taskType)) {
      throw new RangeError(
        `taskType must be one of ${TASK_TYPES.join(", ")}; got "${settings.taskType}".`,
      );
    }
    // Builds the default one now: bad options and retired models fail here, not at the first call.
    this.embeddingFunction(settings.outputDimensionality);
  }

  /** The `GeminiEmbeddingFunction` of one output size (one limiter each, sharing one client). */
  embeddingFunction(outputDimensionality: number | undefined): GeminiEmbeddingFunction {
    const dims = outputDimensionality ?? this.#settings.outputDimensionality;
    let found = this.#functions.get(dims);
    if (found === undefined) {
      const first = this.#functions.values().next().value as GeminiEmbeddingFunction | undefined;
      const { signal: _signal, ...rest } = this.#providerSettings;
      const options: GeminiEmbeddingFunctionOptions = rest;
      options.modelName = this.modelId;
      if (dims !== undefined) options.config = { outputDimensionality: dims };
      if (first !== undefined) options.client = first.client;
      found = new GeminiEmbeddingFunction(options);
      this.#functions.set(dims, found);
    }
    return found;
  }

  async doEmbed(options: EmbeddingModelV3CallOptions): Promise<EmbeddingModelV3Result> {
    const values = options.values;
    const call = readCallOptions(options.providerOptions, this.#settings, values.length);
    let ef: GeminiEmbeddingFunction;
    try {
      ef = this.embeddingFunction(call.outputDimensionality);
    } catch (error) {
      if (error instanceof RangeError || error instanceof TypeError) {
        throw invalid("providerOptions.gembed.outputDimensionality", error.message);
      }
      throw error;
    }
    const inputs: DocumentInput[] = values.map((text, index) => {
      const title = call.titles?.[index];
      return title === undefined ? text : { text, title };
    });
    const key = JSON.stringify([
      call.taskType,
      call.titles ?? null,
      ef.config.outputDimensionality,
    ]);
    const previous = this.#partials.get(values);
    const vectors: (number[] | undefined)[] =
      previous?.key === key ? [...previous.vectors] : new Array(values.length);
    const missing: number[] = [];
    for (let index = 0; index < values.length; index++) {
      if (vectors[index] === undefined) missing.push(index);
    }
    const signal = anySignal(this.#providerSettings.signal, options.abortSignal);
    try {
      const computed = await ef.encode(
        missing.map((index) => inputs[index]!),
        { taskType: call.taskType, signal },
      );
      computed.forEach((vector, position) => {
        vectors[missing[position]!] = Array.from(vector);
      });
    } catch (error) {
      if (error instanceof InvalidInputError) {
        // Indices of the subset sent: name the caller's indices instead.
        const issues = error.issues.map((issue) => ({
          ...issue,
          index: missing[issue.index] ?? issue.index,
        }));
        throw new InvalidArgumentError({
          argument: "values",
          message: new InvalidInputError(issues, "values").message,
          cause: error,
        });
      }
      if (error instanceof EmbeddingIncompleteError) {
        error.vectors.forEach((vector, position) => {
          if (vector !== undefined) vectors[missing[position]!] = Array.from(vector);
        });
        this.#partials.set(values, { key, vectors });
        const stillMissing: number[] = [];
        for (let index = 0; index < values.length; index++) {
          if (vectors[index] === undefined) stillMissing.push(index);
        }
        const incomplete = new EmbeddingIncompleteError(
          error.message,
          vectors.map((vector) => (vector ? Float32Array.from(vector) : undefined)),
          stillMissing,
          error.cause,
        );
        throw new GembedEmbeddingError(
          incomplete,
          `${ef.client.baseUrl}/v1beta/models/${ef.modelName}:batchEmbedContents`,
          {
            model: ef.modelName,
            taskType: call.taskType,
            outputDimensionality: ef.config.outputDimensionality,
            values: values.length,
          },
          vectors,
        );
      }
      throw error;
    }
    this.#partials.delete(values);
    return { embeddings: vectors as number[][], warnings: [] };
  }
}

/** Both signals, or either, or none (`AbortSignal.any` exists from Node 20.3). */
function anySignal(
  first: AbortSignal | undefined,
  second: AbortSignal | undefined,
): AbortSignal | undefined {
  if (first && second) return AbortSignal.any([first, second]);
  return first ?? second;
}

/** What {@link createGembed} returns: the same model factories as `@ai-sdk/google`'s provider. */
export interface GembedProvider {
  /** An embedding model (`embed`, `embedMany`). */
  embeddingModel(modelId?: string, settings?: GembedEmbeddingSettings): GembedEmbeddingModel;
  /** The same as {@link GembedProvider.embeddingModel}. */
  textEmbeddingModel(modelId?: string, settings?: GembedEmbeddingSettings): GembedEmbeddingModel;
  /** The same as {@link GembedProvider.embeddingModel}. */
  embedding(modelId?: string, settings?: GembedEmbeddingSettings): GembedEmbeddingModel;
}

/**
 * A gembed provider for the AI SDK, the counterpart of `createGoogleGenerativeAI`.
 *
 * @example
 * ```ts
 * import { embedMany } from "ai";
 * import { createGembed } from "@gembed/ai-sdk";
 *
 * const gembed = createGembed({ apiKey: process.env.GEMINI_API_KEY });
 * const { embeddings } = await embedMany({
 *   model: gembed.textEmbeddingModel("gemini-embedding-001", { outputDimensionality: 768 }),
 *   values: ["Alan Turing was born in London."],
 * });
 * ```
 */
export function createGembed(settings: GembedProviderSettings = {}): GembedProvider {
  // The same model for the same id and settings: code that writes
  // `gembed.textEmbeddingModel(id)` inside every call still shares one quota limiter.
  const models = new Map<string, GembedEmbeddingModel>();
  const make = (modelId = "gemini-embedding-001", modelSettings: GembedEmbeddingSettings = {}) => {
    const key = JSON.stringify([
      modelId,
      modelSettings.outputDimensionality ?? null,
      modelSettings.taskType ?? null,
    ]);
    let model = models.get(key);
    if (model === undefined) {
      model = new GembedEmbeddingModel(modelId, modelSettings, settings);
      models.set(key, model);
    }
    return model;
  };
  return { embeddingModel: make, textEmbeddingModel: make, embedding: make };
}

/** The default provider: the API key from `GOOGLE_API_KEY` / `GEMINI_API_KEY`. */
export const gembed: GembedProvider = createGembed();
