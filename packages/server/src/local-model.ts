/**
 * The local embedding model of `gembed serve`: deterministic, fast, no weights.
 *
 * How it works: a text is lower-cased and split into words (Unicode letters and digits). Each
 * distinct word is hashed (FNV-1a, then a murmur3 finalizer) to an offset into one fixed table of
 * pseudo-random numbers (mulberry32, seeded once); the word's vector is the 3072 numbers starting
 * at that offset, with a sign from the hash. A text's vector is the weighted sum of its words'
 * vectors (weight `1 + ln(count)`, halved for words of one or two characters), plus a small
 * component from the whole text (so two texts with the same bag of words still differ a little)
 * and, when a task type is given, a small task component. Each dimension is therefore an
 * independent random projection of the bag of words, so any prefix of a vector is itself a
 * (smaller) random projection: a usable embedding, like Gemini's Matryoshka truncation.
 *
 * Texts that share words get a clearly higher cosine than texts that share none; a query and a
 * document that share words still match across task types (the task component is small).
 *
 * These vectors stand in for Gemini's: they carry no meaning beyond shared words, and must never
 * be mixed with real Gemini vectors in one collection.
 *
 * @module
 */

import { estimateTokens, getModelInfo, type ModelInfo, type TaskType } from "gembed";
import { modelId } from "gembed/internal";

/** The full size of every vector of the local model. */
export const FULL_DIMENSION = 3072;

/** Values go over the wire as multiples of 1e-9 (as many digits as a float32 carries). */
const QUANTUM = 1e9;

const TABLE_BITS = 20;
const TABLE_SIZE = 1 << TABLE_BITS;
const TABLE_MASK = TABLE_SIZE - 1;

/** 2^20 + 3072 pseudo-random numbers in [-1, 1): a word's vector is a window of it. */
const TABLE: Float32Array = (() => {
  const table = new Float32Array(TABLE_SIZE + FULL_DIMENSION);
  let state = 0x9e3779b9;
  for (let index = 0; index < table.length; index++) {
    // mulberry32
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    table[index] = ((t ^ (t >>> 14)) >>> 0) / 2147483648 - 1;
  }
  return table;
})();

