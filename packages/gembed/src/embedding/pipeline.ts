/**
 * The engine under `GeminiEmbeddingFunction`: runs chunks through `batchEmbedContents` over a
 * sliding window of concurrent calls (the next chunk starts as soon as any call finishes, not in
 * waves) whose width the {@link ConcurrencyLimiter} adapts, with a retry loop per chunk that
 * feeds both limiters, tells of every wait, checks every answer, and gives results back in input
 * order.
 *
 * @module
 */

import type { BatchEmbedContentsResponse, EmbedContentRequest } from "../api/types.js";
import { abortError, isRetryableError, retryDelayMs } from "../client/retry.js";
import {
  GeminiApiError,
  GeminiConnectionError,
  GeminiTimeoutError,
  InvalidResponseError,
  RateLimitError,
} from "../errors.js";
import { type Chunk, type ChunkItem, chunkItems, splitChunk } from "./chunking.js";
import {
  type CallOutcome,
  type Clock,
  ConcurrencyLimiter,
  type QuotaLimiter,
  type QuotaMeasure,
  type QuotaTicket,
  type QuotaWait,
  raceAbort as raceAbortSignal,
  systemClock,
} from "./limiter.js";

/** A wait of the work, as told to `onProgress`. */
export interface PipelineWait {
  /**
   * `waiting-for-quota`: the quota has no room now (the server said so with a 429, or the
   * ceiling learned from it); `backing-off`: a call failed and is tried again at `resumeAt`.
   */
  state: "waiting-for-quota" | "backing-off";
  /** When the work goes on, in ms since the epoch. */
  resumeAt: number;
  /** Why, in a few words (e.g. `connection refused (ECONNREFUSED)`, `503 UNAVAILABLE`). */
  reason: string;
}

/** What the engine needs of a client: `GeminiClient` fits. */
export interface BatchEmbedder {
  batchEmbedContents(
    model: string,
    requests: EmbedContentRequest[],
    options?: {
      signal?: AbortSignal | undefined;
      timeout?: number | undefined;
      maxRetries?: number | undefined;
    },
  ): Promise<BatchEmbedContentsResponse>;
}

/** Settings of {@link ChunkRunner}. */
export interface ChunkRunnerSettings {
  client: BatchEmbedder;
  /** `models/{id}`. */
  model: string;
  limiter: QuotaLimiter;
  /** Sets how many calls are in flight; told how each call ended. */
  concurrency: ConcurrencyLimiter;
  /** @default the system clock */
  clock?: Clock;
  /** Retries of one chunk after an error (429s that will clear do not count). */
  maxRetries: number;
  /** Most 429 waits for one chunk before giving up. */
  maxRateLimitWaits: number;
  /** Per-attempt timeout in ms, passed to the client. */
  timeout: number | undefined;
  /** Backoff of the first retry when the server names no wait, in ms. */
  retryBaseDelay: number;
  /** Cap of one wait, in ms. */
  maxRetryDelay: number;
  /** Turns one embedding's `values` into a checked vector (throws InvalidResponseError). */
  toVector: (values: ArrayLike<number>) => Float32Array;
}

/** Runs one chunk to completion, retrying within the limits. */
export class ChunkRunner {
  constructor(private readonly settings: ChunkRunnerSettings) {}

