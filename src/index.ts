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
export {
  type EmbeddingInput,
  InvalidMediaInputError,
  isMultimodalInput,
  type MediaBytes,
  type MediaInput,
  type MultimodalInput,
  type PartInput,
  type PartsInput,
  UploadCache,
  type UploadedFileInput,
} from "./embedding/media.js";
export {
  MEDIA_FILE_EXTENSIONS,
  mediaMimeTypeOfPath,
  readMediaFile,
} from "./embedding/media-node.js";
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
  type JsonValue,
  LocalRowsFile,
  type LocalSearchOptions,
  localRowsSink,
  markdownTitle,
  parseJsonlRow,
  type ReadSourcesOptions,
  type RowHit,
  type RowSink,
  RowsFileError,
  type RowsFileInfo,
  RowsFileWriteError,
  readSources,
  rescuedVectors,
  rowField,
  type SourceDocument,
  SourceError,
  type SourceIssue,
  type StoredRowState,
  splitText,
} from "./ingest/index.js";
export * from "./media-rules.js";
export * from "./models.js";
export { estimateTokens } from "./tokens.js";
