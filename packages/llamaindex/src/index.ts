/**
 * `@gembed/llamaindex`: gembed as a LlamaIndex.TS `BaseEmbedding`. See docs/adapters.md.
 *
 * @module
 */

export { GembedEmbedding, type GembedEmbeddingOptions } from "./gembed-embedding.js";