  /**
   * The vectors of `chunk`, in its order; throws the error that stopped it. `granted`: a ticket
   * already taken for the whole chunk (its first attempt does not ask the limiter again).
   */
  async run(
    chunk: Chunk,
    runSignal: AbortSignal | undefined,
    granted?: QuotaTicket,
    onWait?: (wait: PipelineWait) => void,
  ): Promise<Float32Array[]> {
    // A signal of its own for this chunk's waits and calls: dozens of chunks at once would
    // otherwise each add a listener to the run's signal (Node warns past 10).
    const signal = runSignal && AbortSignal.any([runSignal]);
    const { client, model, limiter, concurrency } = this.settings;
    const clock = this.settings.clock ?? systemClock;
    const onQuotaWait =
      onWait &&
      ((wait: QuotaWait): void =>
        onWait({
          state: "waiting-for-quota",
          resumeAt: wait.resumeAt,
          reason:
            wait.reason === "rate-limited"
              ? "the server refused a call over its quota (429)"
              : "the quota's window is full",
        }));
    const requests = chunk.items.map((item) => item.request);
    const count = requests.length;
    const itemTokens = chunk.items.map((item) => item.tokens);
    let attempt = 0;
    let rateLimitWaits = 0;
    let given = granted;
    for (;;) {
      // When the window has room for part of the chunk only (at least a quarter of it) and a
      // whole chunk would wait, the part goes now and the rest asks again once it is answered.
      const ticket =
        given ?? (await limiter.acquirePart(itemTokens, Math.ceil(count / 4), signal, onQuotaWait));
      given = undefined;
      if (ticket.texts < count) {
        return this.runPieces(splitAt(chunk, ticket.texts), signal, ticket, onWait);
      }
      const sentAt = clock.now();
      const inFlight = concurrency.inFlight;
      try {
        const options: { signal?: AbortSignal; timeout?: number; maxRetries: number } = {
          maxRetries: 0,
        };
        if (signal) options.signal = signal;
        if (this.settings.timeout !== undefined) options.timeout = this.settings.timeout;
        const response = await client.batchEmbedContents(model, requests, options);
        limiter.onSuccess(ticket);
        const vectors = this.check(response, count);
        concurrency.onResult("ok", { sentAt, latencyMs: clock.now() - sentAt, inFlight });
        return vectors;
      } catch (error) {
        const waitable = error instanceof RateLimitError && !error.isPerDayQuota;
        if (!waitable || signal?.aborted) limiter.onFailed(ticket);
        if (signal?.aborted) throw abortError(signal);
        concurrency.onResult(outcomeOf(error), { sentAt, inFlight });
        if (waitable) {
          rateLimitWaits++;
          if (rateLimitWaits > this.settings.maxRateLimitWaits) throw error;
          const measure = quotaMeasure(error);
          limiter.onRateLimited(
            this.delay(error, rateLimitWaits - 1),
            ticket,
            measure,
            namedCeiling(error, measure),
          );
          // A chunk refused again and again may be larger than the whole quota: halve it.
          const maxCount =
            rateLimitWaits >= 3 && count > 1 ? Math.ceil(count / 2) : limiter.maxTextsPerCall;
          if (maxCount !== undefined && count > maxCount) {
            // The ceiling turned out smaller than this chunk: send it in pieces that fit.
            return this.runPieces(splitChunk(chunk, maxCount), signal, undefined, onWait);
          }
          continue;
        }
        // The same classification as every retry of gembed; a short answer is retried too.
        const retryable = isRetryableError(error, { checkedAnswers: true });
        if (!retryable || attempt >= this.settings.maxRetries) throw error;
        const delay = this.delay(error, attempt);
        // Told at once, so a refused connection is seen on the first failure, not after the
        // last retry.
        onWait?.({
          state: "backing-off",
          resumeAt: clock.now() + delay,
          reason: `${describeFailure(error)}; retry ${attempt + 1} of ${this.settings.maxRetries}`,
        });
        await clock.sleep(delay, signal);
        attempt++;
      }
    }
  }

  /**
   * Runs the pieces of one chunk in order. When a piece fails after others were embedded, the
   * error is a {@link PartialChunkError} that carries them: they are paid for, never dropped.
   */
  private async runPieces(
    pieces: Chunk[],
    signal: AbortSignal | undefined,
    firstTicket: QuotaTicket | undefined,
    onWait: ((wait: PipelineWait) => void) | undefined,
  ): Promise<Float32Array[]> {
    const done: ChunkResult[] = [];
    for (const [position, piece] of pieces.entries()) {
      try {
        const ticket = position === 0 ? firstTicket : undefined;
        done.push({ chunk: piece, vectors: await this.run(piece, signal, ticket, onWait) });
      } catch (error) {
        let cause = error;
        if (error instanceof PartialChunkError) {
          done.push(...error.done);
          cause = error.cause;
        }
        if (done.length === 0) throw cause;
        throw new PartialChunkError(done, cause);
      }
    }
    return done.flatMap((result) => result.vectors);
  }

  private delay(error: unknown, attempt: number): number {
    return retryDelayMs(error, attempt, {
      baseDelay: this.settings.retryBaseDelay,
      maxDelay: this.settings.maxRetryDelay,
    });
  }