/** FNV-1a over the UTF-16 code units of a string, with a seed. */
function fnv1a(text: string, seed: number): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** murmur3's 32-bit finalizer: spreads the bits of an FNV hash. */
function mix(value: number): number {
  let hash = value >>> 0;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/**
 * Adds `weight` times the table window chosen by `hash` to the first `size` values (`size` is a
 * multiple of 4; unrolled, as this loop is the model's whole cost).
 */
function addFeature(vector: Float32Array, hash: number, weight: number, size: number): void {
  const mixed = mix(hash);
  const offset = mixed & TABLE_MASK;
  const signed = mixed & 0x80000000 ? -weight : weight;
  const table = TABLE;
  for (let index = 0; index < size; index += 4) {
    const at = offset + index;
    vector[index] = (vector[index] as number) + signed * (table[at] as number);
    vector[index + 1] = (vector[index + 1] as number) + signed * (table[at + 1] as number);
    vector[index + 2] = (vector[index + 2] as number) + signed * (table[at + 2] as number);
    vector[index + 3] = (vector[index + 3] as number) + signed * (table[at + 3] as number);
  }
}

const WORD = /[\p{L}\p{N}]+/gu;

/** Adds the bag of words of a text; returns the sum of squared weights. */
function addWords(
  vector: Float32Array,
  text: string,
  seed: number,
  scale: number,
  size: number,
): number {
  const counts = new Map<string, number>();
  for (const match of text.toLowerCase().matchAll(WORD)) {
    const word = match[0];
    counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  let squared = 0;
  for (const [word, count] of counts) {
    const weight = scale * (1 + Math.log(count)) * (word.length <= 2 ? 0.5 : 1);
    addFeature(vector, fnv1a(word, seed), weight, size);
    squared += weight * weight;
  }
  return squared;
}

/** What shapes a local embedding, besides the text. */
export interface LocalEmbeddingOptions {
  /** `gemini-embedding-001` or `models/gemini-embedding-001`; each model gives other vectors. */
  model: string;
  /** The task type; adds a small task-dependent component. @default undefined (none) */
  taskType?: TaskType;
  /** A document title (used with `RETRIEVAL_DOCUMENT` only). @default undefined */
  title?: string;
  /** Output size (Matryoshka truncation). @default the model's default (3072) */
  outputDimensionality?: number;
}

/**
 * Computes the output of the local model as integers: `values[i] / 1e9` is the value the server
 * sends. The whole 3072-value vector is L2-normalized (like `gemini-embedding-001`, whose 3072
 * output alone is normalized) and the first `dimension` values are returned, so a truncated
 * output is exactly a prefix of the full one and is not normalized.
 *
 * @internal
 */
export function embedQuantized(
  text: string,
  model: ModelInfo,
  dimension: number,
  taskType: TaskType | undefined,
  title: string | undefined,
): Int32Array {
  const seed = fnv1a(model.id, 7);
  // The norm is taken over the full vector, so all of it is computed; only `dimension` values
  // are quantized and sent.
  const size = Math.ceil(Math.max(model.normalizedDimension, dimension) / 4) * 4;
  const vector = new Float32Array(size);
  let squared = addWords(vector, text, seed, 1, size);
  if (title !== undefined && title.length > 0) squared += addWords(vector, title, seed, 0.5, size);
  const base = Math.sqrt(squared);
  addFeature(vector, fnv1a(text, seed ^ 0x5bd1e995), 0.1 * base + 0.05, size);
  if (taskType !== undefined && taskType !== "TASK_TYPE_UNSPECIFIED") {
    addFeature(vector, fnv1a(taskType, seed ^ 0x27d4eb2f), 0.25 * base, size);
  }
  let norm = 0;
  for (let index = 0; index < size; index++) {
    const value = vector[index] as number;
    norm += value * value;
  }
  const scale = norm > 0 ? QUANTUM / Math.sqrt(norm) : 0;
  const output = new Int32Array(dimension);
  for (let index = 0; index < dimension; index++) {
    output[index] = Math.round((vector[index] as number) * scale);
  }
  return output;
}

/**
 * The input as the model sees it: a text over the model's input token limit (by the
 * {@link estimateTokens} estimate) is silently cut to the limit, and its token count capped.
 *
 * @internal
 */
export function fitInput(text: string, model: ModelInfo): { text: string; tokens: number } {
  const tokens = estimateTokens(text);
  if (tokens <= model.inputTokenLimit) return { text, tokens };
  return { text: text.slice(0, model.inputTokenLimit * 4), tokens: model.inputTokenLimit };
}

/** The quantum of the wire values: `values[i] / VALUE_QUANTUM` is what the server sends. */
export const VALUE_QUANTUM = QUANTUM;

/**
 * The deterministic local model: exactly the vector the server returns in `values` for one text
 * with these options (truncated to `outputDimensionality`, normalized only at 3072 like the real
 * `gemini-embedding-001`). Unknown model names throw a `RangeError`.
 *
 * The vectors stand in for Gemini's in tests and offline work; never mix them with real Gemini
 * vectors in one collection.
 *
 * @example
 * ```ts
 * const vector = localEmbedding("hello world", { model: "gemini-embedding-001", outputDimensionality: 768 });
 * ```
 */
export function localEmbedding(text: string, options: LocalEmbeddingOptions): Float32Array {
  if (typeof text !== "string") throw new TypeError("text must be a string");
  if (typeof options !== "object" || options === null || typeof options.model !== "string") {
    throw new TypeError("options.model must be a string");
  }
  const model = getModelInfo(options.model);
  if (model === undefined) throw new RangeError(`unknown model "${modelId(options.model)}"`);
  const dimension = options.outputDimensionality ?? model.defaultDimension;
  if (!Number.isInteger(dimension)) throw new TypeError("outputDimensionality must be an integer");
  if (dimension < model.minDimension || dimension > model.maxDimension) {
    throw new RangeError(
      `outputDimensionality must be between ${model.minDimension} and ${model.maxDimension}`,
    );
  }
  const title = options.taskType === "RETRIEVAL_DOCUMENT" ? options.title : undefined;
  const quantized = embedQuantized(
    fitInput(text, model).text,
    model,
    dimension,
    options.taskType,
    title,
  );
  const output = new Float32Array(dimension);
  for (let index = 0; index < dimension; index++) {
    output[index] = (quantized[index] as number) / QUANTUM;
  }
  return output;
}
