/**
 * `@gembed/milvus`: Gemini embeddings into Milvus with the official Node SDK
 * (`@zilliz/milvus2-sdk-node`, an optional peer dependency loaded on first use).
 *
 * @module
 */

export {
  type BatchPlanOptions,
  estimateRowBytes,
  MILVUS_REQUEST_LIMIT_BYTES,
  planBatches,
} from "./batching.js";
export {
  type BulkImportFileOptions,
  type BulkImportFormat,
  bulkImportFormat,
  writeBulkImportFiles,
} from "./bulk-import.js";
export {
  type CollectionDocument,
  type CollectionEmbeddingFunction,
  type CollectionHit,
  type CollectionSearchOptions,
  MilvusCollection,
  milvusStringList,
  type OpenCollectionOptions,
  QUERY_WINDOW_ROWS,
  type WriteOptions,
} from "./collection.js";
export {
  MilvusOperationError,
  MilvusSchemaMismatchError,
  MilvusSdkMissingError,
  MilvusWriteError,
} from "./errors.js";
export {
  findMilvusLiteBin,
  isMilvusLitePath,
  MILVUS_LITE_INSTALL_COMMAND,
  MILVUS_LITE_STOP_GRACE_MS,
  MilvusLiteMissingError,
  type MilvusLiteServer,
  MilvusLiteStartError,
  type StartMilvusLiteOptions,
  startMilvusLite,
} from "./lite.js";
export {
  type CollectionField,
  type CollectionIndex,
  collectionFields,
  collectionIndex,
  collectionModel,
  collectionProblems,
  type DescribedField,
  type DescribedIndex,
  FIELDS,
  ID_MAX_LENGTH,
  METRIC,
  MODEL_PROPERTY,
  TEXT_MAX_LENGTH,
  TITLE_MAX_LENGTH,
} from "./schema.js";
export {
  type ConnectMilvusOptions,
  connectMilvus,
  loadMilvusSdk,
  MILVUS_LITE_TIMEOUT_MS,
  type MilvusSdkModule,
} from "./sdk.js";
export { milvusStreamSink } from "./stream-sink.js";
export { toMilvusVector, toMilvusVectors } from "./vectors.js";
