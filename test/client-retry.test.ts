import {
  GembedAbortError,
  GeminiClient,
  GeminiConnectionError,
  InternalServerError,
  RateLimitError,
  type RetryEvent,
} from "gembed";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  quotaReply,
  type ScriptedServer,
  startScriptedServer,
  statusBody,
} from "./support/scripted-server.js";

const KEY = "retry-test-key";
const MODEL = "gemini-embedding-001";
const one = { content: { parts: [{ text: "hello" }] } };
const ok = { json: { embedding: { values: [0.5] } } };
const PER_MINUTE = "EmbedContentRequestsPerMinutePerUserPerProjectPerModel-FreeTier";
const PER_DAY = "EmbedContentRequestsPerDayPerUserPerProjectPerModel-FreeTier";

let server: ScriptedServer;

beforeEach(async () => {
  server = await startScriptedServer();
});
afterEach(async () => {
  await server.close();
});

function makeClient(options: ConstructorParameters<typeof GeminiClient>[0] = {}) {
  return new GeminiClient({ apiKey: KEY, baseUrl: server.url, ...options });
}

/** Gaps between consecutive requests, in ms. */
function gaps(): number[] {
  return server.requests.slice(1).map((request, index) => request.at - server.requests[index]!.at);
}

describe("retries", () => {
  it("honours RetryInfo.retryDelay of a 429 (no Retry-After header)", async () => {
    server.enqueue(quotaReply("0.25s", PER_MINUTE), quotaReply("0.3s", PER_MINUTE), ok);
    const events: RetryEvent[] = [];
    const client = makeClient({ onRetry: (event) => events.push(event) });
    const response = await client.embedContent(MODEL, one);
    expect(response.embedding.values).toEqual([0.5]);
    expect(server.requests).toHaveLength(3);
    const [first, second] = gaps();
    expect(first).toBeGreaterThanOrEqual(240);
    expect(first).toBeLessThan(1_000);
    expect(second).toBeGreaterThanOrEqual(290);
    expect(second).toBeLessThan(1_000);
    expect(events.map((event) => event.delayMs)).toEqual([250, 300]);
    expect(events[0]!.error).toBeInstanceOf(RateLimitError);
    expect(events[0]!.operation).toContain(":embedContent");
  });

  it("honours Retry-After when there is no RetryInfo", async () => {
    server.enqueue(
      {
        status: 503,
        headers: { "retry-after": "1" },
        json: statusBody(503, "UNAVAILABLE", "busy"),
      },
      ok,
    );
    await makeClient().embedContent(MODEL, one);
    expect(server.requests).toHaveLength(2);
    expect(gaps()[0]).toBeGreaterThanOrEqual(980);
    expect(gaps()[0]).toBeLessThan(2_000);
  });

  it("retries 408, 500, 502, 504 and a connection reset with backoff, then succeeds", async () => {
    server.enqueue(
      { status: 408, json: statusBody(408, "DEADLINE_EXCEEDED", "slow") },
      { status: 500, json: statusBody(500, "INTERNAL", "oops") },
      { status: 502, body: "bad gateway" },
      { status: 504, json: statusBody(504, "DEADLINE_EXCEEDED", "slow") },
      { reset: true },
      ok,
    );
    const events: RetryEvent[] = [];
    const client = makeClient({
      maxRetries: 5,
      maxRetryDelay: 100,
      onRetry: (e) => events.push(e),
    });
    await client.embedContent(MODEL, one);
    expect(server.requests).toHaveLength(6);
    expect(events.at(-1)!.error).toBeInstanceOf(GeminiConnectionError);
    // Backoff with jitter, capped by maxRetryDelay.
    for (const event of events) {
      expect(event.delayMs).toBeGreaterThanOrEqual(50);
      expect(event.delayMs).toBeLessThanOrEqual(100);
    }
  });

  it("gives up after maxRetries and throws the last error", async () => {
    server.fallback = { status: 500, json: statusBody(500, "INTERNAL", "always") };
    const client = makeClient({ maxRetries: 2, maxRetryDelay: 20 });
    await expect(client.embedContent(MODEL, one)).rejects.toBeInstanceOf(InternalServerError);
    expect(server.requests).toHaveLength(3);
  });

  it("per-call maxRetries overrides the client's", async () => {
    server.fallback = { status: 503, json: statusBody(503, "UNAVAILABLE", "busy") };
    const client = makeClient({ maxRetries: 5, maxRetryDelay: 20 });
    await expect(client.embedContent(MODEL, one, { maxRetries: 0 })).rejects.toBeInstanceOf(
      InternalServerError,
    );
    expect(server.requests).toHaveLength(1);
  });

  it("does not retry 400, 403, 404", async () => {
    for (const [code, status] of [
      [400, "INVALID_ARGUMENT"],
      [403, "PERMISSION_DENIED"],
      [404, "NOT_FOUND"],
    ] as const) {
      server.enqueue({ status: code, json: statusBody(code, status, "no") });
    }
    const client = makeClient({ maxRetries: 3 });
    for (let index = 0; index < 3; index++) {
      await expect(client.embedContent(MODEL, one)).rejects.toThrow();
    }
    expect(server.requests).toHaveLength(3);
  });

  it("a per-day quota 429 is not retried", async () => {
    server.enqueue(quotaReply("20s", PER_DAY), ok);
    const started = performance.now();
    const error = await makeClient({ maxRetries: 3 })
      .embedContent(MODEL, one)
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).isPerDayQuota).toBe(true);
    expect(server.requests).toHaveLength(1);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it("a requested wait over maxRetryDelay is thrown at once, carrying retryDelayMs", async () => {
    server.enqueue(quotaReply("59s", PER_MINUTE), ok);
    const error = await makeClient({ maxRetries: 3, maxRetryDelay: 10_000 })
      .embedContent(MODEL, one)
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).retryDelayMs).toBe(59_000);
    expect(server.requests).toHaveLength(1);
  });

  it("a timeout is retried, then succeeds", async () => {
    server.enqueue({ hang: true }, ok);
    const client = makeClient({ timeout: 150, maxRetries: 1, maxRetryDelay: 10 });
    await expect(client.embedContent(MODEL, one)).resolves.toBeDefined();
    expect(server.requests).toHaveLength(2);
  });

  it("the caller's abort cancels a retry sleep at once", async () => {
    server.enqueue(quotaReply("5s", PER_MINUTE), ok);
    const controller = new AbortController();
    const client = makeClient({
      maxRetries: 3,
      onRetry: () => setTimeout(() => controller.abort(), 100),
    });
    const started = performance.now();
    const error = await client
      .embedContent(MODEL, one, { signal: controller.signal })
      .catch((caught: unknown) => caught);
    const waited = performance.now() - started;
    expect(error).toBeInstanceOf(GembedAbortError);
    expect(server.requests).toHaveLength(1);
    expect(waited).toBeGreaterThanOrEqual(90);
    expect(waited).toBeLessThan(2_000);
  });

  it("creating a batch job (not idempotent) is retried on 429/503 but not after a reset or a 500", async () => {
    const operation = { name: "batches/x", metadata: { state: "BATCH_STATE_PENDING" } };
    server.enqueue(
      quotaReply("0.05s", PER_MINUTE),
      { status: 503, json: statusBody(503, "UNAVAILABLE", "busy") },
      { json: operation },
      { reset: true },
      { status: 500, json: statusBody(500, "INTERNAL", "maybe done") },
    );
    const client = makeClient({ maxRetries: 3, maxRetryDelay: 50 });
    const batch = { displayName: "d", inputConfig: { fileName: "files/f" } };
    await expect(client.asyncBatchEmbedContent(MODEL, batch)).resolves.toMatchObject({
      name: "batches/x",
    });
    expect(server.requests).toHaveLength(3);
    await expect(client.asyncBatchEmbedContent(MODEL, batch)).rejects.toBeInstanceOf(
      GeminiConnectionError,
    );
    await expect(client.asyncBatchEmbedContent(MODEL, batch)).rejects.toBeInstanceOf(
      InternalServerError,
    );
    expect(server.requests).toHaveLength(5);
  });
});

