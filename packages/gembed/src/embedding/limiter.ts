/**
 * The client-side quota limiter. Gemini counts its quota per text (each item of a batch
 * counts) and per token, over a window (a minute); this limiter keeps a sliding log of what was
 * sent so no window ever holds more than the limits, whatever the server's window alignment.
 *
 * Adaptive by default: on a 429 every caller waits the server's `retryDelay`, and the limiter
 * learns the ceiling it just hit (the texts and tokens the server accepted over the window before
 * the 429), so it does not hit the wall again.
 *
 * @module
 */

import { abortError, sleep } from "../client/retry.js";

/** Quota settings of {@link QuotaLimiter}. */
export interface QuotaOptions {
  /**
   * Texts per window (each text of a batch counts, like the real quota).
   * @default undefined (no fixed limit; learned from 429s when `adaptive`)
   */
  textsPerMinute?: number;
  /**
   * Estimated tokens per window (see `estimateTokens`).
   * @default undefined (no fixed limit; learned from 429s when `adaptive`)
   */
  tokensPerMinute?: number;
  /**
   * Length of the quota window in milliseconds; the limits above count per window. Only tests
   * and benchmarks against a local server with short windows change it.
   * @default 60_000
   */
  windowMs?: number;
  /**
   * React to 429s: wait the server's `retryDelay`, then keep under the ceiling just learned.
   * @default true
   */
  adaptive?: boolean;
  /**
   * Extra milliseconds added to each window, against clock and network jitter.
   * @default 1% of `windowMs`, at most 50
   */
  marginMs?: number;
}

interface Limits {
  texts: number;
  tokens: number;
  windowMs: number;
}

function checkPositive(name: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(`quota.${name} must be a number.`);
  }
  if (!(value > 0)) throw new RangeError(`quota.${name} must be greater than 0, got ${value}.`);
}

/** What a quota counts: texts (requests) or tokens. */
export type QuotaMeasure = "texts" | "tokens";

/** What {@link QuotaLimiter.acquire} recorded: hand it back on a 429 (the server counted nothing). */
export interface QuotaTicket {
  /** When it was sent; then, once answered, when the answer came (a bound of the server's count). */
  time: number;
  /** When it was sent. */
  readonly sentAt: number;
  texts: number;
  tokens: number;
}

/**
 * Keeps calls under a per-window quota of texts and tokens. Shared by every call of one
 * `GeminiEmbeddingFunction`, since the real quota is per project.
 *
 * It logs what was sent over the last window. On a 429 every caller waits the server's
 * `retryDelay`; when adaptive, the texts and tokens the server accepted in the window before the
 * 429 become the limits from then on (the ceiling, measured), re-measured at each new 429.
 */
export class QuotaLimiter {
  private readonly configured: Limits | undefined;
  private learned: Limits | undefined;
  private readonly adaptive: boolean;
  private readonly marginMs: number;
  private readonly windowMs: number;
  private readonly log: QuotaTicket[] = [];
  private logStart = 0;
  private pausedUntil = 0;
  /** Set by a 429: measure the ceiling over the window that ended then, once the pause is over. */
  private learnAt: number | undefined;
  private learnMeasure: QuotaMeasure = "texts";
  private tail: Promise<void> = Promise.resolve();
  /** How many 429s this limiter has seen (for figures and tests). */
  rateLimitedCount = 0;

  constructor(options: QuotaOptions | false | undefined) {
    if (
      options !== undefined &&
      options !== false &&
      (options === null || typeof options !== "object")
    ) {
      throw new TypeError("quota must be an object or false.");
    }
    const settings = options === false || options === undefined ? {} : options;
    checkPositive("textsPerMinute", settings.textsPerMinute);
    checkPositive("tokensPerMinute", settings.tokensPerMinute);
    checkPositive("windowMs", settings.windowMs);
    if (settings.marginMs !== undefined) {
      if (typeof settings.marginMs !== "number" || Number.isNaN(settings.marginMs)) {
        throw new TypeError("quota.marginMs must be a number.");
      }
      if (settings.marginMs < 0) throw new RangeError("quota.marginMs must be at least 0.");
    }
    if (settings.adaptive !== undefined && typeof settings.adaptive !== "boolean") {
      throw new TypeError("quota.adaptive must be a boolean.");
    }
    this.adaptive = options === false ? false : (settings.adaptive ?? true);
    this.windowMs = settings.windowMs ?? 60_000;
    this.marginMs = settings.marginMs ?? Math.min(50, this.windowMs / 100);
    if (settings.textsPerMinute !== undefined || settings.tokensPerMinute !== undefined) {
      this.configured = {
        texts: settings.textsPerMinute ?? Number.POSITIVE_INFINITY,
        tokens: settings.tokensPerMinute ?? Number.POSITIVE_INFINITY,
        windowMs: this.windowMs,
      };
    }
  }

