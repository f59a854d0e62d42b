/**
 * The hot path of every answer: turn the `values` of one embedding into a `Float32Array`,
 * checking its length and L2-normalizing it when the model did not.
 *
 * No schema library and no per-element type check: one pass copies the values and sums their
 * squares; a non-number turns the sum into NaN, which is caught once at the end.
 *
 * @module
 */

import { InvalidResponseError } from "../errors.js";

/**
 * Copies `values` into a new `Float32Array`, checking its length and, when `normalize` is true,
 * scaling it to unit L2 norm (a zero vector is left as it is).
 *
 * @param values - the `values` of one `ContentEmbedding`, as parsed from JSON.
 * @param dimension - the expected length; `undefined` accepts any non-zero length.
 * @param normalize - whether to L2-normalize the copy.
 * @throws InvalidResponseError when the length is wrong or a value is not a finite number.
 */
export function toFloat32Vector(
  values: ArrayLike<number>,
  dimension: number | undefined,
  normalize: boolean,
): Float32Array {
  if (values === null || typeof values !== "object" || typeof values.length !== "number") {
    throw new InvalidResponseError("An embedding has no values array.");
  }
  const length = values.length;
  if (dimension !== undefined ? length !== dimension : length === 0) {
    throw new InvalidResponseError(
      `An embedding has ${length} values, expected ${dimension ?? "at least 1"}.`,
    );
  }
  const vector = new Float32Array(length);
  let sum = 0;
  for (let index = 0; index < length; index++) {
    const value = values[index] as number;
    vector[index] = value;
    sum += value * value;
  }
  if (!Number.isFinite(sum)) {
    throw new InvalidResponseError("An embedding holds a value that is not a finite number.");
  }
  if (normalize && sum > 0) {
    const scale = 1 / Math.sqrt(sum);
    if (Math.abs(scale - 1) > 1e-7) {
      for (let index = 0; index < length; index++)
        vector[index] = (vector[index] as number) * scale;
    }
  }
  return vector;
}

/** The L2 norm of a vector (for checks and tests). */
export function l2Norm(vector: ArrayLike<number>): number {
  let sum = 0;
  for (let index = 0; index < vector.length; index++) {
    const value = vector[index] as number;
    sum += value * value;
  }
  return Math.sqrt(sum);
}
