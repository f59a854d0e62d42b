import { inspect } from "node:util";
import {
  AuthenticationError,
  BadRequestError,
  ConflictError,
  GembedAbortError,
  GembedError,
  GeminiApiError,
  GeminiClient,
  GeminiConnectionError,
  GeminiTimeoutError,
  InternalServerError,
  InvalidResponseError,
  NotFoundError,
  PayloadTooLargeError,
  PermissionDeniedError,
  RateLimitError,
} from "gembed";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  quotaReply,
  type Reply,
  type ScriptedServer,
  startScriptedServer,
  statusBody,
} from "./support/scripted-server.js";

const KEY = "AIzaSy-SECRET-never-shown-4242";
const MODEL = "gemini-embedding-001";
const one = { content: { parts: [{ text: "hello" }] } };

let server: ScriptedServer;
let client: GeminiClient;

beforeEach(async () => {
  server = await startScriptedServer();
  client = new GeminiClient({ apiKey: KEY, baseUrl: server.url, maxRetries: 0, timeout: 2_000 });
});
afterEach(async () => {
  await server.close();
});

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

describe("API errors by HTTP status", () => {
  const cases: [number, string, new (...args: never[]) => GeminiApiError][] = [
    [400, "INVALID_ARGUMENT", BadRequestError],
    [401, "UNAUTHENTICATED", AuthenticationError],
    [403, "PERMISSION_DENIED", PermissionDeniedError],
    [404, "NOT_FOUND", NotFoundError],
    [409, "ALREADY_EXISTS", ConflictError],
    [413, "INVALID_ARGUMENT", PayloadTooLargeError],
    [429, "RESOURCE_EXHAUSTED", RateLimitError],
    [500, "INTERNAL", InternalServerError],
    [503, "UNAVAILABLE", InternalServerError],
    [504, "DEADLINE_EXCEEDED", InternalServerError],
  ];
  for (const [httpStatus, status, errorClass] of cases) {
    it(`${httpStatus} ${status} -> ${errorClass.name}`, async () => {
      server.enqueue({
        status: httpStatus,
        json: statusBody(httpStatus, status, `boom ${status}`),
      });
      const error = await failure(client.embedContent(MODEL, one));
      expect(error).toBeInstanceOf(errorClass);
      expect(error).toBeInstanceOf(GeminiApiError);
      expect(error).toBeInstanceOf(GembedError);
      const apiError = error as GeminiApiError;
      expect(apiError.httpStatus).toBe(httpStatus);
      expect(apiError.status).toBe(status);
      expect(apiError.message).toContain(`boom ${status}`);
      expect(apiError.isRetryable).toBe([429, 500, 503, 504].includes(httpStatus));
    });
  }

  it("a bad key: 400 with ErrorInfo reason API_KEY_INVALID", async () => {
    server.enqueue({
      status: 400,
      json: statusBody(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
        {
          "@type": "type.googleapis.com/google.rpc.ErrorInfo",
          reason: "API_KEY_INVALID",
          domain: "googleapis.com",
        },
      ]),
    });
    const error = (await failure(client.models.list())) as BadRequestError;
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error.reason).toBe("API_KEY_INVALID");
    expect(error.details).toHaveLength(1);
  });

  it("a 429 exposes retryDelayMs from RetryInfo and the quota violation", async () => {
    server.enqueue(
      quotaReply("59s", "EmbedContentRequestsPerMinutePerUserPerProjectPerModel-FreeTier"),
    );
    const error = (await failure(client.embedContent(MODEL, one))) as RateLimitError;
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error.retryDelayMs).toBe(59_000);
    expect(error.quotaViolations[0]?.quotaId).toBe(
      "EmbedContentRequestsPerMinutePerUserPerProjectPerModel-FreeTier",
    );
    expect(error.isPerDayQuota).toBe(false);
    expect(error.isRetryable).toBe(true);
  });

  it("a body that is not JSON gives a typed error with the status and a short excerpt", async () => {
    const html = `<html><body>${"Bad Gateway ".repeat(100)}</body></html>`;
    server.enqueue({ status: 502, body: html, headers: { "content-type": "text/html" } });
    const error = (await failure(client.embedContent(MODEL, one))) as GeminiApiError;
    expect(error).toBeInstanceOf(InternalServerError);
    expect(error.httpStatus).toBe(502);
    expect(error.status).toBeUndefined();
    expect(error.bodyExcerpt?.startsWith("<html><body>Bad Gateway")).toBe(true);
    expect(error.bodyExcerpt!.length).toBeLessThanOrEqual(201);
    expect(error.message).toContain("502");
    expect(error.message.length).toBeLessThan(400);
  });
});