  /** The most texts one call may carry without overflowing a window, if limited. */
  get maxTextsPerCall(): number | undefined {
    const limits = [this.configured?.texts, this.learned?.texts].filter(
      (value): value is number => value !== undefined && Number.isFinite(value),
    );
    return limits.length > 0 ? Math.max(1, Math.floor(Math.min(...limits))) : undefined;
  }

  /** The limits learned from 429s, if any (for figures and tests). */
  get learnedLimits(): Readonly<Limits> | undefined {
    return this.learned;
  }

  /**
   * Waits until `texts` texts and `tokens` tokens fit in the window, then records them as sent.
   * Callers are served in order. Rejects with `GembedAbortError` when `signal` aborts.
   */
  acquire(texts: number, tokens: number, signal?: AbortSignal): Promise<QuotaTicket> {
    return this.take(signal, (now) => {
      const wait = this.waitFor(texts, tokens, now);
      return wait <= 0 ? { texts, tokens } : wait;
    });
  }

  /**
   * Like {@link acquire} for a run of texts whose estimated tokens are `itemTokens`, but when the
   * whole run does not fit now and would wait longer than the margin, it takes the longest first
   * part that fits now, if that part holds at least `minTexts` texts: the ticket's `texts` says
   * how many (the caller sends those and asks again for the rest). A window that frees less than
   * one call's worth at a time (a quota that is not a multiple of the call size, a tokens quota)
   * is then filled instead of left partly empty until a whole call fits.
   */
  acquirePart(
    itemTokens: readonly number[],
    minTexts: number,
    signal?: AbortSignal,
  ): Promise<QuotaTicket> {
    const texts = itemTokens.length;
    let tokens = 0;
    for (const value of itemTokens) tokens += value;
    const floor = Math.max(1, Math.min(texts, Math.floor(minTexts)));
    let floorTokens = 0;
    for (let index = 0; index < floor; index++) floorTokens += itemTokens[index] as number;
    return this.take(signal, (now) => {
      const wait = this.waitFor(texts, tokens, now);
      if (wait <= 0) return { texts, tokens };
      if (wait <= this.marginMs || floor >= texts) return wait;
      const part = this.fittingPart(itemTokens, now);
      if (part.texts >= floor) return part;
      // Wake when the smallest part fits, if that comes before room for the whole.
      return Math.max(1, Math.min(wait, this.waitFor(floor, floorTokens, now)));
    });
  }

