import { describe, expect, it } from "vitest";
import {
  GembedAbortError,
  GembedError,
  GeminiApiError,
  GeminiConnectionError,
  GeminiTimeoutError,
  InvalidResponseError,
} from "../errors.js";
import { isRetryableError, type RetryAttempt, retryDelayMs, sleep, withRetry } from "./retry.js";

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

  it("takes a GembedError's own isRetryable at its word (a Milvus schema error says false)", () => {
    class StatusError extends GembedError {
      constructor(readonly isRetryable: boolean) {
        super("status");
      }
    }
    expect(isRetryableError(new StatusError(false))).toBe(false);
    expect(isRetryableError(new StatusError(true))).toBe(true);
    // Not a GembedError: an unknown error with the same field is still not retried.
    expect(isRetryableError(Object.assign(new Error("x"), { isRetryable: true }))).toBe(false);
  });

  it("for a request that is not idempotent, retries only what the server surely did not do", () => {
    const refused = new GeminiConnectionError("refused", {
      cause: Object.assign(new Error("connect"), { code: "ECONNREFUSED" }),
    });
    const reset = new GeminiConnectionError("reset", {
      cause: Object.assign(new Error("socket"), { code: "ECONNRESET" }),
    });
    const once = { idempotent: false };
    expect(isRetryableError(apiError(429), once)).toBe(true);
    expect(isRetryableError(apiError(503), once)).toBe(true);
    expect(isRetryableError(apiError(500), once)).toBe(false);
    const perDay = apiError(429, [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        violations: [{ quotaId: "GenerateRequestsPerDayPerProjectPerModel" }],
      },
    ]);
    expect(isRetryableError(perDay, once)).toBe(false);
    expect(isRetryableError(refused, once)).toBe(true);
    expect(isRetryableError(reset, once)).toBe(false);
    expect(isRetryableError(new GeminiTimeoutError("slow"), once)).toBe(false);
    expect(isRetryableError(reset)).toBe(true);
  });

  it("retries an answer that failed the caller's checks only when the caller checks answers", () => {
    const short = new InvalidResponseError("2 embeddings for 3 texts");
    expect(isRetryableError(short)).toBe(false);
    expect(isRetryableError(short, { checkedAnswers: true })).toBe(true);
    expect(isRetryableError(apiError(400), { checkedAnswers: true })).toBe(false);
  });
});

/** A fake clock's sleep: records each wait and returns at once. */
function recordingSleep() {
  const waits: number[] = [];
  return {
    waits,
    sleep: (ms: number, signal?: AbortSignal) => {
      signal?.throwIfAborted();
      waits.push(ms);
      return Promise.resolve();
    },
  };
}

/** `run` for withRetry that throws `errors` in turn, then answers "done"; counts its calls. */
function failing(...errors: unknown[]) {
  const attempts: number[] = [];
  return {
    attempts,
    run: (attempt: number) => {
      attempts.push(attempt);
      const error = errors[attempts.length - 1];
      return error === undefined ? Promise.resolve("done") : Promise.reject(error);
    },
  };
}

describe("withRetry", () => {
  it("retries retryable errors, waiting what the server asked for, else backoff", async () => {
    const clock = recordingSleep();
    const work = failing(apiError(429, [retryInfo("1.5s")]), apiError(503, [], "2"), apiError(500));
    const told: RetryAttempt[] = [];
    const answer = await withRetry(work.run, {
      maxRetries: 3,
      baseDelay: 100,
      sleep: clock.sleep,
      onRetry: (event) => told.push(event),
    });
    expect(answer).toBe("done");
    expect(work.attempts).toEqual([0, 1, 2, 3]);
    // RetryInfo, then Retry-After, then backoff with jitter: half to all of 100 * 2^2.
    expect(clock.waits.slice(0, 2)).toEqual([1500, 2000]);
    expect(clock.waits[2]).toBeGreaterThanOrEqual(200);
    expect(clock.waits[2]).toBeLessThanOrEqual(400);
    expect(told.map((event) => [event.attempt, event.delayMs])).toEqual(
      clock.waits.map((wait, attempt) => [attempt, wait]),
    );
    expect(told[2]?.error).toMatchObject({ httpStatus: 500 });
  });

  it("gives up after maxRetries with the last error", async () => {
    const clock = recordingSleep();
    const last = apiError(503);
    const work = failing(apiError(500), apiError(502), last);
    const error = await withRetry(work.run, { maxRetries: 2, sleep: clock.sleep }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBe(last);
    expect(work.attempts).toEqual([0, 1, 2]);
    expect(clock.waits).toHaveLength(2);
  });

  it("never retries an error that is not retryable, a bug, or an unknown error", async () => {
    for (const thrown of [apiError(400), new TypeError("bug"), new InvalidResponseError("short")]) {
      const clock = recordingSleep();
      const work = failing(thrown);
      await expect(withRetry(work.run, { maxRetries: 5, sleep: clock.sleep })).rejects.toBe(thrown);
      expect(work.attempts).toEqual([0]);
      expect(clock.waits).toEqual([]);
    }
  });

  it("asks shouldRetry and delay when given, and counts from firstAttempt", async () => {
    const clock = recordingSleep();
    const work = failing(new TypeError("a"), new TypeError("b"), new TypeError("c"));
    const error = await withRetry(work.run, {
      maxRetries: 3,
      firstAttempt: 1,
      shouldRetry: (caught) => caught instanceof TypeError,
      delay: (_error, attempt) => attempt * 10,
      sleep: clock.sleep,
    }).catch((caught: unknown) => caught);
    // Attempts 1, 2 and 3: the last allowed, so its error is thrown.
    expect(work.attempts).toEqual([1, 2, 3]);
    expect(clock.waits).toEqual([10, 20]);
    expect((error as Error).message).toBe("c");
  });

  it("gives the error back at once when the server asks for a wait past maxDelay", async () => {
    const clock = recordingSleep();
    const refused = apiError(429, [retryInfo("120s")]);
    const work = failing(refused);
    await expect(
      withRetry(work.run, { maxRetries: 3, maxDelay: 60_000, sleep: clock.sleep }),
    ).rejects.toBe(refused);
    expect(work.attempts).toEqual([0]);
  });

  it("stops at once when the caller aborts during a wait, without another attempt", async () => {
    const controller = new AbortController();
    const work = failing(apiError(503, [], "600"));
    const pending = withRetry(work.run, {
      maxRetries: 3,
      maxDelay: 3_600_000,
      signal: controller.signal,
      onRetry: () => setTimeout(() => controller.abort(new Error("why")), 10),
    }).catch((caught: unknown) => caught);
    const error = await pending;
    expect(error).toBeInstanceOf(GembedAbortError);
    expect(((error as Error).cause as Error).message).toBe("why");
    expect(work.attempts).toEqual([0]);
  });

  it("never retries a failure once the caller has aborted, nor starts after an abort", async () => {
    const controller = new AbortController();
    const work = {
      calls: 0,
      run() {
        this.calls++;
        controller.abort();
        return Promise.reject(new GeminiConnectionError("reset"));
      },
    };
    const clock = recordingSleep();
    const error = await withRetry(() => work.run(), {
      maxRetries: 3,
      signal: controller.signal,
      sleep: clock.sleep,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GembedAbortError);
    expect(work.calls).toBe(1);
    expect(clock.waits).toEqual([]);
    const never = failing();
    await expect(
      withRetry(never.run, { maxRetries: 3, signal: AbortSignal.abort() }),
    ).rejects.toBeInstanceOf(GembedAbortError);
    expect(never.attempts).toEqual([]);
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
