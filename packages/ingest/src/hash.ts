import { createHash } from "node:crypto";

/** What a content hash covers. */
export interface ContentHashInput {
  text: string;
  title?: string | undefined;
  /** The embedding model: a different model means a different vector. */
  model: string;
  /** The vector size: a different size means a different vector. */
  dim: number;
}

/**
 * SHA-256 (hex) of everything that decides a chunk's vector: the model, the dimension, the
 * title and the text. Two runs that compute the same hash would get the same vector, so the
 * second one can skip the chunk.
 *
 * @example
 * ```ts
 * contentHash({ text: "hello", model: "gemini-embedding-001", dim: 768 }); // "3f…"
 * ```
 */
export function contentHash(input: ContentHashInput): string {
  // JSON of an array keeps the fields apart: no text can forge another field's boundary.
  return createHash("sha256")
    .update(JSON.stringify([input.model, input.dim, input.title ?? "", input.text]))
    .digest("hex");
}

/**
 * JSON with object keys sorted at every level, so two values that hold the same data give the same
 * string whatever order their keys were written or stored in (Milvus's JSON field, a rows file).
 * Used to tell whether a row's metadata changed.
 *
 * @example
 * ```ts
 * canonicalJson({ b: 1, a: [true, { d: null, c: "x" }] }); // '{"a":[true,{"c":"x","d":null}],"b":1}'
 * ```
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== "object" || value === null) return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    sorted[key] = sortKeys((value as Record<string, unknown>)[key]);
  }
  return sorted;
}
