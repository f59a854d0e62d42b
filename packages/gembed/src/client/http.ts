/**
 * The HTTP core of {@link GeminiClient}: one attempt with a per-attempt timeout combined with the
 * caller's signal, error answers parsed as `google.rpc.Status`, and the retry loop.
 *
 * The API key lives only in a private field and only ever goes into the `x-goog-api-key` header.
 *
 * @module
 */

import { Buffer, Readable } from "#platform";
import type { Status } from "../api/types.js";
import {
  GeminiApiError,
  GeminiConnectionError,
  GeminiTimeoutError,
  MissingApiKeyError,
  RedirectError,
} from "../errors.js";
import { isObject } from "../util/objects.js";
import { utf8Bytes } from "../util/utf8.js";
import { redactJson, redactText } from "./redact.js";
import { abortError, DEFAULT_BASE_DELAY, isRetryableError, withRetry } from "./retry.js";

/** Options every client call takes. */
export interface RequestOptions {
  /**
   * Aborts the call, including a retry wait (and a download's body); the call then rejects with
   * `GembedAbortError`.
   * @default undefined (no abort)
   */
  signal?: AbortSignal | undefined;
  /**
   * Time limit of one attempt in ms (for a download: until the answer's headers arrive).
   * @default the client's `timeout`
   */
  timeout?: number | undefined;
  /**
   * Retries after the first attempt.
   * @default the client's `maxRetries`
   */
  maxRetries?: number | undefined;
}

/** What {@link RetryEvent} listeners learn before each retry wait. */
export interface RetryEvent {
  /** The failed attempt, from 0. */
  attempt: number;
  /** The wait before the next attempt, in ms. */
  delayMs: number;
  /** Why the attempt failed. */
  error: unknown;
  /** What was being done, e.g. `POST models/gemini-embedding-001:batchEmbedContents`. */
  operation: string;
}

/** The settings of a {@link Transport}. */
export interface TransportSettings {
  apiKey: string | undefined;
  timeout: number;
  maxRetries: number;
  maxRetryDelay: number;
  headers: Record<string, string>;
  fetch: typeof fetch;
  onRetry: ((event: RetryEvent) => void) | undefined;
  /** Where the key came from (`GOOGLE_API_KEY`, `the apiKey option`…), named when it is refused. */
  keySource?: string | undefined;
}

/**
 * Which failures a call may retry. `"all"`: every retryable error. `"safe"`: only failures where
 * the server surely did nothing (429, 503, a refused connection), for calls that are not
 * idempotent (creating a batch job, DELETE). Upload chunks have their own recovery (`query`).
 */
export type RetryPolicy = "all" | "safe";

/** One call. */
export interface Call {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  url: string;
  /** For messages, e.g. `POST models/x:embedContent`; never holds a key. */
  operation: string;
  /** A JSON body (serialised here) or raw bytes. */
  json?: unknown;
  bytes?: Uint8Array;
  headers?: Record<string, string>;
  /** Send the API key. @default true */
  sendKey?: boolean;
  retry?: RetryPolicy;
}

/** The answer of a call whose body was read. */
export interface TextAnswer {
  response: Response;
  text: string;
}

const CONNECTION_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/** The HTTP transport; see the module comment. */
export class Transport {
  readonly #apiKey: string | undefined;
  readonly #settings: Omit<TransportSettings, "apiKey">;

  constructor(settings: TransportSettings) {
    const { apiKey, ...rest } = settings;
    this.#apiKey = apiKey;
    this.#settings = rest;
  }

  /** Whether a key is set. */
  get hasApiKey(): boolean {
    return this.#apiKey !== undefined;
  }

  /** The settings, without the key. */
  get settings(): Readonly<Omit<TransportSettings, "apiKey">> {
    return this.#settings;
  }

  /** Sends a call (with retries) and reads the whole body. */
  send(call: Call, options: RequestOptions = {}): Promise<TextAnswer> {
    return this.#withRetries(call, options, false) as Promise<TextAnswer>;
  }

