import { describe, expect, it } from "vitest";
import { localEmbedding } from "./local-model.js";

function cosine(left: Float32Array, right: Float32Array): number {
  let dot = 0;
  let leftNorm = 0;
  let rightNorm = 0;
  for (let index = 0; index < left.length; index++) {
    const a = left[index] as number;
    const b = right[index] as number;
    dot += a * b;
    leftNorm += a * a;
    rightNorm += b * b;
  }
  return dot / Math.sqrt(leftNorm * rightNorm);
}

function norm(vector: Float32Array): number {
  let sum = 0;
  for (const value of vector) sum += value * value;
  return Math.sqrt(sum);
}

const model = "gemini-embedding-001";

describe("localEmbedding", () => {
  it("is deterministic and 3072 long by default, normalized at 3072", () => {
    const first = localEmbedding("Milvus stores vectors", { model });
    const second = localEmbedding("Milvus stores vectors", { model: `models/${model}` });
    expect(first.length).toBe(3072);
    expect(Array.from(first)).toEqual(Array.from(second));
    expect(norm(first)).toBeCloseTo(1, 5);
  });

  it("truncates like Matryoshka: a prefix of the full vector, not normalized", () => {
    const full = localEmbedding("the quick brown fox", { model });
    const small = localEmbedding("the quick brown fox", { model, outputDimensionality: 768 });
    expect(small.length).toBe(768);
    expect(Array.from(small)).toEqual(Array.from(full.subarray(0, 768)));
    expect(Math.abs(norm(small) - 1)).toBeGreaterThan(0.05);
  });

  it("scores texts that share words clearly above texts that share none, at every size", () => {
    for (const outputDimensionality of [128, 768, 3072]) {
      const options = { model, outputDimensionality };
      const base = localEmbedding("the cat sat on the warm mat", options);
      const shared = localEmbedding("a cat on a mat", options);
      const unrelated = localEmbedding("quantum physics lecture notes", options);
      expect(cosine(base, shared)).toBeGreaterThan(cosine(base, unrelated) + 0.25);
    }
  });

  it("lets a query find the document it shares words with, across task types", () => {
    const query = localEmbedding("how do vector databases index embeddings", {
      model,
      taskType: "RETRIEVAL_QUERY",
    });
    const documents = [
      "Vector databases index embeddings with HNSW graphs",
      "The recipe needs two eggs and some flour",
      "Football season starts in August",
    ].map((text) =>
      localEmbedding(text, { model, taskType: "RETRIEVAL_DOCUMENT", title: "notes" }),
    );
    const scores = documents.map((document) => cosine(query, document));
    expect(scores.indexOf(Math.max(...scores))).toBe(0);
    // The task type changes the vector.
    const asDocument = localEmbedding("how do vector databases index embeddings", {
      model,
      taskType: "RETRIEVAL_DOCUMENT",
    });
    expect(cosine(query, asDocument)).toBeLessThan(0.999);
    expect(cosine(query, asDocument)).toBeGreaterThan(0.8);
  });

  it("gives other vectors for another model", () => {
    const first = localEmbedding("same text", { model });
    const second = localEmbedding("same text", { model: "gemini-embedding-2" });
    expect(cosine(first, second)).toBeLessThan(0.5);
  });

  it("rejects bad options with TypeError and RangeError", () => {
    expect(() => localEmbedding(3 as unknown as string, { model })).toThrow(TypeError);
    expect(() => localEmbedding("x", { model: "text-embedding-004" })).toThrow(RangeError);
    expect(() => localEmbedding("x", { model, outputDimensionality: 64 })).toThrow(RangeError);
    expect(() => localEmbedding("x", { model, outputDimensionality: 1.5 })).toThrow(TypeError);
  });
});
