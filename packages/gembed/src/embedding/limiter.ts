/**
 * The two adaptive limiters under `GeminiEmbeddingFunction`:
 *
 * - {@link QuotaLimiter} keeps calls under the server's quota of texts and tokens per window. It
 *   needs neither the ceiling nor the window: the first 429 tells both. The server says when room
 *   comes back (`RetryInfo.retryDelay`); room comes back when the oldest text it still counts
 *   leaves its window, so "room time - when that text was answered" is the window (as seen from
 *   here), and what the server accepted over that window is the ceiling. From then on a sliding
 *   log of what was sent keeps every window under the ceiling, so the wall is not hit again.
 * - {@link ConcurrencyLimiter} sets how many calls are in flight: additive increase while answers
 *   come back at a steady latency, multiplicative decrease on 429, 503, timeouts and a latency
 *   that doubles (AIMD, as TCP and Netflix's concurrency-limits do it).
 *
 * Both take a {@link Clock}, so their tests run on virtual time.
 *
 * @module
 */

import { abortError, sleep } from "../client/retry.js";

/** Time as the limiters see it: the system clock, or a virtual one in tests. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms` ms; rejects with `GembedAbortError` when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The system clock (`Date.now`, timers). */
export const systemClock: Clock = { now: () => Date.now(), sleep };

/** Quota settings of {@link QuotaLimiter}. */
export interface QuotaOptions {
  /**
   * Texts per window (each text of a batch counts, like the real quota), when you know it.
   * @default undefined (learned from the first 429)
   */
  textsPerMinute?: number | undefined;
  /**
   * Estimated tokens per window (see `estimateTokens`), when you know it.
   * @default undefined (learned from the first 429 that names a tokens quota)
   */
  tokensPerMinute?: number | undefined;
  /**
   * Length of the quota window in milliseconds, when you know it. The limits above count per
   * window: per minute unless this says otherwise. Left out, the window of a learned ceiling is
   * learned too, from the server's `retryDelay`.
   * @default undefined (60_000 for `textsPerMinute`/`tokensPerMinute`; learned otherwise)
   */
  windowMs?: number | undefined;
  /**
   * React to 429s: wait the server's `retryDelay`, then keep under the ceiling (and window) just
   * learned.
   * @default true
   */
  adaptive?: boolean | undefined;
  /**
   * Extra milliseconds added to each window, against clock and network jitter.
   * @default 1% of the window, at most 50
   */
  marginMs?: number | undefined;
}

/** A ceiling: texts and tokens per window. */
export interface QuotaLimits {
  texts: number;
  tokens: number;
  windowMs: number;
}

/**
 * A ceiling as kept: on answer times (the server counted a call before it answered it, so a
 * window on this side never ends before the server's does).
 */
type Limits = QuotaLimits;

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
  /** Set when the server accepted it (only answered calls teach the ceiling). */
  accepted?: boolean;
  /** Set when its call ended (accepted, refused or failed). */
  resolved?: boolean;
}

/** A wait of the quota limiter, as told to `onWait`. */
export interface QuotaWait {
  /** When the caller goes on (ms since the epoch, on the limiter's clock). */
  resumeAt: number;
  /** `rate-limited`: the server said when (a 429); `window-full`: the ceiling, known or learned. */
  reason: "rate-limited" | "window-full";
}

/**
 * No learned window is much longer than Gemini's longest (a minute, plus room for the calls' own
 * delays); per-day quotas stop the work instead.
 */
const LONGEST_LEARNED_WINDOW_MS = 75_000;
/** How far back the log is kept when no window is known. */
const LOG_HORIZON_MS = 2 * LONGEST_LEARNED_WINDOW_MS;

interface PendingLesson {
  refusedAt: number;
  roomAt: number;
  measure: QuotaMeasure;
  /** Texts or tokens (per `measure`) of the refused call. */
  requested: number;
  /** The ceiling the server named (`QuotaFailure` `quotaValue`), when it did. */
  ceiling: number | undefined;
}

/**
 * Keeps calls under a per-window quota of texts and tokens. Shared by every call of one
 * `GeminiEmbeddingFunction`, since the real quota is per project.
 *
 * It logs what was sent. On a 429 every caller waits the server's `retryDelay`; when adaptive,
 * the limiter then learns the ceiling and its window (see the module comment) and keeps under
 * them. Each later 429 re-measures them: the window only grows (a server whose windows are
 * fixed, not sliding, answers the first 429 with the rest of its current window only), and one
 * measure never lowers the ceiling by more than 10%.
 */
