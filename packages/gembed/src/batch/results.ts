/**
 * Reading the results of a Batch API job, from inline responses or by streaming its JSONL
 * responses file line by line (memory stays flat whatever the file's size), checking that every
 * key of the input comes back exactly once.
 *
 * @module
 */

import type { BatchOutputLine, InlinedEmbedContentResponse, Status } from "../api/types.js";
import { embeddingValuesProblem } from "../embedding/normalization.js";
import { BatchResultsError, GeminiApiError, InvalidResponseError } from "../errors.js";
import { indexForKey } from "./input.js";

/** One result of a batch job: a vector's values, or the error of a failed item. */
export type BatchItemResult =
  | { index: number; key: string; values: number[]; error?: undefined }
  | { index: number; key: string; error: GeminiApiError; values?: undefined };

/**
 * The keys a job's results must cover:
 * - `{ start, end }`: the decimal keys of input indices `[start, end)` (what gembed submits);
 * - `{ keys, start? }`: explicit keys, `keys[i]` being input `start + i`;
 * - `{ count }`: keys unknown (a job created elsewhere): each must be unique, `count` of them,
 *   numbered in the order they come.
 */
export type BatchKeySpace =
  | { start: number; end: number }
  | { keys: readonly string[]; start?: number }
  | { count: number | undefined };

const SHOWN_KEYS = 10;

/** google.rpc.Code to HTTP status, for errors of single items. */
const HTTP_OF_CODE: Record<number, number> = {
  1: 499,
  2: 500,
  3: 400,
  4: 504,
  5: 404,
  6: 409,
  7: 403,
  8: 429,
  9: 400,
  10: 409,
  11: 400,
  12: 501,
  13: 500,
  14: 503,
  15: 500,
  16: 401,
};

/** Turns the `google.rpc.Status` of a failed item into a typed {@link GeminiApiError}. */
function itemError(status: Status | undefined, key: string): GeminiApiError {
  const code = typeof status?.code === "number" ? status.code : 2;
  const httpStatus = code >= 100 ? code : (HTTP_OF_CODE[code] ?? 500);
  const error: Status = {
    code,
    message: typeof status?.message === "string" ? status.message : "batch item failed",
    ...(typeof status?.status === "string" ? { status: status.status } : {}),
    ...(Array.isArray(status?.details) ? { details: status.details } : {}),
  };
  return GeminiApiError.generate({ httpStatus, error, operation: `batch item ${key}` });
}

/**
 * Follows which keys came back; throws {@link BatchResultsError} on an unknown or repeated key,
 * and from {@link ResultTracker.finish} on missing ones.
 */
class ResultTracker {
  readonly jobName: string;
  readonly #space: BatchKeySpace;
  readonly #seen: Uint8Array;
  readonly #keyIndex: Map<string, number> | undefined;
  readonly #seenKeys: Set<string> | undefined;
  #count = 0;

  constructor(jobName: string, space: BatchKeySpace) {
    this.jobName = jobName;
    this.#space = space;
    if ("end" in space) {
      this.#seen = new Uint8Array(Math.max(0, space.end - space.start));
    } else if ("keys" in space) {
      this.#seen = new Uint8Array(space.keys.length);
      this.#keyIndex = new Map(space.keys.map((key, position) => [key, position]));
    } else {
      this.#seen = new Uint8Array(0);
      this.#seenKeys = new Set();
    }
  }

  /** Results accepted so far. */
  get count(): number {
    return this.#count;
  }

