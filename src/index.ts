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
export {
  type ChunkOptions,
  type ContentHashInput,
  canonicalJson,
  chunkDocument,
  chunkToRow,
  compileFilter,
  contentHash,
  type DocumentChunk,
  type DocumentEmbedder,
  type EmbeddingRow,
  type IngestOptions,
  type IngestProgress,
  type IngestSummary,
  ingestDocuments,
  ingestStream,
  type JsonValue,
  LocalRowsFile,
  type LocalSearchOptions,
  localRowsSink,
  markdownTitle,
  parseJsonlRow,
  planSources,
  type ReadSourcesOptions,
  type RowHit,
  RowParts,
  type RowSink,
  RowsFileError,
  type RowsFileInfo,
  RowsFileWriteError,
  readSources,
  rescuedVectors,
  rowField,
  rowPartsSink,
  type SourceDocument,
  SourceError,
  type SourceIssue,
  type StoredRowState,
  type StreamIngestOptions,
  type StreamSink,
  searchRowStream,
  splitText,
  streamChunks,
  streamOutputRows,
} from "./ingest/index.js";
export * from "./models.js";
export { estimateTokens } from "./tokens.js";