  /** As many embeddings as texts, each of the right length: else InvalidResponseError. */
  private check(response: BatchEmbedContentsResponse, count: number): Float32Array[] {
    const embeddings = response?.embeddings;
    if (!Array.isArray(embeddings) || embeddings.length !== count) {
      throw new InvalidResponseError(
        `batchEmbedContents answered ${Array.isArray(embeddings) ? embeddings.length : "no"} embeddings for ${count} texts.`,
      );
    }
    const vectors = new Array<Float32Array>(count);
    for (let index = 0; index < count; index++) {
      const embedding = embeddings[index];
      vectors[index] = this.settings.toVector(embedding?.values as ArrayLike<number>);
    }
    return vectors;
  }
}

/** The first `count` items of `chunk`, and the others. */
function splitAt(chunk: Chunk, count: number): [Chunk, Chunk] {
  const piece = (items: ChunkItem[]): Chunk =>
    chunkItems(items, { maxCount: items.length })[0] as Chunk;
  return [piece(chunk.items.slice(0, count)), piece(chunk.items.slice(count))];
}

/** What one failed call says of the server's load (see {@link ConcurrencyLimiter}). */
function outcomeOf(error: unknown): CallOutcome {
  if (error instanceof RateLimitError) return "rate-limited";
  if (error instanceof GeminiTimeoutError) return "overloaded";
  if (error instanceof GeminiApiError && error.httpStatus === 503) return "overloaded";
  return "failed";
}

/** A failure in a few words, for a progress line (never the request, never the key). */
function describeFailure(error: unknown): string {
  if (error instanceof GeminiConnectionError) {
    const code = error.code;
    if (code === "ECONNREFUSED") return "connection refused (ECONNREFUSED)";
    return code === undefined ? "connection failed" : `connection failed (${code})`;
  }
  if (error instanceof GeminiTimeoutError) return "the call timed out";
  if (error instanceof GeminiApiError) return `${error.httpStatus} ${error.status ?? "error"}`;
  if (error instanceof InvalidResponseError) return "a malformed answer";
  return "a failed call";
}

/**
 * The texts-per-window ceiling a 429 names (`QuotaFailure` `quotaValue`), when it names one. Not
 * for tokens: the server counts real tokens, this side estimates them.
 */
function namedCeiling(error: RateLimitError, measure: QuotaMeasure): number | undefined {
  if (measure !== "texts") return undefined;
  let ceiling: number | undefined;
  for (const violation of error.quotaViolations) {
    const id = `${violation.quotaId ?? ""} ${violation.quotaMetric ?? ""}`;
    if (/token|per ?day/i.test(id)) continue;
    const value = Number(violation.quotaValue);
    if (Number.isInteger(value) && value > 0) ceiling = Math.min(ceiling ?? value, value);
  }
  return ceiling;
}

/** Which measure a 429 names: tokens when only token quotas are violated, else texts. */
function quotaMeasure(error: RateLimitError): QuotaMeasure {
  const ids = error.quotaViolations.map(
    (violation) => `${violation.quotaId ?? ""} ${violation.quotaMetric ?? ""}`,
  );
  return ids.length > 0 && ids.every((id) => /token/i.test(id)) ? "tokens" : "texts";
}

/** One finished chunk. */
export interface ChunkResult {
  chunk: Chunk;
  vectors: Float32Array[];
}

/**
 * The work stopped: the finished chunks (and the embedded pieces of a chunk that stopped
 * part-way) and the chunks not wholly embedded.
 */
export class PipelineStoppedError extends Error {
  override name = "PipelineStoppedError";
  constructor(
    readonly finished: ChunkResult[],
    readonly unfinished: Chunk[],
    override readonly cause: unknown,
  ) {
    super("pipeline stopped", { cause });
  }
}

/**
 * A chunk that stopped part-way (it was sent in pieces): `done` holds the pieces already
 * embedded, `cause` the error that stopped the rest.
 */
export class PartialChunkError extends Error {
  override name = "PartialChunkError";
  constructor(
    readonly done: ChunkResult[],
    override readonly cause: unknown,
  ) {
    super("chunk stopped part-way", { cause });
  }
}

