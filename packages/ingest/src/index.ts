/**
 * Reading documents, splitting them into chunks, content hashes, and the local bulk-import rows
 * file with its exact cosine search: everything `gembed ingest` and `gembed search` do that does
 * not need a Milvus server.
 *
 * @module
 */

export {
  type BatchIngestJobProgress,
  type BatchIngestOptions,
  type BatchIngestState,
  batchJobFiles,
  ingestBatch,
  JOB_REQUESTS,
} from "./batch-ingest.js";
export { type ChunkOptions, chunkDocument, splitText } from "./chunk.js";
export type { DocumentChunk, EmbeddingRow, JsonValue, SourceDocument } from "./documents.js";
export { RowsFileError, RowsFileWriteError, SourceError, type SourceIssue } from "./errors.js";
export { compileFilter } from "./filter.js";
export { FingerprintSet } from "./fingerprint-set.js";
export { type ContentHashInput, contentHash } from "./hash.js";
export {
  LocalRowsFile,
  type LocalSearchOptions,
  type RowHit,
  type RowsFileInfo,
} from "./local-rows-file.js";
export { localRowsSink } from "./local-sink.js";
export {
  chunkToRow,
  type DocumentEmbedder,
  type DocumentInput,
  type IngestOptions,
  type IngestProgress,
  type IngestSummary,
  ingestDocuments,
  type RowSink,
  rescuedVectors,
  type StoredRowState,
} from "./pipeline.js";
export { isPrunable, pruneRowsFile, pruneScope } from "./prune.js";
export {
  chunkIds,
  metadataHash,
  outputInfo,
  PART_BYTES,
  partPath,
  RowParts,
  type RowPartsOptions,
  streamOutputRows,
} from "./row-parts.js";
export { rowPartsSink } from "./row-parts-sink.js";
export {
  gitignored,
  gitignoreRules,
  globBase,
  type ReadSourcesOptions,
  readSources,
  SKIPPED_FOLDERS,
} from "./sources.js";
export { processRuns, removeStaleTemporaries } from "./stale-temporaries.js";
export { type IndexEntry, StateIndex } from "./state-index.js";
export {
  ingestStream,
  STEP_TEXTS,
  type StoredDigest,
  type StreamEmbedder,
  type StreamIngestOptions,
  type StreamIngestProgress,
  type StreamSink,
  unchangedCheck,
} from "./stream-pipeline.js";
export { searchRowStream } from "./stream-search.js";
export {
  LARGE_FILE_BYTES,
  type PlannedFile,
  planSources,
  type SourcePlan,
  type StreamChunksHooks,
  type StreamedChunk,
  type StreamedUnchangedFile,
  type StreamSourcesOptions,
  splitTextStream,
  streamChunks,
  type UnchangedCheck,
} from "./stream-sources.js";
export { filesInside, isInside } from "./symlinks.js";