describe("other error classes", () => {
  it("fewer embeddings than requests -> InvalidResponseError with the counts", async () => {
    server.enqueue({ json: { embeddings: [{ values: [1] }] } });
    const error = await failure(client.batchEmbedContents(MODEL, [one, one, one]));
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect(error.message).toContain("1 embeddings for 3 requests");
  });

  it("an embedding without values, a missing embedding, and a 200 that is not JSON", async () => {
    server.enqueue(
      { json: { embeddings: [{ values: [1] }, { value: [2] }] } },
      { json: { nothing: true } },
      { body: "<html>oops</html>" },
    );
    const first = await failure(client.batchEmbedContents(MODEL, [one, one]));
    expect(first).toBeInstanceOf(InvalidResponseError);
    expect(first.message).toContain("embeddings[1]");
    expect(await failure(client.embedContent(MODEL, one))).toBeInstanceOf(InvalidResponseError);
    const third = await failure(client.models.get("m"));
    expect(third).toBeInstanceOf(InvalidResponseError);
    expect(third.message).toContain("<html>oops</html>");
  });

  it("a connection reset -> GeminiConnectionError with the cause kept", async () => {
    server.enqueue({ reset: true });
    const error = await failure(client.embedContent(MODEL, one));
    expect(error).toBeInstanceOf(GeminiConnectionError);
    expect(error.cause).toBeDefined();
  });

  it("a reset in the middle of the body -> GeminiConnectionError", async () => {
    server.enqueue({
      body: JSON.stringify({ embedding: { values: [1, 2, 3] } }),
      resetAfterBytes: 10,
    });
    const error = await failure(client.embedContent(MODEL, one));
    expect(error).toBeInstanceOf(GeminiConnectionError);
  });

  it("a refused connection -> GeminiConnectionError", async () => {
    const closed = await startScriptedServer();
    const url = closed.url;
    await closed.close();
    const refused = new GeminiClient({ apiKey: KEY, baseUrl: url, maxRetries: 0 });
    const error = await failure(refused.models.list());
    expect(error).toBeInstanceOf(GeminiConnectionError);
    expect(error.message).toContain("ECONNREFUSED");
  });

  it("an attempt over `timeout` -> GeminiTimeoutError", async () => {
    server.enqueue({ hang: true });
    const started = performance.now();
    const error = await failure(client.embedContent(MODEL, one, { timeout: 150 }));
    expect(error).toBeInstanceOf(GeminiTimeoutError);
    expect(error.message).toContain("150 ms");
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it("the caller's abort during a request -> GembedAbortError, not retried", async () => {
    server.enqueue({ hang: true });
    const controller = new AbortController();
    const retrying = new GeminiClient({ apiKey: KEY, baseUrl: server.url, maxRetries: 3 });
    setTimeout(() => controller.abort(new Error("user pressed ^C")), 100);
    const error = await failure(retrying.embedContent(MODEL, one, { signal: controller.signal }));
    expect(error).toBeInstanceOf(GembedAbortError);
    expect((error.cause as Error).message).toBe("user pressed ^C");
    expect(server.requests).toHaveLength(1);
  });

  it("an already aborted signal sends nothing", async () => {
    const error = await failure(client.models.list(undefined, { signal: AbortSignal.abort() }));
    expect(error).toBeInstanceOf(GembedAbortError);
    expect(server.requests).toHaveLength(0);
  });
});

describe("the API key never leaks", () => {
  // Servers that echo the key back (in a JSON message, in details, in an HTML page, in a URL).
  const echoes: Reply[] = [
    {
      status: 400,
      json: statusBody(400, "INVALID_ARGUMENT", `API key not valid: ${KEY}`, [
        {
          "@type": "type.googleapis.com/google.rpc.ErrorInfo",
          reason: "API_KEY_INVALID",
          metadata: { key: KEY },
        },
      ]),
    },
    { status: 403, json: statusBody(403, "PERMISSION_DENIED", `Request to ?key=${KEY} denied`) },
    { status: 429, ...quotaReply("1s", "EmbedContentRequestsPerDayPerProjectPerModel") },
    { status: 500, body: `<html>internal error for key ${KEY}</html>` },
    { status: 200, body: `not json ${KEY}` },
    // V8's JSON.parse error quotes the start of the body: the key's first characters.
    { status: 200, body: KEY },
    { status: 200, json: { embeddings: [] } },
    { reset: true },
    { hang: true },
  ];

  it("in message, stack, util.inspect, JSON.stringify of every error, and inspect of the client", async () => {
    const errors: unknown[] = [];
    for (const reply of echoes) {
      server.enqueue(reply);
      errors.push(
        await client.batchEmbedContents(MODEL, [one], { timeout: 300 }).then(
          () => undefined,
          (caught: unknown) => caught,
        ),
      );
    }
    const controller = new AbortController();
    controller.abort();
    errors.push(
      await client.models
        .list(undefined, { signal: controller.signal })
        .catch((caught: unknown) => caught),
    );
    expect(errors).toHaveLength(echoes.length + 1);
    expect(server.requests.length).toBe(echoes.length);
    for (const request of server.requests) expect(request.headers["x-goog-api-key"]).toBe(KEY);
    for (const error of errors) {
      expect(error).toBeInstanceOf(GembedError);
      const asError = error as Error;
      const texts = [
        asError.message,
        String(asError.stack),
        inspect(asError, { depth: 10, showHidden: true }),
        JSON.stringify(asError),
        String(asError),
      ];
      for (const text of texts) {
        expect(text).not.toContain(KEY);
        expect(text).not.toContain(KEY.slice(0, 10));
      }
    }
    for (const text of [
      inspect(client, { depth: 10, showHidden: true }),
      JSON.stringify(client),
      String(client),
    ]) {
      expect(text).not.toContain(KEY);
    }
    expect(inspect(client)).toContain("[redacted]");
    // The echoed key was replaced, not just dropped.
    expect((errors[0] as Error).message).toContain("[redacted]");
  });

  it("a key given as a header is kept out of inspect too, and still sent", async () => {
    const headerClient = new GeminiClient({
      baseUrl: server.url,
      apiKey: undefined,
      headers: { "X-Goog-Api-Key": KEY },
    });
    server.enqueue({ json: { models: [] } });
    await headerClient.models.list();
    expect(server.requests[0]!.headers["x-goog-api-key"]).toBe(KEY);
    expect(inspect(headerClient, { showHidden: true, depth: 10 })).not.toContain(KEY);
  });
});

describe("the API key never leaks (keys that cannot be sent)", () => {
  const saved = {
    GOOGLE_API_KEY: process.env.GOOGLE_API_KEY,
    GEMINI_API_KEY: process.env.GEMINI_API_KEY,
  };
  afterEach(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it("a key with a control character is a TypeError that does not show it, before any request", () => {
    // fetch would throw `Headers.append: "<the key>" is an invalid header value`.
    for (const bad of [`${KEY}\u0000`, `AIza${"\n"}${KEY}`, `${KEY} x`]) {
      const error = (() => {
        try {
          new GeminiClient({ apiKey: bad, baseUrl: server.url });
        } catch (caught) {
          return caught as Error;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(TypeError);
      expect(error!.message).toContain("apiKey option");
      expect(inspect(error, { showHidden: true })).not.toContain(KEY);
    }
    delete process.env.GOOGLE_API_KEY;
    process.env.GEMINI_API_KEY = `${KEY}\u0007`;
    expect(() => new GeminiClient({ baseUrl: server.url })).toThrow(/GEMINI_API_KEY/);
    expect(server.requests).toHaveLength(0);
  });

  it("surrounding whitespace is dropped; an empty apiKey falls back to the environment", async () => {
    delete process.env.GOOGLE_API_KEY;
    process.env.GEMINI_API_KEY = "env-key-1";
    server.enqueue({ json: { models: [] } }, { json: { models: [] } });
    await new GeminiClient({ apiKey: `  ${KEY}\n`, baseUrl: server.url }).models.list();
    await new GeminiClient({ apiKey: "", baseUrl: server.url }).models.list();
    expect(server.requests.map((request) => request.headers["x-goog-api-key"])).toEqual([
      KEY,
      "env-key-1",
    ]);
  });

  it("a 20-character key echoed as a whole 200 body is not quoted by the parse error", async () => {
    const shortKey = "AIzaSyShort-key-0020";
    const shortClient = new GeminiClient({ apiKey: shortKey, baseUrl: server.url, maxRetries: 0 });
    server.enqueue({ body: shortKey });
    const error = await failure(shortClient.models.get("m"));
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect(error.cause).toBeInstanceOf(SyntaxError);
    expect(inspect(error, { depth: 10, showHidden: true })).not.toContain(shortKey);
  });
});

describe("unbounded bodies", () => {
  it("an endless error body is cut: the typed error comes with an excerpt, not a timeout", async () => {
    const reply: Reply = {
      status: 502,
      headers: { "content-type": "text/html" },
      endlessBody: Buffer.from("<p>Bad Gateway</p>".repeat(1000)),
    };
    server.enqueue(reply);
    const error = (await failure(
      client.embedContent(MODEL, one, { timeout: 10_000 }),
    )) as GeminiApiError;
    expect(error).toBeInstanceOf(InternalServerError);
    expect(error.httpStatus).toBe(502);
    expect(error.bodyExcerpt?.startsWith("<p>Bad Gateway</p>")).toBe(true);
    expect(reply.sentBytes).toBeGreaterThanOrEqual(1024 * 1024);
  });
});
