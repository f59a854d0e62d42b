/**
 * The one retry path of gembed: {@link isRetryableError} decides whether an error is worth
 * another attempt, {@link retryDelayMs} how long to wait before it, and {@link withRetry} runs
 * the loop (abortable waits, the caller's abort never retried). The HTTP layer, upload chunks,
 * batch polling and Milvus writes (`@gembed/milvus`, through `gembed/internal`) all go through
 * `withRetry`; the embedding pipeline keeps its own scheduling (limiters, AIMD) but asks the same
 * two functions.
 *
 * @module
 */

import {
  GembedAbortError,
  GembedError,
  GeminiApiError,
  GeminiConnectionError,
  GeminiTimeoutError,
  InvalidResponseError,
} from "../errors.js";

/** Options of {@link isRetryableError}. */
export interface RetryClassOptions {
  /**
   * False for a request that is not idempotent (creating a batch job, DELETE): then only the
   * failures where the server surely did nothing are retryable (429, 503, a refused connection).
   * @default true
   */
  idempotent?: boolean | undefined;
  /**
   * True when the caller checks each answer itself and a failed check (an
   * `InvalidResponseError`, e.g. fewer embeddings than texts) is worth another attempt: the
   * embedding pipeline's chunks. The HTTP layer leaves it false: a malformed answer of one
   * endpoint is given back.
   * @default false
   */
  checkedAnswers?: boolean | undefined;
}

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
 * Whether another attempt of the same request may succeed: the one classification every retry
 * loop of gembed uses.
 *
 * True for a retryable API error (408, 429 unless the quota is per day, 500, 502, 503, 504), a
 * connection failure (but a host name that does not exist) and a per-attempt timeout. A
 * {@link GembedError} that says `isRetryable` itself is taken at its word (the API and connection
 * errors here, `@gembed/milvus`'s operation errors, which are not retryable for a schema
 * problem). False for a caller's abort and for anything else (a bug is not cured by retrying).
 *
 * @example
 * ```ts
 * if (isRetryableError(error)) await sleep(retryDelayMs(error, attempt), signal);
 * ```
 */
export function isRetryableError(error: unknown, options: RetryClassOptions = {}): boolean {
  if (!retryableKind(error, options)) return false;
  if (options.idempotent !== false) return true;
  // The request may have done its work before the answer was lost: only retry when the server
  // surely did nothing.
  if (error instanceof GeminiApiError) return error.httpStatus === 429 || error.httpStatus === 503;
  return error instanceof GeminiConnectionError && error.code === "ECONNREFUSED";
}

function retryableKind(error: unknown, options: RetryClassOptions): boolean {
  if (error instanceof GembedAbortError) return false;
  if (error instanceof GeminiTimeoutError) return true;
  if (error instanceof InvalidResponseError) return options.checkedAnswers === true;
  if (error instanceof GembedError && "isRetryable" in error) return error.isRetryable === true;
  return false;
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

/** What {@link WithRetryOptions.onRetry} learns before each wait. */
export interface RetryAttempt {
  /** The failed attempt, from 0 (or from `firstAttempt`). */
  attempt: number;
  /** The wait before the next attempt, in ms. */
  delayMs: number;
  /** Why the attempt failed. */
  error: unknown;
}

/** Options of {@link withRetry}. */
export interface WithRetryOptions {
  /** Retries after the first attempt (attempts in all: `maxRetries + 1`). */
  maxRetries: number;
  /**
   * Attempts already spent on the same piece of work: they count against `maxRetries` and the
   * backoff goes on from there (an upload chunk resumed after a rewind).
   * @default 0
   */
  firstAttempt?: number | undefined;
  /** Whether the error of `attempt` is worth another attempt. @default isRetryableError */
  shouldRetry?: ((error: unknown, attempt: number) => boolean) | undefined;
  /**
   * The wait before the next attempt, in ms.
   * @default retryDelayMs(error, attempt, { baseDelay, maxDelay })
   */
  delay?: ((error: unknown, attempt: number) => number) | undefined;
  /** The first backoff wait of the default `delay`. @default 500 */
  baseDelay?: number | undefined;
  /**
   * The cap of one wait. When the server asks for a longer one (`RetryInfo`, `Retry-After`), the
   * error is thrown at once rather than retried too early: it carries `retryDelayMs`.
   * @default 60_000
   */
  maxDelay?: number | undefined;
  /** Aborts the work, a wait included; a caller's abort is never retried. */
  signal?: AbortSignal | undefined;
  /** Called before each wait (for logs and progress). */
  onRetry?: ((attempt: RetryAttempt) => void) | undefined;
  /** The wait itself; a test passes a fake clock's. @default sleep */
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
}

/**
 * Runs `run` until it succeeds, retrying what `shouldRetry` allows (by default
 * {@link isRetryableError}) at most `maxRetries` times, waiting {@link retryDelayMs} (the
 * server's `RetryInfo`, then `Retry-After`, then backoff with jitter) between attempts. Throws the
 * last error; throws {@link GembedAbortError} as soon as `signal` aborts (before an attempt,
 * after a failed one, or during a wait), never retrying it.
 *
 * @example
 * ```ts
 * const answer = await withRetry((attempt) => send(request), { maxRetries: 3, signal });
 * ```
 */
export async function withRetry<T>(
  run: (attempt: number) => Promise<T>,
  options: WithRetryOptions,
): Promise<T> {
  const { signal, maxRetries } = options;
  const maxDelay = options.maxDelay ?? DEFAULT_MAX_RETRY_DELAY;
  const shouldRetry = options.shouldRetry ?? ((error: unknown) => isRetryableError(error));
  const delay =
    options.delay ??
    ((error: unknown, attempt: number) =>
      retryDelayMs(error, attempt, {
        baseDelay: options.baseDelay ?? DEFAULT_BASE_DELAY,
        maxDelay,
      }));
  const wait = options.sleep ?? sleep;
  for (let attempt = options.firstAttempt ?? 0; ; attempt++) {
    if (signal?.aborted) throw abortError(signal);
    try {
      return await run(attempt);
    } catch (error) {
      // The caller's abort wins over whatever the attempt failed with.
      if (signal?.aborted) throw error instanceof GembedAbortError ? error : abortError(signal);
      if (attempt >= maxRetries || !shouldRetry(error, attempt)) throw error;
      const requested = serverRequestedDelayMs(error);
      if (requested !== undefined && requested > maxDelay) throw error;
      const delayMs = delay(error, attempt);
      options.onRetry?.({ attempt, delayMs, error });
      await wait(delayMs, signal);
    }
  }
}