/** Settings of {@link runOrdered}. */
export interface OrderedSettings {
  /** Calls in flight at once: a slot per call, shared by every run of one embedding function. */
  concurrency: ConcurrencyLimiter;
  /**
   * Chunks started ahead of the oldest one not yet yielded (bounds memory when streaming).
   * @default twice the calls this run may have in flight
   */
  lookahead?: number;
  /**
   * The most calls of this run in flight, below the shared limit (a stream bounds its memory
   * with it: each call in flight holds its answer).
   * @default the shared limit only
   */
  maxInFlight?: number;
  signal: AbortSignal | undefined;
  /** Called as each chunk finishes (any order). */
  onChunkDone?: (result: ChunkResult) => void;
  /** Told when a chunk starts to wait (for quota, or backing off after a failure). */
  onWait?: ((wait: PipelineWait) => void) | undefined;
}

interface Slot {
  chunk: Chunk;
  promise: Promise<ChunkResult>;
  result?: ChunkResult;
  /** The pieces embedded before the chunk stopped part-way. */
  partial?: ChunkResult[];
}

/**
 * Runs chunks from `chunks` with `runner`, at most `concurrency` calls at once, and yields the
 * results in input order. On an error that stops the work, it lets the calls in flight finish
 * (their vectors are paid for), then throws {@link PipelineStoppedError}. A caller's abort
 * rejects at once with `GembedAbortError`.
 */
export async function* runOrdered(
  chunks: AsyncIterator<Chunk> | Iterator<Chunk>,
  runner: ChunkRunner,
  settings: OrderedSettings,
): AsyncGenerator<ChunkResult> {
  const { signal } = settings;
  // Stops the calls still running when the consumer leaves early (break, a bad text read).
  const closing = new AbortController();
  const callSignal = signal ? AbortSignal.any([signal, closing.signal]) : closing.signal;
  const window: Slot[] = [];
  let failure: { error: unknown } | undefined;
  let exhausted = false;
  const slots = settings.concurrency;
  const own = new ConcurrencyLimiter({
    initial: settings.maxInFlight ?? Number.MAX_SAFE_INTEGER,
    max: settings.maxInFlight ?? Number.MAX_SAFE_INTEGER,
  });
  const lookahead = (): number =>
    settings.lookahead ?? 2 * Math.min(slots.limit, settings.maxInFlight ?? slots.limit);

  const start = (chunk: Chunk): Slot => {
    const slot: Slot = { chunk, promise: Promise.resolve(undefined as unknown as ChunkResult) };
    slot.promise = (async () => {
      await own.acquire();
      await slots.acquire();
      try {
        if (failure) throw new Error("stopped");
        const vectors = await runner.run(chunk, callSignal, undefined, settings.onWait);
        const result = { chunk, vectors };
        slot.result = result;
        settings.onChunkDone?.(result);
        return result;
      } catch (error) {
        if (error instanceof PartialChunkError) {
          // Pieces of the chunk were embedded before it stopped: report them like any result.
          slot.partial = error.done;
          for (const piece of error.done) settings.onChunkDone?.(piece);
          failure ??= { error: error.cause };
          throw error.cause;
        }
        failure ??= { error };
        throw error;
      } finally {
        slots.release();
        own.release();
      }
    })();
    // The failure is collected below; never an unhandled rejection.
    slot.promise.catch(() => undefined);
    return slot;
  };

  const fill = async (): Promise<void> => {
    while (!exhausted && !failure && window.length < lookahead()) {
      const next = await chunks.next();
      if (next.done) {
        exhausted = true;
        return;
      }
      window.push(start(next.value));
    }
  };

  const stop = async (): Promise<never> => {
    await Promise.allSettled(window.map((slot) => slot.promise));
    const finished: ChunkResult[] = [];
    const unfinished: Chunk[] = [];
    for (const slot of window) {
      if (slot.result) finished.push(slot.result);
      else {
        if (slot.partial) finished.push(...slot.partial);
        unfinished.push(slot.chunk);
      }
    }
    throw new PipelineStoppedError(finished, unfinished, failure?.error);
  };

  let finished = false;
  try {
    for (;;) {
      if (signal?.aborted) throw abortError(signal);
      await raceAbortSignal(fill(), signal);
      const head = window[0];
      if (head === undefined) {
        if (failure) await stop();
        finished = true;
        return;
      }
      try {
        await raceAbortSignal(head.promise, signal);
      } catch (error) {
        if (signal?.aborted) throw abortError(signal);
        failure ??= { error };
        await stop();
      }
      if (failure) await stop();
      window.shift();
      yield head.result as ChunkResult;
    }
  } finally {
    if (!finished) {
      failure ??= { error: new Error("closed") };
      closing.abort();
    }
  }
}
