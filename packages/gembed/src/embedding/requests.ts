/**
 * The request of one input and the vector of one answer: the one place both are made, so the
 * synchronous path (`pipeline.ts`), the Batch API path (`batch/encode-batch.ts`), media inputs
 * (`media.ts`) and the CLI's `batch` command give identical requests and identical vectors.
 *
 * Internal: not exported by `gembed`; the sibling packages reach {@link requestsOf} through
 * `gembed/internal`.
 *
 * @internal
 * @module
 */

import type { DocumentInput, EmbedContentRequest, TaskType } from "../api/types.js";
import type { ModelInfo } from "../models.js";
import type { GeminiEmbeddingFunction } from "./gemini-embedding-function.js";
import { toFloat32Vector } from "./normalization.js";

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

/** What requests and vectors depend on: the embedding function's checked settings. */
export interface EmbeddingRequestSettings {
  /** `models/{id}`. */
  resource: string;
  /** The model's facts; `undefined` for a model gembed does not know. */
  model: ModelInfo | undefined;
  /** `config.outputDimensionality`, when set. */
  outputDimensionality: number | undefined;
  /** Whether vectors the model did not normalize are L2-normalized. */
  normalize: boolean;
}

/**
 * Builds requests and checks vectors for one embedding function; also keeps the output size
 * learned from a first answer for a model gembed does not know.
 */
export class EmbeddingRequests {
  readonly #settings: EmbeddingRequestSettings;
  #learnedDim: number | undefined;

  constructor(settings: EmbeddingRequestSettings) {
    this.#settings = settings;
  }

  /**
   * The request for one text: the task type (for gemini-embedding-2 a task prompt in the text
   * instead), the title with `RETRIEVAL_DOCUMENT` only, and the output size when set.
   */
  buildRequest(input: DocumentInput, taskType: TaskType | undefined): EmbedContentRequest {
    const { resource, model, outputDimensionality } = this.#settings;
    const text = typeof input === "string" ? input : input.text;
    const title = typeof input === "string" ? undefined : input.title;
    const request: EmbedContentRequest = { model: resource, content: { parts: [{ text }] } };
    if (model && !model.supportsTaskType) {
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
    if (outputDimensionality !== undefined) request.outputDimensionality = outputDimensionality;
    return request;
  }

  /**
   * Checks one embedding's length against the known output size (else `InvalidResponseError`),
   * copies it into a `Float32Array` and L2-normalizes it when the model did not (and `normalize`
   * is on). For a model gembed does not know, the first vector's length becomes the output size.
   */
  toVector(values: ArrayLike<number>): Float32Array {
    const expected = this.knownDim();
    const vector = toFloat32Vector(
      values,
      expected,
      this.#settings.normalize && this.#needsNormalization(values?.length),
    );
    if (expected === undefined) this.#learnedDim ??= vector.length;
    return vector;
  }

  /** `config.outputDimensionality`, else the model's default, else the size learned. */
  knownDim(): number | undefined {
    return (
      this.#settings.outputDimensionality ??
      this.#settings.model?.defaultDimension ??
      this.#learnedDim
    );
  }

  /** Keeps `length` as the output size unless one is known already; returns the size kept. */
  learnDim(length: number): number {
    this.#learnedDim ??= length;
    return this.#learnedDim;
  }

  #needsNormalization(length: number | undefined): boolean {
    const model = this.#settings.model;
    return !(model !== undefined && length === model.normalizedDimension);
  }
}

/** Each embedding function's requests, kept off its public surface. */
const byOwner = new WeakMap<object, EmbeddingRequests>();

/** Ties `requests` to the embedding function that made them (its constructor calls this). */
export function attachRequests(owner: object, requests: EmbeddingRequests): void {
  byOwner.set(owner, requests);
}

/**
 * The requests of a `GeminiEmbeddingFunction`, or `undefined` for any other object (a caller's
 * own Batch API embedder builds its requests itself).
 */
export function requestsOf(owner: GeminiEmbeddingFunction): EmbeddingRequests;
export function requestsOf(owner: unknown): EmbeddingRequests | undefined;
export function requestsOf(owner: unknown): EmbeddingRequests | undefined {
  return typeof owner === "object" && owner !== null ? byOwner.get(owner) : undefined;
}
