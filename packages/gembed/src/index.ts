/**
 * gembed: Gemini text embeddings for Milvus.
 *
 * This file only re-exports; each part lives in its own folder (see docs/architecture.md).
 *
 * @module
 */

export * from "./api/types.js";
export * from "./batch/index.js";
export * from "./client/gemini-client.js";
export {
  isRetryableError,
  type RetryDelayOptions,
  retryDelayMs,
  sleep,
} from "./client/retry.js";
export {
  type BatchModeEncodeOptions,
  type DocumentInput,
  type EmbeddingConfig,
  type EncodeOptions,
  GeminiEmbeddingFunction,
  type GeminiEmbeddingFunctionOptions,
  type InputKind,
  type InputTooLongInfo,
  toMilvusVector,
  toMilvusVectors,
} from "./embedding/gemini-embedding-function.js";
export { QuotaLimiter, type QuotaOptions } from "./embedding/limiter.js";
export * from "./errors.js";
export * from "./models.js";
export { estimateTokens } from "./tokens.js";