  /** Records `key` and returns its input index. */
  accept(key: unknown, position: number): { index: number; key: string } {
    const space = this.#space;
    if (key === undefined && "end" in space) key = String(space.start + position);
    if (typeof key !== "string") {
      throw new BatchResultsError(
        `Batch job ${this.jobName}: result #${position} carries no key`,
        this.jobName,
        { unknown: [String(key)] },
      );
    }
    let offset: number | undefined;
    let base = 0;
    if ("end" in space) {
      const index = indexForKey(key);
      offset =
        index !== undefined && index >= space.start && index < space.end
          ? index - space.start
          : undefined;
      base = space.start;
    } else if ("keys" in space) {
      offset = this.#keyIndex?.get(key);
      base = space.start ?? 0;
    } else {
      if (this.#seenKeys?.has(key)) this.#duplicate(key);
      this.#seenKeys?.add(key);
      return { index: this.#count++, key };
    }
    if (offset === undefined) {
      throw new BatchResultsError(
        `Batch job ${this.jobName}: result key "${key}" matches no input`,
        this.jobName,
        { unknown: [key] },
      );
    }
    if (this.#seen[offset] === 1) this.#duplicate(key);
    this.#seen[offset] = 1;
    this.#count++;
    return { index: base + offset, key };
  }

  /** Throws when a key of the input did not come back. */
  finish(): void {
    const space = this.#space;
    if ("count" in space) {
      if (space.count !== undefined && this.#count !== space.count) {
        throw new BatchResultsError(
          `Batch job ${this.jobName}: ${this.#count} results for ${space.count} requests`,
          this.jobName,
          {},
        );
      }
      return;
    }
    if (this.#count === this.#seen.length) return;
    const missing: string[] = [];
    let missingCount = 0;
    for (let offset = 0; offset < this.#seen.length; offset++) {
      if (this.#seen[offset] === 1) continue;
      missingCount++;
      if (missing.length < SHOWN_KEYS) {
        missing.push("end" in space ? String(space.start + offset) : String(space.keys[offset]));
      }
    }
    throw new BatchResultsError(
      `Batch job ${this.jobName}: ${missingCount} key(s) missing from the results: ${missing.join(", ")}${missingCount > missing.length ? ", ..." : ""}`,
      this.jobName,
      { missing },
    );
  }

  #duplicate(key: string): never {
    throw new BatchResultsError(
      `Batch job ${this.jobName}: result key "${key}" came back more than once`,
      this.jobName,
      { duplicate: [key] },
    );
  }
}

function toResult(
  at: { index: number; key: string },
  response: { embedding?: { values?: unknown } } | undefined,
  error: Status | undefined,
  jobName: string,
): BatchItemResult {
  if (error !== undefined && error !== null) {
    return { ...at, error: itemError(error, at.key) };
  }
  const values = response?.embedding?.values;
  if (!Array.isArray(values)) {
    throw new InvalidResponseError(
      `Batch job ${jobName}: the result of key "${at.key}" has neither an embedding nor an error`,
    );
  }
  // An answer whose vector is not one (null, "0.5", all zeros...) is never returned: the item
  // counts as failed with a retryable error, so it is embedded again like any failed item.
  const problem = embeddingValuesProblem(values);
  if (problem !== undefined) {
    return {
      ...at,
      error: GeminiApiError.generate({
        httpStatus: 500,
        error: { code: 13, message: `Invalid answer: ${problem}`, status: "INTERNAL" },
        operation: `batch item ${at.key}`,
      }),
    };
  }
  return { ...at, values: values as number[] };
}

/**
 * The results of inline responses, in their order. A response's key is its `metadata.key` when
 * present, else its position (inline responses come in input order).
 */
export function* readInlineResponses(
  jobName: string,
  responses: readonly InlinedEmbedContentResponse[],
  space: BatchKeySpace,
): Generator<BatchItemResult> {
  const tracker = new ResultTracker(jobName, space);
  for (let position = 0; position < responses.length; position++) {
    const item = responses[position] as InlinedEmbedContentResponse;
    const key = item.metadata?.key;
    const at =
      key === undefined && "keys" in space
        ? tracker.accept(space.keys[position], position)
        : tracker.accept(key, position);
    yield toResult(at, item.response, item.error, jobName);
  }
  tracker.finish();
}

/**
 * The results of a JSONL responses file, read line by line from `stream` (a download), in the
 * file's order. Throws {@link BatchResultsError} when a key is missing, repeated or unknown.
 */
export async function* readResponsesFile(
  jobName: string,
  stream: AsyncIterable<Uint8Array | string>,
  space: BatchKeySpace,
): AsyncGenerator<BatchItemResult> {
  const tracker = new ResultTracker(jobName, space);
  let position = 0;
  for await (const line of splitLines(stream)) {
    if (line.trim() === "") continue;
    let parsed: BatchOutputLine;
    try {
      parsed = JSON.parse(line) as BatchOutputLine;
    } catch (cause) {
      throw new InvalidResponseError(
        `Batch job ${jobName}: line ${position + 1} of the responses file is not JSON`,
        { cause },
      );
    }
    const at = tracker.accept(parsed.key, position);
    position++;
    yield toResult(at, parsed.response, parsed.error, jobName);
  }
  tracker.finish();
}

/**
 * The lines of a byte stream, without their line ends. Unlike `readline`, an error of the stream
 * (a dropped download) is thrown to the reader rather than ending the lines early.
 */
export async function* splitLines(
  stream: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of stream as AsyncIterable<Uint8Array | string>) {
    const text =
      rest + (typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }));
    let from = 0;
    for (let end = text.indexOf("\n"); end !== -1; end = text.indexOf("\n", from)) {
      yield text.charCodeAt(end - 1) === 13 ? text.slice(from, end - 1) : text.slice(from, end);
      from = end + 1;
    }
    rest = text.slice(from);
  }
  rest += decoder.decode();
  if (rest.length > 0) yield rest;
}