  /** Serves callers in order: `decide` says what to record now, or how long to wait. */
  private async take(
    signal: AbortSignal | undefined,
    decide: (now: number) => { texts: number; tokens: number } | number,
  ): Promise<QuotaTicket> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      await raceAbort(previous, signal);
      for (;;) {
        if (signal?.aborted) throw abortError(signal);
        const now = Date.now();
        if (now < this.pausedUntil) {
          await sleep(this.pausedUntil - now, signal);
          continue;
        }
        if (this.learnAt !== undefined) this.learn(this.learnAt);
        const granted = decide(now);
        if (typeof granted !== "number") {
          const ticket: QuotaTicket = { time: now, sentAt: now, ...granted };
          this.log.push(ticket);
          return ticket;
        }
        await sleep(granted, signal);
      }
    } finally {
      release();
    }
  }

  /** The longest first part of `itemTokens` that fits in the window now, under every limit. */
  private fittingPart(
    itemTokens: readonly number[],
    now: number,
  ): { texts: number; tokens: number } {
    const windowMs = this.windowMs + this.marginMs;
    let usedTexts = 0;
    let usedTokens = 0;
    for (let index = this.logStart; index < this.log.length; index++) {
      const entry = this.log[index] as QuotaTicket;
      if (entry.time > now - windowMs) {
        usedTexts += entry.texts;
        usedTokens += entry.tokens;
      }
    }
    let roomTexts = Number.POSITIVE_INFINITY;
    let roomTokens = Number.POSITIVE_INFINITY;
    for (const limits of [this.configured, this.learned]) {
      if (limits === undefined) continue;
      roomTexts = Math.min(roomTexts, limits.texts - usedTexts);
      roomTokens = Math.min(roomTokens, limits.tokens - usedTokens);
    }
    let texts = 0;
    let tokens = 0;
    while (texts < itemTokens.length && texts + 1 <= roomTexts) {
      const next = tokens + (itemTokens[texts] as number);
      if (next > roomTokens) break;
      tokens = next;
      texts++;
    }
    return { texts, tokens };
  }

  /**
   * A 429 arrived for `ticket`: the server counted none of it; every caller waits `delayMs`
   * (the server's `retryDelay`), and, when adaptive, the limiter then keeps under the ceiling
   * measured over the window before this 429.
   */
  onRateLimited(delayMs: number, ticket?: QuotaTicket, measure: QuotaMeasure = "texts"): void {
    this.rateLimitedCount++;
    if (ticket) {
      ticket.texts = 0;
      ticket.tokens = 0;
    }
    const now = Date.now();
    const alreadyPaused = now < this.pausedUntil;
    this.pausedUntil = Math.max(this.pausedUntil, now + Math.max(0, delayMs));
    if (this.adaptive && !alreadyPaused) {
      this.learnAt = now;
      this.learnMeasure = measure;
    }
  }

  /**
   * The server accepted `ticket`: its texts count from now on, an upper bound of when the server
   * counted them (so a window on this side never ends before the server's does).
   */
  onSuccess(ticket: QuotaTicket): void {
    ticket.time = Math.max(ticket.time, Date.now());
  }

  /**
   * The texts and tokens accepted in the window that ended at `end` become the limits. One
   * measure never drops the ceiling by more than 10%: a window half-empty after a pause is not
   * the server's ceiling.
   */
  private learn(end: number): void {
    this.learnAt = undefined;
    let texts = 0;
    let tokens = 0;
    for (let index = this.logStart; index < this.log.length; index++) {
      const entry = this.log[index] as QuotaTicket;
      if (entry.sentAt > end - this.windowMs && entry.sentAt <= end) {
        texts += entry.texts;
        tokens += entry.tokens;
      }
    }
    if (texts === 0) return;
    // Only the measure the 429 named is learned: a texts quota says nothing of tokens.
    const previous = this.learned ?? {
      texts: Number.POSITIVE_INFINITY,
      tokens: Number.POSITIVE_INFINITY,
      windowMs: this.windowMs,
    };
    const lower = (measured: number, before: number): number =>
      Number.isFinite(before) ? Math.max(measured, Math.floor(before * 0.9)) : measured;
    this.learned = {
      texts: this.learnMeasure === "texts" ? lower(texts, previous.texts) : previous.texts,
      tokens:
        this.learnMeasure === "tokens"
          ? Math.max(lower(tokens, previous.tokens), 1)
          : previous.tokens,
      windowMs: this.windowMs,
    };
  }

  /** Milliseconds to wait before `texts`/`tokens` fit; 0 when they fit now. */
  private waitFor(texts: number, tokens: number, now: number): number {
    this.compact(now);
    if (this.configured === undefined && this.learned === undefined) return 0;
    const windowMs = this.windowMs + this.marginMs;
    // Entries still in the window, oldest first (a ticket's time moves when its answer arrives).
    const inWindow: QuotaTicket[] = [];
    for (let index = this.logStart; index < this.log.length; index++) {
      const entry = this.log[index] as QuotaTicket;
      if (entry.time > now - windowMs && (entry.texts > 0 || entry.tokens > 0))
        inWindow.push(entry);
    }
    inWindow.sort((a, b) => a.time - b.time);
    let wait = 0;
    for (const limits of [this.configured, this.learned]) {
      if (limits === undefined) continue;
      wait = Math.max(wait, waitForLimits(inWindow, limits, texts, tokens, now, windowMs));
    }
    return wait;
  }

  /** Drops entries older than the window (plus margin). */
  private compact(now: number): void {
    const longest = this.windowMs + this.marginMs;
    while (
      this.logStart < this.log.length &&
      (this.log[this.logStart] as QuotaTicket).time <= now - longest
    ) {
      this.logStart++;
    }
    if (this.logStart > 1024 && this.logStart * 2 > this.log.length) {
      this.log.splice(0, this.logStart);
      this.logStart = 0;
    }
  }
}

/** Ms until `texts`/`tokens` fit under `limits`, given the entries in the window (oldest first). */
function waitForLimits(
  inWindow: QuotaTicket[],
  limits: Limits,
  texts: number,
  tokens: number,
  now: number,
  windowMs: number,
): number {
  let usedTexts = 0;
  let usedTokens = 0;
  for (const entry of inWindow) {
    usedTexts += entry.texts;
    usedTokens += entry.tokens;
  }
  // A call larger than the whole limit still goes out once the window is empty.
  const fits = (): boolean =>
    (usedTexts <= 0 && usedTokens <= 0) ||
    (usedTexts + texts <= limits.texts && usedTokens + tokens <= limits.tokens);
  if (fits()) return 0;
  for (const entry of inWindow) {
    usedTexts -= entry.texts;
    usedTokens -= entry.tokens;
    if (fits()) return entry.time + windowMs - now + 1;
  }
  return 1;
}

/** Resolves with `promise`, or rejects at once when `signal` aborts. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
