/**
 * `@gembed/ai-sdk`: gembed as an AI SDK embedding model, for `embed` and `embedMany`.
 * See docs/adapters.md.
 *
 * @module
 */

export {
  createGembed,
  GembedEmbeddingError,
  GembedEmbeddingModel,
  type GembedEmbeddingProviderOptions,
  type GembedEmbeddingSettings,
  type GembedProvider,
  type GembedProviderSettings,
  gembed,
} from "./embedding-model.js";
