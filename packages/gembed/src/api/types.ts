/**
 * Wire types of the Gemini embeddings REST API (`v1beta`), with the API's own field names.
 *
 * These are what goes over HTTP, in camelCase as the API answers. int64 fields are strings on the
 * wire (`"requestCount": "2"`), times are RFC 3339 strings. See `../shared/gemini-embeddings-api.md`.
 *
 * @module
 */

/** The task an embedding is optimised for. */
export const TASK_TYPES = [
  "TASK_TYPE_UNSPECIFIED",
  "RETRIEVAL_QUERY",
  "RETRIEVAL_DOCUMENT",
  "SEMANTIC_SIMILARITY",
  "CLASSIFICATION",
  "CLUSTERING",
  "QUESTION_ANSWERING",
  "FACT_VERIFICATION",
  "CODE_RETRIEVAL_QUERY",
] as const;

/** One of {@link TASK_TYPES}. */
export type TaskType = (typeof TASK_TYPES)[number];

/** The state of a batch job (`BatchState`; the SDKs rename these `JOB_STATE_*`). */
export const BATCH_STATES = [
  "BATCH_STATE_UNSPECIFIED",
  "BATCH_STATE_PENDING",
  "BATCH_STATE_RUNNING",
  "BATCH_STATE_SUCCEEDED",
  "BATCH_STATE_FAILED",
  "BATCH_STATE_CANCELLED",
  "BATCH_STATE_EXPIRED",
] as const;

/** One of {@link BATCH_STATES}. */
export type BatchState = (typeof BATCH_STATES)[number];

/** Batch states after which a job never changes again. */
export const TERMINAL_BATCH_STATES: ReadonlySet<BatchState> = new Set<BatchState>([
  "BATCH_STATE_SUCCEEDED",
  "BATCH_STATE_FAILED",
  "BATCH_STATE_CANCELLED",
  "BATCH_STATE_EXPIRED",
]);

/** Bytes sent inside the request, base64-encoded (gemini-embedding-2 media). */
export interface MediaBlob {
  mimeType: string;
  /** Base64 of the bytes. */
  data: string;
}

/** A file of the Files API referenced by its URI (gemini-embedding-2 media). */
export interface FileData {
  mimeType: string;
  /** The file's `uri` as the Files API returned it. */
  fileUri: string;
}

/**
 * A part of a content: a text, or (gemini-embedding-2 only) media inline or as an uploaded file.
 * All parts of one content are embedded into ONE vector.
 */
export interface Part {
  text?: string;
  inlineData?: MediaBlob;
  fileData?: FileData;
}

/** The content to embed. */
export interface Content {
  parts: Part[];
  role?: string;
}

/** The body of `embedContent`, and one item of `batchEmbedContents`. */
export interface EmbedContentRequest {
  /** `models/{model}`; must match the model in the URL. */
  model?: string;
  content: Content;
  taskType?: TaskType;
  /** Only with `RETRIEVAL_DOCUMENT`. */
  title?: string;
  /** Truncates the output (Matryoshka). */
  outputDimensionality?: number;
}

/** One embedding. */
export interface ContentEmbedding {
  values: number[];
}

/** Token usage, in newer API revisions. */
export interface EmbedContentUsageMetadata {
  promptTokenCount?: number;
}

/** The answer of `embedContent`. */
export interface EmbedContentResponse {
  embedding: ContentEmbedding;
  usageMetadata?: EmbedContentUsageMetadata;
}

/** The body of `batchEmbedContents`: at most 100 requests. */
export interface BatchEmbedContentsRequest {
  requests: EmbedContentRequest[];
}

/** The answer of `batchEmbedContents`, in input order. */
export interface BatchEmbedContentsResponse {
  embeddings: ContentEmbedding[];
  usageMetadata?: EmbedContentUsageMetadata;
}

/** One inline request of a batch job. */
export interface InlinedEmbedContentRequest {
  request: EmbedContentRequest;
  metadata?: Record<string, unknown>;
}

/** One inline response of a batch job; `response` or `error`. */
export interface InlinedEmbedContentResponse {
  response?: EmbedContentResponse & { tokenCount?: string };
  error?: Status;
  metadata?: Record<string, unknown>;
}

/** Where a batch job reads its input. */
export interface EmbedInputConfig {
  /** `files/{id}` of an uploaded JSONL file. */
  fileName?: string | undefined;
  requests?: { requests: InlinedEmbedContentRequest[] } | undefined;
}

