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
});
