import { describe, expect, it } from "vitest";
import {
  GembedAbortError,
  GeminiApiError,
  GeminiConnectionError,
  GeminiTimeoutError,
  InvalidResponseError,
} from "../errors.js";
import { isRetryableError, retryDelayMs, sleep } from "./retry.js";

function apiError(
  httpStatus: number,
  details: Record<string, unknown>[] = [],
  retryAfter?: string,
) {
  return GeminiApiError.generate({
    httpStatus,
    error: { code: httpStatus, message: "x", status: "S", details: details as never },
    headers: new Headers(retryAfter ? { "retry-after": retryAfter } : {}),
  });
}

const retryInfo = (retryDelay: string) => ({
  "@type": "type.googleapis.com/google.rpc.RetryInfo",
  retryDelay,
});

describe("isRetryableError", () => {
  it("classifies errors", () => {
    expect(isRetryableError(apiError(429))).toBe(true);
    expect(isRetryableError(apiError(503))).toBe(true);
    expect(isRetryableError(apiError(400))).toBe(false);
    expect(isRetryableError(apiError(501))).toBe(false);
    expect(
      isRetryableError(
        apiError(429, [
          {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            violations: [{ quotaId: "GenerateRequestsPerDayPerProjectPerModel" }],
          },
        ]),
      ),
    ).toBe(false);
    expect(isRetryableError(new GeminiConnectionError("reset"))).toBe(true);
    expect(isRetryableError(new GeminiTimeoutError("slow"))).toBe(true);
    expect(isRetryableError(new GembedAbortError("stop"))).toBe(false);
    expect(isRetryableError(new InvalidResponseError("short"))).toBe(false);
    expect(isRetryableError(new TypeError("bug"))).toBe(false);
    expect(isRetryableError("string")).toBe(false);
  });
});

describe("retryDelayMs", () => {
  it("takes RetryInfo first, then Retry-After, capped by maxDelay", () => {
    expect(retryDelayMs(apiError(429, [retryInfo("1.5s")], "9"), 0)).toBe(1500);
    expect(retryDelayMs(apiError(503, [], "2"), 0)).toBe(2000);
    expect(retryDelayMs(apiError(429, [retryInfo("59s")]), 0, { maxDelay: 10_000 })).toBe(10_000);
  });

  it("falls back to exponential backoff with jitter", () => {
    const error = new GeminiConnectionError("reset");
    for (let attempt = 0; attempt < 5; attempt++) {
      const ceiling = 100 * 2 ** attempt;
      const values = Array.from({ length: 50 }, () =>
        retryDelayMs(error, attempt, { baseDelay: 100, maxDelay: 100_000 }),
      );
      for (const value of values) {
        expect(value).toBeGreaterThanOrEqual(ceiling / 2);
        expect(value).toBeLessThanOrEqual(ceiling);
      }
      expect(new Set(values).size).toBeGreaterThan(1);
    }
    expect(retryDelayMs(error, 40, { baseDelay: 100, maxDelay: 1_000 })).toBeLessThanOrEqual(1_000);
  });

  it("rejects bad arguments", () => {
    expect(() => retryDelayMs(apiError(500), -1)).toThrow(RangeError);
    expect(() => retryDelayMs(apiError(500), 0, { maxDelay: -1 })).toThrow(RangeError);
  });
});

describe("sleep", () => {
  it("waits about the given time", async () => {
    const started = performance.now();
    await sleep(120);
    expect(performance.now() - started).toBeGreaterThanOrEqual(110);
  });

  it("rejects with GembedAbortError at once when aborted, or already aborted", async () => {
    const controller = new AbortController();
    const started = performance.now();
    const pending = sleep(10_000, controller.signal);
    setTimeout(() => controller.abort(new Error("why")), 50);
    const error = await pending.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GembedAbortError);
    expect(((error as Error).cause as Error).message).toBe("why");
    expect(performance.now() - started).toBeLessThan(2_000);
    await expect(sleep(10, AbortSignal.abort())).rejects.toBeInstanceOf(GembedAbortError);
  });
});
