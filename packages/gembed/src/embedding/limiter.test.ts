import { describe, expect, it } from "vitest";
import { GembedAbortError } from "../errors.js";
import { QuotaLimiter } from "./limiter.js";

describe("QuotaLimiter", () => {
  it("validates its options", () => {
    expect(() => new QuotaLimiter({ textsPerMinute: 0 })).toThrow(RangeError);
    expect(() => new QuotaLimiter({ textsPerMinute: "5" as unknown as number })).toThrow(TypeError);
    expect(() => new QuotaLimiter({ adaptive: 1 as unknown as boolean })).toThrow(TypeError);
    expect(() => new QuotaLimiter(5 as unknown as false)).toThrow(TypeError);
  });

  it("lets a window's worth through, then waits for the oldest to expire", async () => {
    const limiter = new QuotaLimiter({ textsPerMinute: 10, windowMs: 300, marginMs: 0 });
    const started = Date.now();
    await limiter.acquire(6, 6);
    await limiter.acquire(4, 4);
    await limiter.acquire(5, 5);
    expect(Date.now() - started).toBeGreaterThanOrEqual(295);
    expect(limiter.maxTextsPerCall).toBe(10);
  });

  it("counts tokens too", async () => {
    const limiter = new QuotaLimiter({ tokensPerMinute: 100, windowMs: 200, marginMs: 0 });
    const started = Date.now();
    await limiter.acquire(1, 80);
    await limiter.acquire(1, 30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(195);
  });

  it("pauses everyone for the server's retryDelay and learns the ceiling", async () => {
    const limiter = new QuotaLimiter({ windowMs: 400, marginMs: 0 });
    expect(limiter.maxTextsPerCall).toBeUndefined();
    const started = Date.now();
    await limiter.acquire(30, 300);
    await limiter.acquire(20, 200);
    const refused = await limiter.acquire(40, 400);
    limiter.onRateLimited(150, refused);
    await limiter.acquire(10, 10);
    // The refused call is not counted: the ceiling is what the server accepted (50), and the
    // window holds 50 until the first call's 30 texts expire.
    expect(limiter.learnedLimits).toEqual({
      texts: 50,
      tokens: Number.POSITIVE_INFINITY,
      windowMs: 400,
    });
    expect(limiter.maxTextsPerCall).toBe(50);
    expect(Date.now() - started).toBeGreaterThanOrEqual(395);
    expect(limiter.rateLimitedCount).toBe(1);
  });

  it("does not learn when not adaptive, but still waits", async () => {
    const limiter = new QuotaLimiter(false);
    const ticket = await limiter.acquire(5, 5);
    limiter.onRateLimited(100, ticket);
    const started = Date.now();
    await limiter.acquire(1, 1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
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
    const limiter = new QuotaLimiter({ textsPerMinute: 250, windowMs: 400, marginMs: 0 });
    await limiter.acquire(50, 50);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await limiter.acquire(100, 100);
    await limiter.acquire(100, 100);
    // Full: 50 texts free first (the oldest entry), 100 only 150 ms later. Sleeping until the
    // whole fits would then grant all 100; waking when the part fits grants those 50.
    const part = await limiter.acquirePart(new Array<number>(100).fill(1), 25);
    expect(part.texts).toBe(50);
  });
});