describe("a host name that does not exist", () => {
  // A DNS answer cannot be staged by a server on 127.0.0.1, so this one test injects `fetch`
  // (the house rule: an injected fetch only for what a server cannot stage).
  function failingFetch(code: string) {
    let calls = 0;
    const fetch = (async () => {
      calls++;
      const cause = Object.assign(new Error(`getaddrinfo ${code} gemini.example.invalid`), {
        code,
      });
      throw new TypeError("fetch failed", { cause });
    }) as typeof globalThis.fetch;
    return { fetch, calls: () => calls };
  }

  it("is not retried (ENOTFOUND), and says which code", async () => {
    const failing = failingFetch("ENOTFOUND");
    const client = new GeminiClient({
      apiKey: KEY,
      baseUrl: "http://gemini.example.invalid",
      fetch: failing.fetch,
      maxRetries: 3,
    });
    const error = await client.embedContent(MODEL, one).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GeminiConnectionError);
    expect((error as GeminiConnectionError).code).toBe("ENOTFOUND");
    expect((error as GeminiConnectionError).isRetryable).toBe(false);
    expect(failing.calls()).toBe(1);
  });

  it("while a temporary DNS failure (EAI_AGAIN) is retried", async () => {
    const failing = failingFetch("EAI_AGAIN");
    const client = new GeminiClient({
      apiKey: KEY,
      baseUrl: "http://gemini.example.invalid",
      fetch: failing.fetch,
      maxRetries: 2,
      maxRetryDelay: 20,
    });
    const error = await client.embedContent(MODEL, one).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GeminiConnectionError);
    expect((error as GeminiConnectionError).isRetryable).toBe(true);
    expect(failing.calls()).toBe(3);
  });
});
