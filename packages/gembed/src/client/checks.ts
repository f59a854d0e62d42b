/**
 * The client's argument checks (each throws a TypeError or RangeError naming the argument) and
 * answer-shape checks (each throws an InvalidResponseError naming the call), in one place.
 *
 * @module
 */

import { InvalidOptionError, InvalidResponseError } from "../errors.js";
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

/**
 * `batches/x` or `x` → `batches/x`, with the id escaped for a path. `.` and `..` are refused:
 * escaped or not, `fetch` resolves them as path segments (`batches/..` is the API's root), so the
 * call (and the key) would go to another path than the named resource's.
 */
export function resourcePath(collection: string, name: string): string {
  const text = requiredName(name, "name");
  const id = text.startsWith(`${collection}/`) ? text.slice(collection.length + 1) : text;
  if (id === "" || id.includes("/") || id === "." || id === "..") {
    throw new InvalidOptionError(
      "name",
      `name must be "${collection}/ID" or "ID" (an ID without '/', not '.' or '..'), got ${quoted(text)}.`,
    );
  }
  return `${collection}/${encodeURIComponent(id)}`;
}

/**
 * A model id as the API names them (`gemini-embedding-001`, `text-embedding-004`): a letter or
 * digit, then letters, digits, `.`, `-` and `_`. The id goes into the request path unescaped (as
 * google-genai does), so this is what keeps `../x`, `x?key=y` or `x#y` from sending the call
 * (and the key) to another path.
 */
const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** `models/x` or `x` → `models/x`, refusing a name that is not a model id (see {@link MODEL_ID}). */
export function modelPath(value: unknown, option: string): string {
  const text = requiredName(value, option);
  const id = text.startsWith("models/") ? text.slice("models/".length) : text;
  if (!MODEL_ID.test(id)) {
    throw new InvalidOptionError(
      option,
      `${option} must be a model name such as gemini-embedding-001 or models/gemini-embedding-001 (letters, digits, '.', '-' and '_'), got ${quoted(text)}.`,
    );
  }
  return `models/${id}`;
}

/** A value for a message: JSON-quoted (control characters visible), at most 80 characters. */
function quoted(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
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
    throw new InvalidOptionError(
      optionOfKeySource(source),
      `The API key from ${source} holds a character that cannot be sent in an HTTP header (only visible ASCII is allowed; a non-ASCII letter or a space inside usually means a wrong copy); the key is not shown.`,
    );
  }
  return trimmed;
}

/** The option (or variable) a key came from, for {@link InvalidOptionError.option}. */
function optionOfKeySource(source: string): string {
  if (source === "the apiKey option") return "apiKey";
  if (source === "the x-goog-api-key header") return "headers.x-goog-api-key";
  return source;
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
    // What `Headers` would refuse with a TypeError that quotes the value (a key, maybe): a name
    // that is not an HTTP token, a value with a control character or beyond Latin-1.
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new InvalidOptionError(
        "headers",
        `headers: ${quoted(name)} is not a valid header name.`,
      );
    }
    if (/[^\t\x20-\x7e\x80-\xff]/.test(item)) {
      throw new InvalidOptionError(
        `headers.${name}`,
        `headers.${name} holds a character that cannot be sent in an HTTP header (a control character, or one beyond Latin-1); the value is not shown.`,
      );
    }
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
