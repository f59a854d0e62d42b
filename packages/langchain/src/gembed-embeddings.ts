/**
 * gembed as a LangChain.js `Embeddings`: `embedDocuments` sends `RETRIEVAL_DOCUMENT`,
 * `embedQuery` `RETRIEVAL_QUERY`, through `GeminiEmbeddingFunction` (chunking, quota limiting,
 * retries, checked answers). Where LangChain hands over documents rather than strings
 * ({@link GembedEmbeddings.embedDocumentObjects}), each one's title comes from its metadata.
 * Any vector store that takes an `EmbeddingsInterface` (e.g. `@langchain/community`'s Milvus)
 * takes this class unchanged.
 *
 * Imports gembed only through its public entry, so this folder can become its own package.
 *
 * @module
 */

import type { DocumentInterface } from "@langchain/core/documents";
import { Embeddings } from "@langchain/core/embeddings";
import {
  type DocumentInput,
  GeminiEmbeddingFunction,
  type GeminiEmbeddingFunctionOptions,
  type TaskType,
} from "gembed";

/**
 * Options of {@link GembedEmbeddings}: those of `GeminiEmbeddingFunction`, plus the names
 * `GoogleGenerativeAIEmbeddings` uses (`model`, `outputDimensionality`, `taskType`), so
 * switching needs no other change.
 */
export interface GembedEmbeddingsParams extends Omit<GeminiEmbeddingFunctionOptions, "config"> {
  /** The model; the same as `modelName`. @default "gemini-embedding-001" */
  model?: string | undefined;
  /** Output size (Matryoshka truncation). @default the model's default (3072) */
  outputDimensionality?: number | undefined;
  /**
   * One task type for both methods. Leave it out to get `RETRIEVAL_DOCUMENT` for documents and
   * `RETRIEVAL_QUERY` for queries.
   * @default undefined
   */
  taskType?: TaskType | undefined;
  /** Stops every call of this instance (LangChain's embeddings take no per-call options). */
  signal?: AbortSignal | undefined;
  /**
   * The metadata field holding a document's title, for {@link GembedEmbeddings.embedDocumentObjects}.
   * @default "title"
   */
  titleKey?: string | undefined;
  /** A `GeminiEmbeddingFunction` to use (then the other gembed options are not read). */
  embeddingFunction?: GeminiEmbeddingFunction | undefined;
}

/**
 * LangChain.js embeddings backed by gembed. Errors are gembed's own: `InvalidInputError` naming
 * every bad index before any call, `EmbeddingIncompleteError` carrying every vector already
 * computed; never an empty or misplaced vector.
 *
 * @example
 * ```ts
 * import { GembedEmbeddings } from "@gembed/langchain";
 * const embeddings = new GembedEmbeddings({ model: "gemini-embedding-001", outputDimensionality: 768 });
 * const store = await Milvus.fromDocuments(docs, embeddings, { collectionName: "docs" });
 * ```
 */
export class GembedEmbeddings extends Embeddings {
  /** The function the calls go through. */
  readonly embeddingFunction: GeminiEmbeddingFunction;
  readonly #signal: AbortSignal | undefined;
  readonly #titleKey: string;

  constructor(params: GembedEmbeddingsParams = {}) {
    // LangChain's AsyncCaller is not used: gembed retries and limits itself.
    super({ maxRetries: 0 });
    const {
      model,
      outputDimensionality,
      taskType,
      signal,
      titleKey,
      embeddingFunction,
      ...options
    } = params;
    if (model !== undefined && options.modelName !== undefined && model !== options.modelName) {
      throw new TypeError(`model ("${model}") and modelName ("${options.modelName}") differ.`);
    }
    if (titleKey !== undefined && (typeof titleKey !== "string" || titleKey.length === 0)) {
      throw new TypeError("titleKey must be a non-empty string.");
    }
    this.#signal = signal;
    this.#titleKey = titleKey ?? "title";
    if (embeddingFunction) {
      this.embeddingFunction = embeddingFunction;
      return;
    }
    const functionOptions: GeminiEmbeddingFunctionOptions = { ...options };
    const modelName = model ?? options.modelName;
    if (modelName !== undefined) functionOptions.modelName = modelName;
    if (outputDimensionality !== undefined || taskType !== undefined) {
      functionOptions.config = { outputDimensionality, taskType };
    }
    this.embeddingFunction = new GeminiEmbeddingFunction(functionOptions);
  }

  /** Embeds texts as documents (`RETRIEVAL_DOCUMENT`), one `number[]` each, in order. */
  async embedDocuments(documents: string[]): Promise<number[][]> {
    return this.#documents(documents);
  }

  /** Embeds one query (`RETRIEVAL_QUERY`). */
  async embedQuery(document: string): Promise<number[]> {
    const [vector] = await this.embeddingFunction.encodeQueries([document], this.#options());
    return Array.from(vector!);
  }

  /**
   * Embeds LangChain documents with their titles: `pageContent` is the text, `metadata[titleKey]`
   * (a non-empty string) the title. LangChain's `VectorStore.addDocuments` passes only the
   * strings to `embedDocuments`; to keep the titles, embed here and call `addVectors`:
   *
   * @example
   * ```ts
   * await store.addVectors(await embeddings.embedDocumentObjects(docs), docs);
   * ```
   */
  async embedDocumentObjects(documents: DocumentInterface[]): Promise<number[][]> {
    if (!Array.isArray(documents)) throw new TypeError("documents must be an array.");
    return this.#documents(
      documents.map((document) => {
        const title = document?.metadata?.[this.#titleKey];
        const text = document?.pageContent as string;
        return typeof title === "string" && title.trim().length > 0 ? { text, title } : text;
      }),
    );
  }

  async #documents(inputs: DocumentInput[]): Promise<number[][]> {
    const vectors = await this.embeddingFunction.encodeDocuments(inputs, this.#options());
    return vectors.map((vector) => Array.from(vector));
  }

  #options(): { signal?: AbortSignal } {
    return this.#signal ? { signal: this.#signal } : {};
  }
}
