/**
 * `@gembed/langchain`: gembed as a LangChain.js `Embeddings`. See docs/adapters.md.
 *
 * @module
 */

export { GembedEmbeddings, type GembedEmbeddingsParams } from "./gembed-embeddings.js";
