/**
 * `@gembed/server`: a local server that answers the embeddings surface of the Gemini API the way
 * the real service does (same paths, JSON and error bodies), with a deterministic local model,
 * quotas, fault injection, batch jobs and the files API. See docs/local-server.md.
 *
 * @module
 */

export {
  embedQuantized,
  FULL_DIMENSION,
  type LocalEmbeddingOptions,
  localEmbedding,
} from "./local-model.js";
export type {
  BatchOptions,
  FaultOptions,
  RunningServer,
  ServerOptions,
  ServerQuotaOptions,
  ServerStats,
} from "./options.js";
export { resolveOptions } from "./options.js";
export { startServer } from "./server.js";
export { DataFolderError } from "./storage.js";