export class QuotaLimiter {
  private readonly configured: Limits | undefined;
  private learned: Limits | undefined;
  private readonly adaptive: boolean;
  private readonly marginOption: number | undefined;
  private readonly fixedWindowMs: number | undefined;
  private readonly clock: Clock;
  private readonly log: QuotaTicket[] = [];
  private logStart = 0;
  private pausedUntil = 0;
  /** Set by a 429: learn from it once the pause is over (answers in flight have come back). */
  private pending: PendingLesson | undefined;
  private tail: Promise<void> = Promise.resolve();
  /** When the first call of all was answered (or refused, or failed). */
  private firstAnswerAt: number | undefined;
  /** Set once every call of the first wave has its answer. */
  private firstWaveDone = false;
  /** Callers waiting for answers before a lesson: woken by each answer. */
  private readonly wakers = new Set<AbortController>();
  /** How many 429s this limiter has seen (for figures and tests). */
  rateLimitedCount = 0;

  constructor(options: QuotaOptions | false | undefined, clock: Clock = systemClock) {
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
    this.clock = clock;
    this.adaptive = options === false ? false : (settings.adaptive ?? true);
    this.fixedWindowMs = settings.windowMs;
    this.marginOption = settings.marginMs;
    if (settings.textsPerMinute !== undefined || settings.tokensPerMinute !== undefined) {
      this.configured = {
        texts: settings.textsPerMinute ?? Number.POSITIVE_INFINITY,
        tokens: settings.tokensPerMinute ?? Number.POSITIVE_INFINITY,
        windowMs: settings.windowMs ?? 60_000,
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

  /** The limits learned from 429s, if any: the ceiling and its window (for figures and tests). */
  get learnedLimits(): Readonly<QuotaLimits> | undefined {
    if (this.learned === undefined) return undefined;
    const { texts, tokens, windowMs } = this.learned;
    return { texts, tokens, windowMs };
  }

  /** Until when every caller waits after a 429 (ms since the epoch; in the past when not). */
  get resumeAt(): number {
    return this.pausedUntil;
  }

  /**
   * Waits until `texts` texts and `tokens` tokens fit in the window, then records them as sent.
   * Callers are served in order. Rejects with `GembedAbortError` when `signal` aborts. `onWait`
   * is told of each wait, with when it ends.
   */
  acquire(
    texts: number,
    tokens: number,
    signal?: AbortSignal,
    onWait?: (wait: QuotaWait) => void,
  ): Promise<QuotaTicket> {
    return this.take(
      signal,
      (now) => {
        const wait = this.waitFor(texts, tokens, now);
        return wait <= 0 ? { texts, tokens } : wait;
      },
      onWait,
    );
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
    onWait?: (wait: QuotaWait) => void,
  ): Promise<QuotaTicket> {
    const texts = itemTokens.length;
    let tokens = 0;
    for (const value of itemTokens) tokens += value;
    const floor = Math.max(1, Math.min(texts, Math.floor(minTexts)));
    let floorTokens = 0;
    for (let index = 0; index < floor; index++) floorTokens += itemTokens[index] as number;
    return this.take(
      signal,
      (now) => {
        const wait = this.waitFor(texts, tokens, now);
        if (wait <= 0) return { texts, tokens };
        if (wait <= this.smallestMargin() || floor >= texts) return wait;
        const part = this.fittingPart(itemTokens, now);
        if (part.texts >= floor) return part;
        // Wake when the smallest part fits, if that comes before room for the whole.
        return Math.max(1, Math.min(wait, this.waitFor(floor, floorTokens, now)));
      },
      onWait,
    );
  }

  /** Serves callers in order: `decide` says what to record now, or how long to wait. */
  private async take(
    signal: AbortSignal | undefined,
    decide: (now: number) => { texts: number; tokens: number } | number,
    onWait: ((wait: QuotaWait) => void) | undefined,
  ): Promise<QuotaTicket> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      // No abort listener while queued (dozens may queue): an aborted caller leaves as soon as
      // its turn comes, and the one ahead of it, sleeping on the same signal, wakes at once.
      await previous;
      for (;;) {
        if (signal?.aborted) throw abortError(signal);
        const now = this.clock.now();
        if (now < this.pausedUntil) {
          onWait?.({ resumeAt: this.pausedUntil, reason: "rate-limited" });
          // Woken by each answer and refusal: a later refusal of the same burst may bring the
          // end of the pause forward (see onRateLimited).
          await this.sleepUnlessAnswered(this.pausedUntil - now, signal);
          continue;
        }
        if (this.pending !== undefined) {
          // Learn once every call sent before the refusal has its answer: on a cold start the
          // server may answer the calls it accepted after the 429's pause is over.
          if (this.unanswered(this.pending.refusedAt)) {
            await this.sleepUnlessAnswered(1000, signal);
            continue;
          }
          this.learn();
        }
        if (this.inFirstWave()) {
          await this.sleepUnlessAnswered(1000, signal);
          continue;
        }
        const granted = decide(now);
        if (typeof granted !== "number") {
          const ticket: QuotaTicket = {
            time: now,
            sentAt: now,
            texts: granted.texts,
            tokens: granted.tokens,
          };
          this.log.push(ticket);
          return ticket;
        }
        onWait?.({ resumeAt: now + granted, reason: "window-full" });
        await this.clock.sleep(granted, signal);
      }
    } finally {
      release();
    }
  }

  /**
   * Whether a call must wait for the rest of the first wave: nothing is known of the quota yet
   * (none told, none learned), and calls sent before the first answer still have none.
   *
   * Why: before the first answer nothing says whether there is a quota, so the first wave (the
   * calls in flight at first, 32) goes out at once: one round trip with no quota for a typical
   * batch, which a slower start would double. But without this hold, each of its first answers
   * would send one or two more calls (the freed slot, slow start's growth) before the wave's
   * 429s are read: 20 accepted answers made a first burst of 62 calls instead of 32. Held until
   * the wave is in (its 429s come right after the accepted answers), the first burst is the
   * first wave whatever the size of the work; with no quota, the calls after the first wave
   * leave when its last answer is in rather than its first (once per limiter).
   */
  private inFirstWave(): boolean {
    if (this.firstWaveDone || this.firstAnswerAt === undefined) return false;
    if (
      !this.adaptive ||
      this.configured !== undefined ||
      this.learned !== undefined ||
      !this.unanswered(this.firstAnswerAt)
    ) {
      this.firstWaveDone = true;
      return false;
    }
    return true;
  }

  /** Sleeps `ms`, or less when an answer comes. */
  private async sleepUnlessAnswered(ms: number, signal: AbortSignal | undefined): Promise<void> {
    const wake = new AbortController();
    this.wakers.add(wake);
    try {
      await this.clock.sleep(ms, signal ? AbortSignal.any([signal, wake.signal]) : wake.signal);
    } catch (error) {
      if (signal?.aborted || !wake.signal.aborted) throw error;
    } finally {
      this.wakers.delete(wake);
    }
  }

  private wakeSleepers(): void {
    for (const wake of this.wakers) wake.abort();
    this.wakers.clear();
  }

  /** Whether a call sent by `time` has no answer yet. */
  private unanswered(time: number): boolean {
    for (let index = this.logStart; index < this.log.length; index++) {
      const entry = this.log[index] as QuotaTicket;
      if (entry.sentAt > time) return false;
      if (entry.resolved !== true) return true;
    }
    return false;
  }

  /** The limits kept: those told, and those learned. */
  private slidingLimits(): Limits[] {
    const limits: Limits[] = [];
    if (this.configured !== undefined) limits.push(this.configured);
    if (this.learned !== undefined) limits.push(this.learned);
    return limits;
  }

  private marginFor(windowMs: number): number {
    return this.marginOption ?? Math.min(50, windowMs / 100);
  }

  private smallestMargin(): number {
    let margin = Number.POSITIVE_INFINITY;
    for (const limits of this.slidingLimits()) {
      margin = Math.min(margin, this.marginFor(limits.windowMs));
    }
    return Number.isFinite(margin) ? margin : 0;
  }

  /** The longest first part of `itemTokens` that fits in the window now, under every limit. */
  private fittingPart(
    itemTokens: readonly number[],
    now: number,
  ): { texts: number; tokens: number } {
    let roomTexts = Number.POSITIVE_INFINITY;
    let roomTokens = Number.POSITIVE_INFINITY;
    for (const limits of this.slidingLimits()) {
      const since = now - limits.windowMs - this.marginFor(limits.windowMs);
      let usedTexts = 0;
      let usedTokens = 0;
      for (let index = this.logStart; index < this.log.length; index++) {
        const entry = this.log[index] as QuotaTicket;
        if (entry.time > since) {
          usedTexts += entry.texts;
          usedTokens += entry.tokens;
        }
      }
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
   * (the server's `retryDelay`), and, when adaptive, the limiter then learns from it (once the
   * pause is over, so the answers still in flight are in).
   */
  onRateLimited(
    delayMs: number,
    ticket?: QuotaTicket,
    measure: QuotaMeasure = "texts",
    ceiling?: number,
  ): void {
    this.rateLimitedCount++;
    if (ticket !== undefined) ticket.resolved = true;
    this.firstAnswerAt ??= this.clock.now();
    this.wakeSleepers();
    const requested = ticket ? (measure === "texts" ? ticket.texts : ticket.tokens) : 0;
    if (ticket) {
      ticket.texts = 0;
      ticket.tokens = 0;
    }
    const now = this.clock.now();
    const alreadyPaused = now < this.pausedUntil;
    const roomAt = now + Math.max(0, delayMs);
    if (!this.adaptive) {
      this.pausedUntil = Math.max(this.pausedUntil, roomAt);
      return;
    }
    // The refusals of one burst (calls sent before the pause) name the same room time, each
    // late by how long this process took to read it (busy with the burst's answers): every one
    // is at or after the server's room time, and the earliest is the truest, so the pause ends
    // then. Nothing is sent during the pause, and the lesson learned before anything is sent
    // again paces the calls that wait. (Without learning, the latest is kept: nothing else
    // would pace them.)
    this.pausedUntil = alreadyPaused ? Math.min(this.pausedUntil, roomAt) : roomAt;
    if (!alreadyPaused) {
      this.pending = { refusedAt: now, roomAt, measure, requested, ceiling };
    } else if (this.pending !== undefined && roomAt < this.pending.roomAt) {
      // The refusals of one burst name the same room time, each late by how long this process
      // took to read it (busy with the burst's answers): the earliest is the truest. Callers
      // still wait for the latest.
      this.pending.roomAt = roomAt;
    }
  }

  /**
   * The server accepted `ticket`: its texts count from now on, an upper bound of when the server
   * counted them (so a window on this side never ends before the server's does).
   *
   * (Counting from the send time plus a reference latency instead, so that a late answer does
   * not push its call's place in the window later, was tried: on a loaded machine a call that
   * reached the server late was then sent again early, and the window grew with each such 429,
   * 1 s windows went from 0.98 s to 1.05-1.15 s and the runs were slower.)
   */
  onSuccess(ticket: QuotaTicket): void {
    const now = this.clock.now();
    ticket.time = Math.max(ticket.time, now);
    ticket.accepted = true;
    ticket.resolved = true;
    this.firstAnswerAt ??= now;
    this.wakeSleepers();
  }

  /**
   * `ticket`'s call failed otherwise (5xx, dropped, timeout): it stays counted (the server may
   * have counted it).
   */
  onFailed(ticket: QuotaTicket): void {
    ticket.resolved = true;
    this.firstAnswerAt ??= this.clock.now();
    this.wakeSleepers();
  }

  /**
   * Learns from the last 429, once every call sent before it has its answer.
   *
   * The ceiling: what the server accepted over the window before the 429. The window, when not
   * told: room came back at `roomAt` because the oldest call the server still counted left its
   * window; which call that was: the first one of all, the first time; then, knowing the
   * ceiling, the one where the calls counted back from the refusal reach it. Times are answer
   * times: the server counted each call a little before answering it, by about the same work
   * for every call, so a window measured from an answer and kept on answers lines up with the
   * server's (a send time would carry the call's way to the server, long on a cold start).
   *
   * The window only grows (a server whose windows are fixed, not sliding, answers the first 429
   * with the rest of its current window; a 429 on a window learned too short measures it
   * again); the ceiling stays when the window grew (the window was too short, not the ceiling
   * too high), and otherwise one measure never lowers it by more than 10% (a window half-empty
   * after a pause is not the server's ceiling), nor raises it (answers bunched together can
   * make one window look fuller than the server counted it).
   */
  private learn(): void {
    const lesson = this.pending as PendingLesson;
    this.pending = undefined;
    const amount = (entry: QuotaTicket): number =>
      lesson.measure === "texts" ? entry.texts : entry.tokens;
    const accepted: QuotaTicket[] = [];
    for (let index = this.logStart; index < this.log.length; index++) {
      const entry = this.log[index] as QuotaTicket;
      if (
        entry.accepted === true &&
        amount(entry) > 0 &&
        // Sent before the refusal; answered before or after it (answers come in any order).
        entry.sentAt <= lesson.refusedAt &&
        entry.time > lesson.refusedAt - LONGEST_LEARNED_WINDOW_MS
      ) {
        accepted.push(entry);
      }
    }
    if (accepted.length === 0) return;
    accepted.sort((a, b) => a.time - b.time);
    const previous = this.learned;
    // A ceiling the server named is the ceiling (Gemini names it: `quotaValue`).
    const previousCeiling =
      lesson.ceiling ?? previous?.[lesson.measure] ?? Number.POSITIVE_INFINITY;
    let windowMs = this.fixedWindowMs;
    let windowGrew = false;
    if (windowMs === undefined) {
      let oldest = accepted[0] as QuotaTicket;
      if (Number.isFinite(previousCeiling)) {
        let counted = 0;
        for (let index = accepted.length - 1; index >= 0; index--) {
          oldest = accepted[index] as QuotaTicket;
          counted += amount(oldest);
          if (counted > previousCeiling - lesson.requested) break;
        }
      }
      const observed = Math.min(
        LONGEST_LEARNED_WINDOW_MS,
        Math.max(1, Math.ceil(lesson.roomAt - oldest.time)),
      );
      windowGrew = previous !== undefined && observed > previous.windowMs;
      windowMs = Math.max(previous?.windowMs ?? 0, observed);
    }
    let measured = 0;
    for (const entry of accepted) {
      // Sent or answered in the window: on a loaded machine answers can lag a short window.
      const since = lesson.refusedAt - windowMs;
      if (entry.time > since || entry.sentAt > since) measured += amount(entry);
    }
    if (measured === 0) return;
    let ceiling = measured;
    if (lesson.ceiling !== undefined) {
      ceiling = lesson.ceiling;
    } else if (Number.isFinite(previousCeiling)) {
      ceiling = windowGrew
        ? previousCeiling
        : Math.min(previousCeiling, Math.max(measured, Math.floor(previousCeiling * 0.9)));
    }
    // Only the measure the 429 named is learned: a texts quota says nothing of tokens.
    this.learned = {
      texts: lesson.measure === "texts" ? ceiling : (previous?.texts ?? Number.POSITIVE_INFINITY),
      tokens:
        lesson.measure === "tokens"
          ? Math.max(ceiling, 1)
          : (previous?.tokens ?? Number.POSITIVE_INFINITY),
      windowMs,
    };
  }

  /** Milliseconds to wait before `texts`/`tokens` fit; 0 when they fit now. */
  private waitFor(texts: number, tokens: number, now: number): number {
    this.compact(now);
    if (this.configured === undefined && this.learned === undefined) return 0;
    let wait = 0;
    for (const limits of this.slidingLimits()) {
      const windowMs = limits.windowMs + this.marginFor(limits.windowMs);
      // Entries still in the window, oldest first (a ticket's time moves when its answer arrives).
      const inWindow: { time: number; texts: number; tokens: number }[] = [];
      for (let index = this.logStart; index < this.log.length; index++) {
        const entry = this.log[index] as QuotaTicket;
        const time = entry.time;
        if (time > now - windowMs && (entry.texts > 0 || entry.tokens > 0)) {
          inWindow.push({ time, texts: entry.texts, tokens: entry.tokens });
        }
      }
      inWindow.sort((a, b) => a.time - b.time);
      wait = Math.max(wait, waitForLimits(inWindow, limits, texts, tokens, now, windowMs));
    }
    return wait;
  }

  /** Drops entries older than any window (plus margin) that may still count them. */
  private compact(now: number): void {
    let longest = LOG_HORIZON_MS;
    for (const limits of [this.configured, this.learned]) {
      if (limits !== undefined) longest = Math.max(longest, 2 * limits.windowMs + 1000);
    }
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
  inWindow: { time: number; texts: number; tokens: number }[],
  limits: QuotaLimits,
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

/** How one call ended, as {@link ConcurrencyLimiter.onResult} sees it. */
export type CallOutcome =
  /** Answered. */
  | "ok"
  /** A 429: the quota, not the load; the quota limiter paces the calls, this one backs off too. */
  | "rate-limited"
  /** 503 or a timeout: the server is overloaded. */
  | "overloaded"
  /** Another failure (a 500, a dropped connection, a short answer): says nothing of the load. */
  | "failed";

/** Settings of {@link ConcurrencyLimiter}. */
export interface ConcurrencyOptions {
  /** Calls in flight at first. */
  initial: number;
  /** Never more calls in flight than this (a user's `concurrency`, else the default cap). */
  max: number;
  /** @default 1 */
  min?: number | undefined;
}

/** Latency above this many times its long-run average counts as rising. */
const LATENCY_TOLERANCE = 2;

/**
 * How many calls may be in flight, adapted to what the server says: AIMD, as TCP does it.
 *
 * - **Increase** while the limit is in use (at least half of it in flight when the call went out)
 *   and the answer came back at a latency under twice the long-run average: +1 per answer at
 *   first (slow start: the limit doubles each round trip), +1 per round trip (+1/limit per answer)
 *   once something has pushed back.
 * - **Decrease** by half on a 429 or a 503 or a timeout, and by 10% on a latency that doubled
 *   (the server queues the calls: more in flight would only wait longer). Once per round trip:
 *   calls sent before the last decrease say nothing new (a burst's 25 refusals are one signal).
 * - A 500, a dropped connection or a short answer changes nothing: one bad call is not load.
 *
 * Always within `[min, max]`: `max` is a user's `concurrency`, else a default that keeps one
 * process from opening hundreds of sockets.
 */
export class ConcurrencyLimiter {
  readonly max: number;
  readonly min: number;
  private current: number;
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private slowStart = true;
  private lastDecreaseAt = Number.NEGATIVE_INFINITY;
  private shortLatency: number | undefined;
  private longLatency: number | undefined;
  private readonly clock: Clock;

  constructor(options: ConcurrencyOptions, clock: Clock = systemClock) {
    this.max = Math.max(1, Math.floor(options.max));
    this.min = Math.max(1, Math.min(this.max, Math.floor(options.min ?? 1)));
    this.current = Math.max(this.min, Math.min(this.max, options.initial));
    this.clock = clock;
  }

  /** Calls allowed in flight now. */
  get limit(): number {
    return Math.max(this.min, Math.min(this.max, Math.floor(this.current)));
  }

  /** Calls in flight now. */
  get inFlight(): number {
    return this.active;
  }

  /** Waits for a free slot (in order). Rejects with `GembedAbortError` when `signal` aborts. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.active < this.limit && this.waiting.length === 0) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const grant = (): void => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const position = this.waiting.indexOf(grant);
        if (position >= 0) this.waiting.splice(position, 1);
        reject(abortError(signal as AbortSignal));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(grant);
    });
  }

  /** Frees a slot taken by {@link acquire}. */
  release(): void {
    this.active--;
    this.pump();
  }

  /** Hands free slots to waiting callers (after a release, or when the limit grew). */
  private pump(): void {
    while (this.active < this.limit && this.waiting.length > 0) {
      this.active++;
      (this.waiting.shift() as () => void)();
    }
  }

  /**
   * Adapts the limit to one call's outcome. `sentAt`: when the call went out (clock time);
   * `latencyMs`: how long its answer took; `inFlight`: calls in flight when it went out.
   */
  onResult(
    outcome: CallOutcome,
    sample: { sentAt: number; latencyMs?: number; inFlight: number },
  ): void {
    const now = this.clock.now();
    const fresh = sample.sentAt > this.lastDecreaseAt;
    if (outcome === "rate-limited" || outcome === "overloaded") {
      if (fresh) this.decrease(0.5, now);
      return;
    }
    if (outcome !== "ok" || sample.latencyMs === undefined) return;
    const latency = sample.latencyMs;
    this.shortLatency =
      this.shortLatency === undefined
        ? latency
        : this.shortLatency + (latency - this.shortLatency) * 0.3;
    this.longLatency =
      this.longLatency === undefined
        ? latency
        : this.longLatency + (latency - this.longLatency) * 0.05;
    // A floor of 50 ms: below it, latency swings with the machine's own load (a local server,
    // a busy client), not with the server's queue.
    if (this.shortLatency > LATENCY_TOLERANCE * Math.max(this.longLatency, 50)) {
      if (fresh) this.decrease(0.9, now);
      return;
    }
    if (sample.inFlight * 2 < this.limit) return;
    this.current = Math.min(this.max, this.current + (this.slowStart ? 1 : 1 / this.current));
    this.pump();
  }

  private decrease(factor: number, now: number): void {
    this.slowStart = false;
    this.lastDecreaseAt = now;
    this.current = Math.max(this.min, this.current * factor);
  }
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
