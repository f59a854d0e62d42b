/**
 * The client's argument checks (each throws a TypeError or RangeError naming the argument) and
 * answer-shape checks (each throws an InvalidResponseError naming the call), in one place.
 *
 * @module
 */

import { InvalidResponseError } from "../errors.js";
import { checkNumber } from "../util/checks.js";
import { isObject } from "../util/objects.js";
import type { RequestOptions } from "./http.js";

/** A short description of an unexpected answer for a message: its first keys or its type. */
export function describeShape(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (isObject(value)) {
    const keys = Object.keys(value).slice(0, 5);
    return keys.length ? `keys ${keys.join(", ")}` : "an empty object";
  }
  return value === null ? "null" : typeof value;
}

/** An answer that must be an object with a `name` (an Operation, a File, a Model). */
export function checkNamed<T>(value: unknown, operation: string, what: string): T {
  if (!isObject(value) || typeof value.name !== "string") {
    throw new InvalidResponseError(
      `${operation}: expected ${what} with a name (got ${describeShape(value)}).`,
    );
  }
  return value as T;
}

/** An `EmbedContentRequest` must at least be an object with `content.parts`. */
export function checkRequest(request: unknown, what: string): void {
  if (!isObject(request)) throw new TypeError(`${what} must be an object`);
  if (!isObject(request.content) || !Array.isArray(request.content.parts)) {
    throw new TypeError(`${what}.content.parts must be an array`);
  }
}

/** A non-empty string argument. */
export function requiredName(value: unknown, what: string): string {
  if (typeof value !== "string") throw new TypeError(`${what} must be a string`);
  if (value.trim() === "") throw new RangeError(`${what} must not be empty`);
  return value;
}

/** `batches/x` or `x` → `batches/x`, with the id escaped for a path. */
export function resourcePath(collection: string, name: string): string {
  const text = requiredName(name, "name");
  const id = text.startsWith(`${collection}/`) ? text.slice(collection.length + 1) : text;
  if (id === "" || id.includes("/")) {
    throw new RangeError(`name must be "${collection}/ID" or "ID", got "${text}"`);
  }
  return `${collection}/${encodeURIComponent(id)}`;
}

/** The per-call options: an `AbortSignal`, a timeout, a retry count. */
export function checkRequestOptions(options: RequestOptions | undefined): RequestOptions {
  if (options === undefined) return {};
  if (!isObject(options)) throw new TypeError("request options must be an object");
  const result: RequestOptions = {};
  if (options.signal !== undefined) {
    if (!(options.signal instanceof AbortSignal)) {
      throw new TypeError("signal must be an AbortSignal");
    }
    result.signal = options.signal;
  }
  if (options.timeout !== undefined) result.timeout = positiveNumber(options.timeout, "timeout");
  if (options.maxRetries !== undefined) {
    result.maxRetries = retryCount(options.maxRetries, "maxRetries");
  }
  return result;
}

/**
 * Surrounding whitespace is dropped (HTTP would drop it too). A key with any other character that
 * is not visible ASCII cannot go into a header: `fetch` would throw a TypeError quoting the whole
 * header value, the key included, so it is refused here with a message that does not show it.
 */
export function checkApiKey(key: string, source: string): string {
  const trimmed = key.trim();
  if (!/^[\x21-\x7e]+$/.test(trimmed)) {
    throw new TypeError(
      `The API key from ${source} holds a character that cannot be sent in an HTTP header (only visible ASCII is allowed); the key is not shown.`,
    );
  }
  return trimmed;
}

/** An empty or blank string counts as not given. */
export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

/** A string argument that may be left out. */
export function optionalString(value: unknown, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new TypeError(`${what} must be a string`);
  return value;
}

/** Extra headers: an object of strings, copied. */
export function optionalHeaders(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (!isObject(value)) throw new TypeError("headers must be an object of strings");
  const headers: Record<string, string> = {};
  for (const [name, item] of Object.entries(value)) {
    if (typeof item !== "string") throw new TypeError(`header "${name}" must be a string`);
    headers[name] = item;
  }
  return headers;
}

/** A time in ms > 0 that `setTimeout` can hold. */
export function positiveNumber(value: unknown, what: string, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  const number = checkNumber(value, what);
  if (!(number > 0) || !Number.isFinite(number) || number > 2_147_483_647) {
    throw new RangeError(`${what} must be > 0 and at most 2147483647 ms, got ${number}`);
  }
  return number;
}

/** A time in ms >= 0 that `setTimeout` can hold. */
export function nonNegativeNumber(value: unknown, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  const number = checkNumber(value, what);
  if (!(number >= 0) || number > 2_147_483_647) {
    throw new RangeError(`${what} must be >= 0 and at most 2147483647 ms, got ${number}`);
  }
  return number;
}

/** A number of retries from 0 to 100. */
export function retryCount(value: unknown, what: string, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  const number = checkNumber(value, what);
  if (!Number.isInteger(number) || number < 0 || number > 100) {
    throw new RangeError(`${what} must be an integer from 0 to 100, got ${number}`);
  }
  return number;
}

/** An integer >= 1. */
export function positiveInteger(value: unknown, what: string, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  const number = checkNumber(value, what);
  if (!Number.isSafeInteger(number) || number < 1) {
    throw new RangeError(`${what} must be an integer >= 1, got ${number}`);
  }
  return number;
}

/** An integer >= 0. */
export function nonNegativeInteger(value: unknown, what: string): number {
  const number = checkNumber(value, what);
  if (!Number.isSafeInteger(number) || number < 0) {
    throw new RangeError(`${what} must be an integer >= 0, got ${number}`);
  }
  return number;
}
