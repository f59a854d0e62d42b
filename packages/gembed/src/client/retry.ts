/**
 * Retry policy of the client: which errors are worth another attempt, how long to wait before
 * it, and an abortable sleep. Exported for callers that run their own retry loop (e.g.
 * `GeminiEmbeddingFunction`, which sets `maxRetries: 0` on its client).
 *
 * @module
 */

import {
  GembedAbortError,
  GeminiApiError,
  GeminiConnectionError,
  GeminiTimeoutError,
} from "../errors.js";

/** Options of {@link retryDelayMs}. */
export interface RetryDelayOptions {
  /**
   * The first backoff wait in ms, doubled on each attempt, when the server names no wait.
   * @default 500
   */
  baseDelay?: number;
  /**
   * The cap of one wait in ms.
   * @default 60_000
   */
  maxDelay?: number;
}

/** The first backoff wait when the server names none. */
export const DEFAULT_BASE_DELAY = 500;
/** The cap of one wait. */
export const DEFAULT_MAX_RETRY_DELAY = 60_000;

/**
 * Whether another attempt of the same request may succeed.
 *
 * True for a retryable API error (408, 429 unless the quota is per day, 500, 502, 503, 504), a
 * connection failure (but a host name that does not exist) and a per-attempt timeout. False for a caller's abort and for anything else
 * (a bug is not cured by retrying).
 *
 * @example
 * ```ts
 * if (isRetryableError(error)) await sleep(retryDelayMs(error, attempt), signal);
 * ```
 */
export function isRetryableError(error: unknown): boolean {
  if (error instanceof GembedAbortError) return false;
  if (error instanceof GeminiApiError) return error.isRetryable;
  if (error instanceof GeminiConnectionError) return error.isRetryable;
  return error instanceof GeminiTimeoutError;
}

/**
 * How long to wait before attempt `attempt + 1` (`attempt` counts from 0).
 *
 * The wait the server asks for comes first (`RetryInfo.retryDelay` in the body, which Gemini
 * sends on 429 instead of a `Retry-After` header; then `Retry-After`); otherwise exponential
 * backoff with jitter: a random wait between half and all of `baseDelay * 2^attempt`. Always capped
 * by `maxDelay`.
 *
 * @example
 * ```ts
 * const wait = retryDelayMs(error, 0, { maxDelay: 30_000 });
 * ```
 */
export function retryDelayMs(
  error: unknown,
  attempt: number,
  options: RetryDelayOptions = {},
): number {
  const baseDelay = options.baseDelay ?? DEFAULT_BASE_DELAY;
  const maxDelay = options.maxDelay ?? DEFAULT_MAX_RETRY_DELAY;
  if (typeof attempt !== "number" || !Number.isInteger(attempt) || attempt < 0) {
    throw new RangeError(`attempt must be an integer >= 0, got ${String(attempt)}`);
  }
  if (typeof baseDelay !== "number" || !(baseDelay >= 0)) {
    throw new RangeError(`baseDelay must be a number >= 0, got ${String(baseDelay)}`);
  }
  if (typeof maxDelay !== "number" || !(maxDelay >= 0)) {
    throw new RangeError(`maxDelay must be a number >= 0, got ${String(maxDelay)}`);
  }
  const requested = serverRequestedDelayMs(error);
  if (requested !== undefined) return Math.min(requested, maxDelay);
  const ceiling = Math.min(maxDelay, baseDelay * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/** The wait the server asked for (`RetryInfo`, then `Retry-After`), if any. */
export function serverRequestedDelayMs(error: unknown): number | undefined {
  return error instanceof GeminiApiError ? error.retryDelayMs : undefined;
}

/**
 * Waits `ms` milliseconds. Rejects with {@link GembedAbortError} at once when `signal` aborts
 * (also when it is already aborted), and clears its timer.
 *
 * @example
 * ```ts
 * await sleep(250, controller.signal);
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (typeof ms !== "number" || Number.isNaN(ms)) {
    throw new TypeError(`ms must be a number, got ${typeof ms}`);
  }
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The error for a caller's abort, keeping the signal's reason as `cause`. */
export function abortError(signal: AbortSignal | undefined): GembedAbortError {
  return new GembedAbortError("The operation was aborted by the caller.", {
    cause: signal?.reason,
  });
}
