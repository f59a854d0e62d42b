/**
 * Input checks done before any network call. Every offending index is named at once, so a
 * caller fixes a corpus in one pass instead of one 400 at a time.
 *
 * @module
 */

import type { InputKind } from "../api/types.js";
import { type InputIssue, InvalidInputError } from "../errors.js";
import { describeType } from "../util/objects.js";

export type { DocumentInput, InputKind } from "../api/types.js";

/** An input once checked: the text and, for documents, the title to send (if any). */
export interface NormalizedInput {
  text: string;
  title?: string;
}

/**
 * True for a text with nothing but white space: `\s` is the set `trim()` removes, and the test
 * stops at the first other character instead of copying a text that ends in a newline.
 */
function isBlank(text: string): boolean {
  return !/\S/.test(text);
}

/**
 * Checks one input and returns what is wrong with it, or the normalized input.
 * Used by both the array path and the streaming path.
 */
export function checkInput(
  input: unknown,
  index: number,
  kind: InputKind,
  issues: InputIssue[],
): NormalizedInput | undefined {
  if (typeof input === "string") {
    if (isBlank(input)) {
      issues.push({ index, reason: "empty or whitespace-only text" });
      return undefined;
    }
    return { text: input };
  }
  if (kind === "queries") {
    issues.push({ index, reason: `a query must be a string, got ${describeType(input)}` });
    return undefined;
  }
  if (input === null || typeof input !== "object") {
    issues.push({
      index,
      reason: `expected a string or { text, title? }, got ${describeType(input)}`,
    });
    return undefined;
  }
  const record = input as { text?: unknown; title?: unknown };
  let ok = true;
  if (typeof record.text !== "string") {
    issues.push({ index, field: "text", reason: `not a string (${describeType(record.text)})` });
    ok = false;
  } else if (isBlank(record.text)) {
    issues.push({ index, field: "text", reason: "empty or whitespace-only text" });
    ok = false;
  }
  if (record.title !== undefined && typeof record.title !== "string") {
    issues.push({ index, field: "title", reason: `not a string (${describeType(record.title)})` });
    ok = false;
  }
  if (!ok) return undefined;
  const normalized: NormalizedInput = { text: record.text as string };
  if (typeof record.title === "string" && record.title.trim().length > 0) {
    normalized.title = record.title;
  }
  return normalized;
}

/**
 * Checks a whole list. Throws `TypeError` when `inputs` is not an array, and
 * {@link InvalidInputError} naming every bad index (a non-string, an empty or whitespace-only
 * text, a title that is not a string, an object where a query string is expected).
 */
export function validateInputList(inputs: unknown, kind: InputKind): NormalizedInput[] {
  if (!Array.isArray(inputs)) {
    throw new TypeError(`The ${kind} must be an array, got ${describeType(inputs)}.`);
  }
  const issues: InputIssue[] = [];
  const normalized: NormalizedInput[] = new Array(inputs.length);
  for (let index = 0; index < inputs.length; index++) {
    const input = checkInput(inputs[index], index, kind, issues);
    if (input !== undefined) normalized[index] = input;
  }
  if (issues.length > 0) throw new InvalidInputError(issues, kind);
  return normalized;
}
