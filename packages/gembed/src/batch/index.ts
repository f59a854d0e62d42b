/**
 * The Batch API part of gembed: `encodeWithBatchApi` (one call, resumable) and the lower-level
 * `BatchJob`, input planning, resume stores and result readers.
 *
 * @module
 */

export {
  type BatchApiClient,
  BatchJob,
  type BatchProgress,
  type BatchStats,
  type CreateBatchJobOptions,
  parseBatchStats,
  type WaitBatchJobOptions,
} from "./batch-job.js";
export {
  type BatchApiEmbedder,
  type BatchEncodeOptions,
  type BatchEncodeProgress,
  type BatchEncodeResult,
  encodeWithBatchApi,
  encodeWithBatchApiDetailed,
} from "./encode-batch.js";
export {
  type BatchInputLimits,
  type BatchInputMode,
  type BatchJobPlan,
  DEFAULT_BATCH_INPUT_LIMITS,
  planBatchJobs,
} from "./input.js";
export {
  type BatchItemResult,
  type BatchKeySpace,
  readInlineResponses,
  readResponsesFile,
} from "./results.js";
export {
  type BatchRunJobState,
  type BatchRunState,
  type BatchStateStore,
  FileBatchStateStore,
  fingerprintRequests,
  MemoryBatchStateStore,
} from "./state-store.js";
