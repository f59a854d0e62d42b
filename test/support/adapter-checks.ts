/**
 * Checks shared by the adapter tests: a vector is the local server's deterministic one for its
 * text, task type, title and size (so a wrong task type, a lost title or a shifted order shows),
 * and unit-length.
 *
 * @module
 */

import { localEmbedding } from "@gembed/server";
import type { TaskType } from "gembed";
import { expect } from "vitest";

export const MODEL = "gemini-embedding-001";

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let index = 0; index < a.length; index++) {
    dot += (a[index] as number) * (b[index] as number);
    normA += (a[index] as number) ** 2;
    normB += (b[index] as number) ** 2;
  }
  return dot / Math.sqrt(normA * normB);
}

export function norm(vector: ArrayLike<number>): number {
  let sum = 0;
  for (let index = 0; index < vector.length; index++) sum += (vector[index] as number) ** 2;
  return Math.sqrt(sum);
}

/** Each vector is the server's for its text (same index), task type, title and size, unit-length. */
export function expectServerVectors(
  vectors: (ArrayLike<number> | undefined)[],
  texts: string[],
  taskType: TaskType,
  dimension: number,
  titles: (string | undefined)[] = [],
): void {
  expect(vectors.length).toBe(texts.length);
  texts.forEach((text, index) => {
    const vector = vectors[index];
    expect(vector?.length, `vector ${index}`).toBe(dimension);
    const title = titles[index];
    const expected = localEmbedding(text, {
      model: MODEL,
      taskType,
      outputDimensionality: dimension,
      ...(title ? { title } : {}),
    });
    expect(cosine(vector!, expected), `vector ${index}`).toBeGreaterThan(0.99999);
    expect(norm(vector!), `norm of vector ${index}`).toBeCloseTo(1, 5);
  });
}

export const corpus = (count: number, prefix: string): string[] =>
  Array.from({ length: count }, (_, index) => `${prefix} ${index} milvus vector search`);