  /** Sends a call (with retries) and returns the answer with its body unread. */
  async sendStreaming(call: Call, options: RequestOptions = {}): Promise<Response> {
    const answer = (await this.#withRetries(call, options, true)) as TextAnswer;
    return answer.response;
  }

  /**
   * The body of a streamed answer as a Node stream whose errors are typed like the call's: a
   * connection dropped mid-body is a `GeminiConnectionError`, the caller's abort a
   * `GembedAbortError`. Destroying the stream cancels the body.
   */
  readable(response: Response, call: Call, options: RequestOptions = {}): Readable {
    const body = response.body;
    if (body === null) return Readable.from([], { objectMode: false });
    const signal = options.signal;
    const redact = (text: string) => this.redact(text);
    async function* pieces(): AsyncGenerator<Uint8Array> {
      try {
        yield* body as unknown as AsyncIterable<Uint8Array>;
      } catch (error) {
        if (signal?.aborted) throw abortError(signal);
        if (isConnectionFailure(error)) {
          throw new GeminiConnectionError(
            redact(
              `Connection failed while reading the body (${call.operation}): ${describeCause(error)}`,
            ),
            { cause: error },
          );
        }
        throw error;
      }
    }
    return Readable.from(pieces(), { objectMode: false });
  }

  /** `text` with the API key (and any `key=` parameter) replaced by `[redacted]`. */
  redact(text: string): string {
    return redactText(text, this.#apiKey);
  }

  async #withRetries(
    call: Call,
    options: RequestOptions,
    streaming: boolean,
  ): Promise<TextAnswer | { response: Response }> {
    if (call.sendKey !== false && this.#apiKey === undefined) {
      throw new MissingApiKeyError(
        "No Gemini API key: set the GEMINI_API_KEY or GOOGLE_API_KEY environment variable (in code, the `apiKey` option also works).",
      );
    }
    const timeout = options.timeout ?? this.#settings.timeout;
    const { maxRetryDelay, onRetry } = this.#settings;
    const idempotent = call.retry !== "safe";
    return withRetry(() => this.#attempt(call, timeout, options.signal, streaming), {
      maxRetries: options.maxRetries ?? this.#settings.maxRetries,
      shouldRetry: (error) => isRetryableError(error, { idempotent }),
      baseDelay: DEFAULT_BASE_DELAY,
      maxDelay: maxRetryDelay,
      signal: options.signal,
      onRetry: onRetry && ((event) => onRetry({ ...event, operation: call.operation })),
    });
  }

  async #attempt(
    call: Call,
    timeout: number,
    callerSignal: AbortSignal | undefined,
    streaming: boolean,
  ): Promise<TextAnswer | { response: Response }> {
    const timer = new AbortController();
    const timeoutId = setTimeout(() => timer.abort(), timeout);
    const signal = callerSignal ? AbortSignal.any([callerSignal, timer.signal]) : timer.signal;
    const headers: Record<string, string> = { ...this.#settings.headers, ...call.headers };
    let body: string | Uint8Array | undefined;
    if (call.json !== undefined) {
      // As bytes: `fetch` given a string measures and converts it itself, slower than one native
      // encode (an ingest's 200 MB of requests, main thread: 0.46 s in undici's byteLength and
      // extractBody before, 0.21 s in this encode and extractBody after).
      body = utf8Bytes(JSON.stringify(call.json));
      headers["content-type"] = "application/json";
    } else if (call.bytes !== undefined) {
      body = call.bytes;
    }
    if (call.sendKey !== false && this.#apiKey !== undefined) {
      headers["x-goog-api-key"] = this.#apiKey;
    }
    const fail = (error: unknown): Error => {
      if (callerSignal?.aborted) return abortError(callerSignal);
      if (timer.signal.aborted) {
        return new GeminiTimeoutError(`No answer within ${timeout} ms (${call.operation}).`, {
          cause: error,
        });
      }
      if (isConnectionFailure(error)) {
        return new GeminiConnectionError(
          this.redact(`Connection failed (${call.operation}): ${describeCause(error)}`),
          { cause: error },
        );
      }
      const unknown = error instanceof Error ? error : new Error(String(error));
      // Last line of defence: an error of `fetch` itself may quote a header value (the key).
      const key = this.#apiKey;
      if (key !== undefined && `${unknown.message}\n${unknown.stack}`.includes(key)) {
        const safe = new TypeError(this.redact(unknown.message));
        safe.name = unknown.name;
        return safe;
      }
      return unknown;
    };
    try {
      let response: Response;
      // Redirects are followed here, not by fetch: fetch would send the key header on to any
      // origin a redirect names.
      let url = call.url;
      let method: string = call.method;
      for (let redirects = 0; ; redirects++) {
        try {
          response = await this.#settings.fetch(url, {
            method,
            headers,
            ...(body === undefined ? {} : { body }),
            signal,
            redirect: "manual",
          });
        } catch (error) {
          throw fail(error);
        }
        const next = redirectTarget(response, url);
        if (next === undefined) break;
        await response.body?.cancel().catch(() => undefined);
        const from = new URL(url).origin;
        if (next.origin !== from) {
          throw new RedirectError(
            `${call.operation}: the server answered ${response.status} with a redirect to another origin, ${next.origin}, which gembed does not follow: the API key is sent only to ${from}. Set baseUrl to the address that answers the API itself.`,
            response.status,
            from,
            next.origin,
          );
        }
        if (redirects >= MAX_REDIRECTS) {
          throw new RedirectError(
            `${call.operation}: more than ${MAX_REDIRECTS} redirects within ${from}; gave up.`,
            response.status,
            from,
            next.origin,
          );
        }
        // As fetch does: 303 (and 301/302 after a POST) go on as a GET without the body.
        if (
          response.status === 303 ||
          ((response.status === 301 || response.status === 302) && method === "POST")
        ) {
          method = "GET";
          body = undefined;
          delete headers["content-type"];
        }
        url = next.href;
      }
      if (!response.ok) {
        let text: string;
        try {
          // An error body is a small google.rpc.Status: do not let a broken proxy stream gigabytes.
          text = await readCapped(response, ERROR_BODY_LIMIT);
        } catch (error) {
          throw fail(error);
        }
        throw this.#apiError(response, text, call.operation);
      }
      if (streaming) return { response };
      try {
        return { response, text: await response.text() };
      } catch (error) {
        throw fail(error);
      }
    } finally {
      clearTimeout(timeoutId);
    }
  }

  #apiError(response: Response, text: string, operation: string): GeminiApiError {
    let status: Status | undefined;
    try {
      const parsed = JSON.parse(text) as { error?: unknown };
      const error = parsed?.error;
      if (isObject(error)) {
        const raw = redactJson(error, this.#apiKey);
        status = {
          code: typeof raw.code === "number" ? raw.code : response.status,
          message: typeof raw.message === "string" ? raw.message : `HTTP ${response.status}`,
          ...(typeof raw.status === "string" ? { status: raw.status } : {}),
          ...(Array.isArray(raw.details) ? { details: raw.details as Status["details"] } : {}),
        } as Status;
      }
    } catch {
      // Not JSON: keep an excerpt instead.
    }
    // A refused key says where it came from: with both variables set, GOOGLE_API_KEY wins, and a
    // user who fixed GEMINI_API_KEY would not know why the old key is still sent.
    const keyRefused =
      this.#apiKey !== undefined &&
      this.#settings.keySource !== undefined &&
      (response.status === 401 ||
        status?.details?.some(
          (detail) => typeof detail.reason === "string" && detail.reason.startsWith("API_KEY_"),
        ) === true);
    return GeminiApiError.generate({
      httpStatus: response.status,
      error: status,
      bodyExcerpt: status === undefined ? excerpt(this.redact(text)) : undefined,
      headers: response.headers,
      operation: keyRefused
        ? `${operation}; the API key came from ${this.#settings.keySource}`
        : operation,
    });
  }
}

