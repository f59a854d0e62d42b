import { describe, expect, it } from "vitest";
import { InvalidResponseError } from "../errors.js";
import { l2Norm, toFloat32Vector } from "./normalization.js";

describe("toFloat32Vector", () => {
  it("copies and L2-normalizes", () => {
    const values = [3, 4];
    const vector = toFloat32Vector(values, 2, true);
    expect(vector).toBeInstanceOf(Float32Array);
    expect(Array.from(vector)).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.8, 6)]);
    expect(values).toEqual([3, 4]);
  });

  it("leaves values as they are when normalize is off", () => {
    expect(Array.from(toFloat32Vector([3, 4], 2, false))).toEqual([3, 4]);
  });

  it("normalizes a 3072-long vector to norm 1", () => {
    const values = Array.from({ length: 3072 }, (_, index) => Math.sin(index) * 0.3);
    expect(l2Norm(toFloat32Vector(values, 3072, true))).toBeCloseTo(1, 5);
  });

  it("refuses a zero vector (no direction: an invalid answer)", () => {
    expect(() => toFloat32Vector([0, 0, 0], 3, true)).toThrow(/all zeros/);
    expect(() => toFloat32Vector([0, 0, 0], 3, false)).toThrow(InvalidResponseError);
  });

  it("rejects a wrong length, a missing array and non-numbers", () => {
    expect(() => toFloat32Vector([1, 2, 3], 4, true)).toThrow(InvalidResponseError);
    expect(() => toFloat32Vector([], undefined, true)).toThrow(InvalidResponseError);
    expect(() => toFloat32Vector(undefined as unknown as number[], 3, true)).toThrow(
      InvalidResponseError,
    );
    expect(() => toFloat32Vector([1, "x", 3] as unknown as number[], 3, true)).toThrow(
      /"x" at index 1, not a number/,
    );
    expect(() => toFloat32Vector([1, Number.NaN, 3], 3, false)).toThrow(InvalidResponseError);
  });
});
