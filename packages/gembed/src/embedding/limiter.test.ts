import { describe, expect, it } from "vitest";
import { abortError } from "../client/retry.js";
import { GembedAbortError } from "../errors.js";
import { type Clock, ConcurrencyLimiter, QuotaLimiter } from "./limiter.js";

/**
 * Virtual time: `sleep` moves the clock forward by what it was asked and resolves on the next
 * tick, so the tests see how long a caller would have waited without waiting for it.
 */
class VirtualClock implements Clock {
  time = 1_000_000;
  /** Every sleep asked for, in ms. */
  readonly sleeps: number[] = [];
  now(): number {
    return this.time;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    this.sleeps.push(ms);
    this.time += ms;
    return Promise.resolve();
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

describe("QuotaLimiter", () => {
  it("validates its options", () => {
    expect(() => new QuotaLimiter({ textsPerMinute: 0 })).toThrow(RangeError);
    expect(() => new QuotaLimiter({ textsPerMinute: "5" as unknown as number })).toThrow(TypeError);
    expect(() => new QuotaLimiter({ adaptive: 1 as unknown as boolean })).toThrow(TypeError);
    expect(() => new QuotaLimiter(5 as unknown as false)).toThrow(TypeError);
  });

  it("lets a window's worth through, then waits for the oldest to expire", async () => {
    const clock = new VirtualClock();
    const limiter = new QuotaLimiter({ textsPerMinute: 10, windowMs: 300, marginMs: 0 }, clock);
    const started = clock.now();
    await limiter.acquire(6, 6);
    await limiter.acquire(4, 4);
    expect(clock.now()).toBe(started);
    await limiter.acquire(5, 5);
    expect(clock.now() - started).toBeGreaterThanOrEqual(300);
    expect(limiter.maxTextsPerCall).toBe(10);
  });

  it("counts tokens too", async () => {
    const clock = new VirtualClock();
    const limiter = new QuotaLimiter({ tokensPerMinute: 100, windowMs: 200, marginMs: 0 }, clock);
    const started = clock.now();
    await limiter.acquire(1, 80);
    await limiter.acquire(1, 30);
    expect(clock.now() - started).toBeGreaterThanOrEqual(200);
  });

  it("pauses everyone for the server's retryDelay and learns the ceiling (window told)", async () => {
    const clock = new VirtualClock();
    const limiter = new QuotaLimiter({ windowMs: 400, marginMs: 0 }, clock);
    expect(limiter.maxTextsPerCall).toBeUndefined();
    const started = clock.now();
    limiter.onSuccess(await limiter.acquire(30, 300));
    limiter.onSuccess(await limiter.acquire(20, 200));
    const refused = await limiter.acquire(40, 400);
    limiter.onRateLimited(150, refused);
    const waits: number[] = [];
    await limiter.acquire(10, 10, undefined, (wait) => waits.push(wait.resumeAt));
    // The refused call is not counted: the ceiling is what the server accepted (50), and the
    // window holds 50 until the first calls expire.
    expect(limiter.learnedLimits).toEqual({
      texts: 50,
      tokens: Number.POSITIVE_INFINITY,
      windowMs: 400,
    });
    expect(limiter.maxTextsPerCall).toBe(50);
    expect(clock.now() - started).toBeGreaterThanOrEqual(400);
    // First the server's pause, then the window learned.
    expect(waits[0]).toBe(started + 150);
    expect(limiter.rateLimitedCount).toBe(1);
  });

  it("learns the window from retryDelay when none is told", async () => {
    for (const windowMs of [1000, 2000, 60_000]) {
      const clock = new VirtualClock();
      const limiter = new QuotaLimiter({}, clock);
      const start = clock.now();
      // A sliding window of 500 texts: five calls of 100 go through, the sixth is refused and
      // told to come back when the first leaves the window.
      for (let call = 0; call < 5; call++) {
        const ticket = await limiter.acquire(100, 100);
        clock.advance(5);
        limiter.onSuccess(ticket);
      }
      const refused = await limiter.acquire(100, 100);
      clock.advance(5);
      limiter.onRateLimited(start + windowMs - clock.now(), refused);
      await limiter.acquire(100, 100);
      expect(limiter.learnedLimits?.texts).toBe(500);
      // Measured from the first call's answer, 5 ms after it was sent (and counted).
      expect(limiter.learnedLimits?.windowMs).toBe(windowMs - 5);
      // From then on, 500 per window: the next 500 wait for the window after.
      for (let call = 0; call < 4; call++) await limiter.acquire(100, 100);
      const before = clock.now();
      await limiter.acquire(100, 100);
      expect(clock.now()).toBeGreaterThan(before);
      expect(clock.now() - start).toBeGreaterThanOrEqual(2 * windowMs);
    }
  });

  it("grows a window learned too short (a fixed window answered mid-way) and keeps the ceiling", async () => {
    const clock = new VirtualClock();
    const limiter = new QuotaLimiter({ marginMs: 0 }, clock);
    // A fixed 1 s window that began 600 ms before the first call: the first 429 says "400 ms".
    const windowStart = clock.now() - 600;
    for (let call = 0; call < 2; call++) limiter.onSuccess(await limiter.acquire(100, 100));
    limiter.onRateLimited(windowStart + 1000 - clock.now(), await limiter.acquire(100, 100));
    limiter.onSuccess(await limiter.acquire(100, 100));
    expect(limiter.learnedLimits).toMatchObject({ texts: 200, windowMs: 400 });
    limiter.onSuccess(await limiter.acquire(100, 100));
    // The server's next window starts at windowStart + 1000 and ends at + 2000: refused again.
    const refused = await limiter.acquire(100, 100);
    limiter.onRateLimited(windowStart + 2000 - clock.now(), refused);
    await limiter.acquire(100, 100);
    expect(limiter.learnedLimits?.texts).toBe(200);
    expect(limiter.learnedLimits?.windowMs).toBe(1000);
  });

  it("ends the pause of a burst at the earliest room time its refusals name", () => {
    const clock = new VirtualClock();
    const limiter = new QuotaLimiter({}, clock);
    const roomAt = clock.now() + 1000;
    // A burst's refusals, read late by this busy process: each says "come back in" the time
    // left until roomAt as the server saw it, so the later ones read name a later time.
    const refusals = [60, 10, 40];
    for (const late of refusals) {
      limiter.onRateLimited(roomAt - clock.now() + late);
      clock.advance(5);
    }
    expect(limiter.resumeAt).toBe(roomAt + 10);
    // Not adaptive, nothing paces the calls after the pause: the latest is kept.
    const fixed = new QuotaLimiter({ adaptive: false }, clock);
    for (const late of refusals) fixed.onRateLimited(roomAt - clock.now() + late);
    expect(fixed.resumeAt).toBe(roomAt + 60);
  });

  it("does not learn when not adaptive, but still waits", async () => {
    const clock = new VirtualClock();
    const limiter = new QuotaLimiter(false, clock);
    const ticket = await limiter.acquire(5, 5);
    limiter.onRateLimited(100, ticket);
    const started = clock.now();
    await limiter.acquire(1, 1);
    expect(clock.now() - started).toBe(100);
    expect(limiter.learnedLimits).toBeUndefined();
  });

  it("aborts a waiting caller at once", async () => {
    const limiter = new QuotaLimiter({ textsPerMinute: 1, windowMs: 60_000 });
    await limiter.acquire(1, 1);
    const controller = new AbortController();
    const waiting = limiter.acquire(1, 1, controller.signal);
    setTimeout(() => controller.abort(), 20);
    await expect(waiting).rejects.toBeInstanceOf(GembedAbortError);
  });

  it("grants the part of a run that fits when the whole would wait", async () => {
    const limiter = new QuotaLimiter({ textsPerMinute: 250, windowMs: 10_000, marginMs: 0 });
    const hundred = new Array<number>(100).fill(1);
    expect((await limiter.acquirePart(hundred, 25)).texts).toBe(100);
    expect((await limiter.acquirePart(hundred, 25)).texts).toBe(100);
    // 50 texts of room: a whole call would wait 10 s; the first 50 go now.
    const part = await limiter.acquirePart(hundred, 25);
    expect(part).toMatchObject({ texts: 50, tokens: 50 });
    // No room at all now: a part of at least 1 would wait too.
    const controller = new AbortController();
    const waiting = limiter.acquirePart(hundred.slice(50), 1, controller.signal);
    setTimeout(() => controller.abort(), 30);
    await expect(waiting).rejects.toBeInstanceOf(GembedAbortError);
  });

  it("takes no part smaller than asked, and counts tokens per text", async () => {
    const limiter = new QuotaLimiter({ tokensPerMinute: 100, windowMs: 10_000, marginMs: 0 });
    await limiter.acquire(1, 40);
    // 60 tokens of room: two texts of 30 fit, the third would overflow.
    expect(await limiter.acquirePart([30, 30, 30, 30], 1)).toMatchObject({ texts: 2, tokens: 60 });
    await limiter.acquire(1, 0);
    const tight = new QuotaLimiter({ textsPerMinute: 10, windowMs: 10_000, marginMs: 0 });
    await tight.acquire(8, 8);
    // Room for 2 of 8, but at least 4 asked: it waits for the whole.
    const controller = new AbortController();
    const waiting = tight.acquirePart(new Array<number>(8).fill(1), 4, controller.signal);
    setTimeout(() => controller.abort(), 30);
    await expect(waiting).rejects.toBeInstanceOf(GembedAbortError);
  });

  it("wakes when a part fits, not only when the whole does", async () => {
    const clock = new VirtualClock();
    const limiter = new QuotaLimiter({ textsPerMinute: 250, windowMs: 400, marginMs: 0 }, clock);
    await limiter.acquire(50, 50);
    clock.advance(150);
    await limiter.acquire(100, 100);
    await limiter.acquire(100, 100);
    // Full: 50 texts free first (the oldest entry), 100 only 150 ms later. Sleeping until the
    // whole fits would then grant all 100; waking when the part fits grants those 50.
    const part = await limiter.acquirePart(new Array<number>(100).fill(1), 25);
    expect(part.texts).toBe(50);
  });
});

describe("ConcurrencyLimiter", () => {
  const answered = (limiter: ConcurrencyLimiter, clock: VirtualClock, latencyMs = 100): void => {
    limiter.onResult("ok", { sentAt: clock.now() - latencyMs, latencyMs, inFlight: limiter.limit });
  };

  it("grows while answers come back steadily, up to its cap", () => {
    const clock = new VirtualClock();
    const limiter = new ConcurrencyLimiter({ initial: 4, max: 10 }, clock);
    for (let answer = 0; answer < 3; answer++) answered(limiter, clock);
    expect(limiter.limit).toBe(7);
    for (let answer = 0; answer < 50; answer++) answered(limiter, clock);
    expect(limiter.limit).toBe(10);
  });

  it("does not grow when the limit is not in use", () => {
    const clock = new VirtualClock();
    const limiter = new ConcurrencyLimiter({ initial: 8, max: 64 }, clock);
    for (let answer = 0; answer < 20; answer++) {
      limiter.onResult("ok", { sentAt: clock.now(), latencyMs: 100, inFlight: 1 });
    }
    expect(limiter.limit).toBe(8);
  });

  it("halves once on a burst of 429s, then grows by one per round trip", () => {
    const clock = new VirtualClock();
    const limiter = new ConcurrencyLimiter({ initial: 32, max: 64 }, clock);
    const burst = clock.now();
    clock.advance(50);
    for (let refused = 0; refused < 25; refused++) {
      limiter.onResult("rate-limited", { sentAt: burst, inFlight: 32 });
    }
    expect(limiter.limit).toBe(16);
    // A call sent after the decrease is a new signal.
    clock.advance(10);
    limiter.onResult("rate-limited", { sentAt: clock.now() - 5, inFlight: 16 });
    expect(limiter.limit).toBe(8);
    // Out of slow start: about +1 per round trip (8 answers at 8 in flight), not +1 per answer.
    for (let answer = 0; answer < 9; answer++) answered(limiter, clock);
    expect(limiter.limit).toBe(9);
  });

  it("backs off on 503s and on a doubled latency, not on a lone 500", () => {
    const clock = new VirtualClock();
    const limiter = new ConcurrencyLimiter({ initial: 20, max: 64 }, clock);
    limiter.onResult("failed", { sentAt: clock.now(), inFlight: 20 });
    expect(limiter.limit).toBe(20);
    clock.advance(1);
    limiter.onResult("overloaded", { sentAt: clock.now(), inFlight: 20 });
    expect(limiter.limit).toBe(10);
    for (let answer = 0; answer < 30; answer++) answered(limiter, clock, 100);
    const before = limiter.limit;
    clock.advance(1000);
    for (let answer = 0; answer < 5; answer++) answered(limiter, clock, 400);
    expect(limiter.limit).toBeLessThan(before);
  });

  it("hands slots out in order, never more than the limit", async () => {
    const limiter = new ConcurrencyLimiter({ initial: 2, max: 2 });
    await limiter.acquire();
    await limiter.acquire();
    const order: number[] = [];
    const third = limiter.acquire().then(() => order.push(3));
    const fourth = limiter.acquire().then(() => order.push(4));
    expect(limiter.inFlight).toBe(2);
    limiter.release();
    await third;
    expect(order).toEqual([3]);
    limiter.release();
    await fourth;
    expect(order).toEqual([3, 4]);
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(GembedAbortError);
    limiter.release();
    expect(limiter.inFlight).toBe(1);
  });
});