/** Where a batch job put its output. */
export interface EmbedOutput {
  /** `files/{id}` of the generated JSONL responses file. */
  responsesFile?: string;
  inlinedResponses?: { inlinedResponses: InlinedEmbedContentResponse[] };
}

/** Counts of a batch job (int64, so strings on the wire). */
export interface EmbedBatchStats {
  requestCount?: string;
  successfulRequestCount?: string;
  failedRequestCount?: string;
  pendingRequestCount?: string;
}

/** A batch embedding job. */
export interface EmbedContentBatch {
  /** `batches/{id}`, output only. */
  name?: string;
  model: string;
  displayName: string;
  inputConfig: EmbedInputConfig;
  output?: EmbedOutput;
  createTime?: string;
  updateTime?: string;
  endTime?: string;
  batchStats?: EmbedBatchStats;
  state?: BatchState;
  /** int64 as a string; higher runs first; default "0". */
  priority?: string;
}

/** The body of `asyncBatchEmbedContent`. */
export interface AsyncBatchEmbedContentRequest {
  batch: EmbedContentBatch;
}

/** A `google.protobuf.Any` in JSON form. */
export interface AnyMessage {
  "@type": string;
  [key: string]: unknown;
}

/** `google.rpc.Status`. */
export interface Status {
  code: number;
  message: string;
  status?: string;
  details?: AnyMessage[];
}

/** A long-running operation (the batch job resource). */
export interface Operation<M = EmbedContentBatch & { "@type"?: string }> {
  name: string;
  metadata?: M;
  done?: boolean;
  error?: Status;
  response?: AnyMessage;
}

/** A page of `batches.list`. */
export interface ListOperationsResponse {
  operations?: Operation[];
  nextPageToken?: string;
}

/** The state of an uploaded or generated file. */
export type FileState = "STATE_UNSPECIFIED" | "PROCESSING" | "ACTIVE" | "FAILED";

/** Where a file came from. */
export type FileSource = "SOURCE_UNSPECIFIED" | "UPLOADED" | "GENERATED";

/** A file of the files API. */
export interface File {
  /** `files/{id}`. */
  name: string;
  displayName?: string;
  mimeType?: string;
  /** int64 as a string. */
  sizeBytes?: string;
  createTime?: string;
  updateTime?: string;
  expirationTime?: string;
  sha256Hash?: string;
  uri?: string;
  downloadUri?: string;
  state?: FileState;
  source?: FileSource;
  error?: Status;
}

/** A page of `files.list`. */
export interface ListFilesResponse {
  files?: File[];
  nextPageToken?: string;
}

/** A model of `models.list`. */
export interface Model {
  name: string;
  baseModelId?: string;
  version?: string;
  displayName?: string;
  description?: string;
  inputTokenLimit?: number;
  outputTokenLimit?: number;
  supportedGenerationMethods?: string[];
}

/** A page of `models.list`. */
export interface ListModelsResponse {
  models?: Model[];
  nextPageToken?: string;
}

/** One line of a batch input JSONL file. */
export interface BatchInputLine {
  key: string;
  request: EmbedContentRequest;
}

/** One line of a batch responses JSONL file. */
export interface BatchOutputLine {
  key: string;
  response?: { tokenCount?: string; embedding: ContentEmbedding };
  error?: Status;
}

/** `@type` names of the messages this API puts in `details`, `metadata` and `response`. */
export const TYPE_URLS = {
  embedContentBatch: "type.googleapis.com/google.ai.generativelanguage.v1beta.EmbedContentBatch",
  embedContentBatchOutput:
    "type.googleapis.com/google.ai.generativelanguage.v1beta.EmbedContentBatchOutput",
  retryInfo: "type.googleapis.com/google.rpc.RetryInfo",
  quotaFailure: "type.googleapis.com/google.rpc.QuotaFailure",
  errorInfo: "type.googleapis.com/google.rpc.ErrorInfo",
  badRequest: "type.googleapis.com/google.rpc.BadRequest",
} as const;

// ----- gembed's own input types, shared by the sync and the batch paths -----

/** One text to embed: a plain string, or a text with an optional title (documents only). */
export type DocumentInput = string | { text: string; title?: string };

/** What a list of inputs holds: decides what is allowed (queries take plain strings only). */
export type InputKind = "documents" | "queries" | "texts";
