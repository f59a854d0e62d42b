/**
 * `gembed/internal`: what the sibling packages (`@gembed/server`, `@gembed/ingest`,
 * `@gembed/milvus`, `@gembed/cli`) share with the core beyond its public API. Not for users:
 * names here may change in any release.
 *
 * @internal
 * @module
 */

export { BATCH_STATES, TYPE_URLS } from "./api/types.js";
export { parseBatchStats } from "./batch/batch-job.js";
export { otherJobErrors } from "./batch/decide.js";
export { findSubmittedJob } from "./batch/encode-batch.js";
export { splitLines } from "./batch/results.js";
export { isRetryableError, sleep, withRetry } from "./client/retry.js";
export { MAX_TEXTS_PER_CALL } from "./embedding/chunking.js";
export { STREAM_CONCURRENCY } from "./embedding/gemini-embedding-function.js";
export { type EmbeddingRequests, requestsOf } from "./embedding/requests.js";
export {
  bytesMatchMimeType,
  checkMediaParts,
  estimateMediaTokens,
  type MediaFacts,
  type MediaPartFacts,
  mimeTypeOfName,
  modalityOf,
  readMediaFacts,
  textOnlyModelMessage,
} from "./media-rules.js";
export { modelId, retiredReplacement } from "./models.js";
export { checkInteger, checkNumber } from "./util/checks.js";
export { describeType, isObject } from "./util/objects.js";
