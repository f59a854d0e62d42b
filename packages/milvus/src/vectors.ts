/**
 * Vectors in the form the Milvus Node SDK takes: gembed gives `Float32Array`s, the SDK wants
 * `number[]` for a float vector field.
 *
 * @module
 */

/**
 * A plain `number[]` copy of a vector, the form the Milvus Node SDK takes for a float vector
 * field.
 *
 * @example
 * ```ts
 * await milvus.insert({ collection_name: "docs", data: [{ id: 1, vector: toMilvusVector(vector) }] });
 * ```
 */
export function toMilvusVector(vector: Float32Array): number[] {
  return Array.from(vector);
}

/** {@link toMilvusVector} on each vector. */
export function toMilvusVectors(vectors: Float32Array[]): number[][] {
  return vectors.map(toMilvusVector);
}
