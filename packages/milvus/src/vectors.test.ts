import { describe, expect, it } from "vitest";
import { toMilvusVector, toMilvusVectors } from "./vectors.js";

describe("toMilvusVector", () => {
  it("gives plain number arrays", () => {
    const vector = new Float32Array([0.5, -0.25]);
    expect(toMilvusVector(vector)).toEqual([0.5, -0.25]);
    expect(Array.isArray(toMilvusVector(vector))).toBe(true);
    expect(toMilvusVectors([vector, new Float32Array([1])])).toEqual([[0.5, -0.25], [1]]);
  });
});