/** Same-origin redirects followed in one attempt (fetch's own limit is 20). */
const MAX_REDIRECTS = 5;

/** Where a redirect answer points (resolved against `url`), or undefined when it is none. */
function redirectTarget(response: Response, url: string): URL | undefined {
  if (![301, 302, 303, 307, 308].includes(response.status)) return undefined;
  const location = response.headers.get("location");
  if (location === null) return undefined;
  try {
    return new URL(location, url);
  } catch {
    return undefined;
  }
}

/** How much of an error body is read (the rest is cancelled). */
const ERROR_BODY_LIMIT = 1024 * 1024;

/** Reads at most `limit` bytes of the body as UTF-8, then cancels the rest. */
async function readCapped(response: Response, limit: number): Promise<string> {
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const pieces: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (total + value.byteLength >= limit) {
      pieces.push(value.subarray(0, limit - total));
      total = limit;
      await reader.cancel().catch(() => undefined);
      break;
    }
    pieces.push(value);
    total += value.byteLength;
  }
  return new TextDecoder().decode(Buffer.concat(pieces));
}

/** The first ~200 characters of a body, whitespace collapsed. */
export function excerpt(text: string, length = 200): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > length ? `${flat.slice(0, length)}…` : flat;
}

function causeCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function isConnectionFailure(error: unknown): boolean {
  if (error instanceof TypeError && /^(fetch failed|terminated)$/.test(error.message)) return true;
  const code = causeCode(error);
  return code !== undefined && CONNECTION_CODES.has(code);
}

function describeCause(error: unknown): string {
  const parts: string[] = [];
  for (let current = error, depth = 0; current && depth < 4; depth++) {
    const message = (current as { message?: unknown }).message;
    const code = (current as { code?: unknown }).code;
    if (typeof message === "string" && message) parts.push(message);
    else if (typeof code === "string") parts.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  return parts.join(": ") || "unknown error";
}
