/**
 * Small checks of unknown values, shared by every folder.
 *
 * @module
 */

/** True for a non-null object that is not an array (e.g. a parsed JSON object). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A short description of a value's type for messages (never the value itself). */
export function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}
