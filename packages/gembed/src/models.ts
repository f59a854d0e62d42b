/**
 * What gembed knows of each Gemini embedding model: dimensions, input limits, what each accepts,
 * and which ones Google retired. The client side (`GeminiEmbeddingFunction`) and the local server
 * share this one table, so both agree on every model.
 *
 * @module
 */

import { RetiredModelError } from "./errors.js";

/** What gembed knows of one embedding model. */
export interface ModelInfo {
  /** The id without `models/`, e.g. `gemini-embedding-001`. */
  id: string;
  displayName: string;
  version: string;
  /** Output size when `outputDimensionality` is not set. */
  defaultDimension: number;
  /** Smallest accepted `outputDimensionality`. */
  minDimension: number;
  /** Largest accepted `outputDimensionality`. */
  maxDimension: number;
  /** The output is L2-normalized only at this size; smaller (truncated) outputs are not. */
  normalizedDimension: number;
  /** Input limit in tokens. */
  inputTokenLimit: number;
  /** Whether the API accepts `taskType` (and `title`) for this model. */
  supportsTaskType: boolean;
  /** Whether `outputDimensionality` may be set. */
  supportsOutputDimensionality: boolean;
}

/** The models that answer today. */
export const MODELS: Readonly<Record<string, ModelInfo>> = {
  "gemini-embedding-001": {
    id: "gemini-embedding-001",
    displayName: "Gemini Embedding 001",
    version: "001",
    defaultDimension: 3072,
    minDimension: 128,
    maxDimension: 3072,
    normalizedDimension: 3072,
    inputTokenLimit: 2048,
    supportsTaskType: true,
    supportsOutputDimensionality: true,
  },
  "gemini-embedding-2": {
    id: "gemini-embedding-2",
    displayName: "Gemini Embedding 2",
    version: "2",
    defaultDimension: 3072,
    minDimension: 128,
    maxDimension: 3072,
    normalizedDimension: 3072,
    inputTokenLimit: 8192,
    supportsTaskType: false,
    supportsOutputDimensionality: true,
  },
  "gemini-embedding-2-preview": {
    id: "gemini-embedding-2-preview",
    displayName: "Gemini Embedding 2 Preview",
    version: "2-preview",
    defaultDimension: 3072,
    minDimension: 128,
    maxDimension: 3072,
    normalizedDimension: 3072,
    inputTokenLimit: 8192,
    supportsTaskType: false,
    supportsOutputDimensionality: true,
  },
};

/** Retired models (404 today) and what replaces each. */
export const RETIRED_MODELS: Readonly<Record<string, string>> = {
  "gemini-embedding-exp-03-07": "gemini-embedding-001",
  "embedding-001": "gemini-embedding-001",
  "text-embedding-004": "gemini-embedding-001",
  "embedding-gecko-001": "gemini-embedding-001",
};

/** The default model. */
export const DEFAULT_MODEL = "gemini-embedding-001";

/** `models/x` or `x` → `x`. */
export function modelId(name: string): string {
  return name.startsWith("models/") ? name.slice("models/".length) : name;
}

/** `models/x` or `x` → `models/x`. */
export function modelResourceName(name: string): string {
  return `models/${modelId(name)}`;
}

/** The known model, or undefined for a model gembed does not know (it may still exist). */
export function getModelInfo(name: string): ModelInfo | undefined {
  return MODELS[modelId(name)];
}

/** The replacement of a retired model, or undefined. */
export function retiredReplacement(name: string): string | undefined {
  return RETIRED_MODELS[modelId(name)];
}

/** Throws {@link RetiredModelError} for a retired model. */
export function assertNotRetired(name: string): void {
  const replacement = retiredReplacement(name);
  if (replacement !== undefined) throw new RetiredModelError(modelId(name), replacement);
}
