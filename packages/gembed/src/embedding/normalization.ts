/**
 * The hot path of every answer: turn the `values` of one embedding into a `Float32Array`,
 * checking its length and L2-normalizing it when the model did not.
 *
 * No schema library: one pass copies the values, checks that each is a number (a `typeof`, which
 * costs next to nothing beside the copy) and sums their squares; a NaN or an infinity turns the
 * sum non-finite and an all-zero vector leaves it 0, both caught once at the end. JavaScript would
 * otherwise turn `null`, `true`, `"0.5"` or `[0.5]` into numbers without a word.
 *
 * @module
 */

import { InvalidResponseError } from "../errors.js";

/**
 * Copies `values` into a new `Float32Array`, checking its length and its values and, when
 * `normalize` is true, scaling it to unit L2 norm.
 *
 * @param values - the `values` of one `ContentEmbedding`, as parsed from JSON.
 * @param dimension - the expected length; `undefined` accepts any non-zero length.
 * @param normalize - whether to L2-normalize the copy.
 * @throws InvalidResponseError when the length is wrong, a value is not a finite number (`null`,
 *   `true`, `"0.5"`, `[0.5]`, NaN...), or every value is zero (a vector with no direction).
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
    const value = values[index];
    if (typeof value !== "number") throw notANumber(value, index);
    vector[index] = value;
    sum += value * value;
  }
  if (!(sum > 0 && sum < Number.POSITIVE_INFINITY)) throw badValues(values);
  if (normalize) {
    const scale = 1 / Math.sqrt(sum);
    if (Math.abs(scale - 1) > 1e-7) {
      for (let index = 0; index < length; index++)
        vector[index] = (vector[index] as number) * scale;
    }
  }
  return vector;
}

/**
 * What is wrong with the `values` of one embedding in an answer, or undefined when nothing is: not
 * an array, empty, a value that is not a finite number, or all zeros. The check of
 * {@link toFloat32Vector}, for paths that keep the values as they are (batch results).
 */
export function embeddingValuesProblem(values: unknown): string | undefined {
  if (!Array.isArray(values)) return "the embedding has no values array";
  if (values.length === 0) return "the embedding has no values";
  let sum = 0;
  for (let index = 0; index < values.length; index++) {
    const value: unknown = values[index];
    if (typeof value !== "number") return notANumber(value, index).message;
    sum += value * value;
  }
  return sum > 0 && sum < Number.POSITIVE_INFINITY ? undefined : badValues(values).message;
}

function notANumber(value: unknown, index: number): InvalidResponseError {
  const shown = JSON.stringify(value) ?? String(value);
  return new InvalidResponseError(
    `An embedding holds ${shown.length > 20 ? `${shown.slice(0, 20)}…` : shown} at index ${index}, not a number.`,
  );
}

/** The error of values whose sum of squares is 0, NaN or infinite. */
function badValues(values: ArrayLike<unknown>): InvalidResponseError {
  for (let index = 0; index < values.length; index++) {
    if (!Number.isFinite(values[index])) {
      return new InvalidResponseError(
        `An embedding holds ${String(values[index])} at index ${index}, not a finite number.`,
      );
    }
  }
  return new InvalidResponseError(
    "An embedding is all zeros (a vector with no direction): the answer is invalid.",
  );
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
