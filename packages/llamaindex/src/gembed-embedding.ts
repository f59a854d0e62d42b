/**
 * gembed as a LlamaIndex.TS `BaseEmbedding` (`@llamaindex/core/embeddings`, the class LlamaIndex
 * providers extend and `Settings.embedModel` takes): text embeddings as `RETRIEVAL_DOCUMENT`,
 * query embeddings as `RETRIEVAL_QUERY`, batches handed to gembed whole (it chunks, limits and
 * retries), and nodes embedded with their titles when LlamaIndex passes nodes (the transform
 * step of an ingestion pipeline or `VectorStoreIndex`).
 *
 * Imports gembed only through its public entry, so this folder can become its own package.
 *
 * @module
 */

import { BaseEmbedding, type BaseEmbeddingOptions } from "@llamaindex/core/embeddings";
import type { MessageContentDetail } from "@llamaindex/core/llms";
import { type BaseNode, MetadataMode } from "@llamaindex/core/schema";
import { extractSingleText } from "@llamaindex/core/utils";
import {
  type DocumentInput,
  GeminiEmbeddingFunction,
  type GeminiEmbeddingFunctionOptions,
  type TaskType,
} from "gembed";

/**
 * Options of {@link GembedEmbedding}: those of `GeminiEmbeddingFunction`, plus the names
 * LlamaIndex's `GeminiEmbedding` uses (`model`).
 */
export interface GembedEmbeddingOptions extends Omit<GeminiEmbeddingFunctionOptions, "config"> {
  /** The model; the same as `modelName`. @default "gemini-embedding-001" */
  model?: string | undefined;
  /** Output size (Matryoshka truncation). @default the model's default (3072) */
  outputDimensionality?: number | undefined;
  /**
   * One task type for texts and queries alike. Leave it out to get `RETRIEVAL_DOCUMENT` for
   * texts and nodes and `RETRIEVAL_QUERY` for queries.
   * @default undefined
   */
  taskType?: TaskType | undefined;
  /** Stops every call of this instance. */
  signal?: AbortSignal | undefined;
  /** The metadata field holding a node's title. @default "title" */
  titleKey?: string | undefined;
  /** A `GeminiEmbeddingFunction` to use (then the other gembed options are not read). */
  embeddingFunction?: GeminiEmbeddingFunction | undefined;
}

/**
 * LlamaIndex.TS embeddings backed by gembed. Errors are gembed's own (`InvalidInputError`,
 * `EmbeddingIncompleteError` with every vector already computed); never an empty vector.
 *
 * @example
 * ```ts
 * import { Settings } from "llamaindex";
 * import { GembedEmbedding } from "@gembed/llamaindex";
 * Settings.embedModel = new GembedEmbedding({ model: "gemini-embedding-001", outputDimensionality: 768 });
 * ```
 */
export class GembedEmbedding extends BaseEmbedding {
  /** The function the calls go through. */
  readonly embeddingFunction: GeminiEmbeddingFunction;
  readonly #signal: AbortSignal | undefined;
  readonly #titleKey: string;

  constructor(options: GembedEmbeddingOptions = {}) {
    super((nodes: BaseNode[], transformOptions?: BaseEmbeddingOptions) =>
      this!.embedNodes(nodes, transformOptions),
    );
    const { model, outputDimensionality, taskType, signal, titleKey, embeddingFunction, ...rest } =
      options;
    if (model !== undefined && rest.modelName !== undefined && model !== rest.modelName) {
      throw new TypeError(`model ("${model}") and modelName ("${rest.modelName}") differ.`);
    }
    if (titleKey !== undefined && (typeof titleKey !== "string" || titleKey.length === 0)) {
      throw new TypeError("titleKey must be a non-empty string.");
    }
    this.#signal = signal;
    this.#titleKey = titleKey ?? "title";
    if (embeddingFunction) {
      this.embeddingFunction = embeddingFunction;
    } else {
      const functionOptions: GeminiEmbeddingFunctionOptions = { ...rest };
      const modelName = model ?? rest.modelName;
      if (modelName !== undefined) functionOptions.modelName = modelName;
      if (outputDimensionality !== undefined || taskType !== undefined) {
        functionOptions.config = { outputDimensionality, taskType };
      }
      this.embeddingFunction = new GeminiEmbeddingFunction(functionOptions);
    }
    try {
      this.embedInfo = { dimensions: this.embeddingFunction.dim };
    } catch {
      // A model gembed does not know: its size is learned at the first call.
    }
    // gembed chunks by count and bytes itself; LlamaIndex's own batching only adds waits.
    this.embedBatchSize = Number.MAX_SAFE_INTEGER;
    this.getTextEmbeddings = (texts: string[]) => this.#documents(texts);
  }

  /** Embeds one text as a document (`RETRIEVAL_DOCUMENT`). */
  async getTextEmbedding(text: string): Promise<number[]> {
    const [vector] = await this.#documents([text]);
    return vector!;
  }

  /** Embeds one query (`RETRIEVAL_QUERY`); null for a query with no text (an image). */
  override async getQueryEmbedding(query: MessageContentDetail): Promise<number[] | null> {
    const text = typeof query === "string" ? (query as string) : extractSingleText(query);
    if (text === null) return null;
    const [vector] = await this.embeddingFunction.encodeQueries([text], this.#options());
    return Array.from(vector!);
  }

  /** Embeds texts as documents in one gembed call; `progressCallback` hears of each chunk. */
  override async getTextEmbeddingsBatch(
    texts: string[],
    options?: BaseEmbeddingOptions,
  ): Promise<number[][]> {
    return this.#documents(texts, options);
  }

  /**
   * Embeds nodes as documents: the text LlamaIndex embeds (`getContent(MetadataMode.EMBED)`),
   * titled by `metadata[titleKey]` when it is a non-empty string; sets each node's `embedding`.
   */
  async embedNodes(nodes: BaseNode[], options?: BaseEmbeddingOptions): Promise<BaseNode[]> {
    const inputs: DocumentInput[] = nodes.map((node) => {
      const text = node.getContent(MetadataMode.EMBED);
      const title = node.metadata?.[this.#titleKey];
      return typeof title === "string" && title.trim().length > 0 ? { text, title } : text;
    });
    const vectors = await this.#documents(inputs, options);
    nodes.forEach((node, index) => {
      node.embedding = vectors[index]!;
    });
    return nodes;
  }

  async #documents(inputs: DocumentInput[], options?: BaseEmbeddingOptions): Promise<number[][]> {
    const progress = options?.progressCallback;
    const vectors = await this.embeddingFunction.encodeDocuments(inputs, {
      ...this.#options(),
      onProgress: progress ? ({ done, total }) => progress(done, total) : undefined,
    });
    return vectors.map((vector) => Array.from(vector));
  }

  #options(): { signal?: AbortSignal } {
    return this.#signal ? { signal: this.#signal } : {};
  }
}
