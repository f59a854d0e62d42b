import { type RunningServer, type ServerOptions, startServer } from "@gembed/server";
import { afterEach, describe, expect, it } from "vitest";
import { localEmbedding } from "../packages/server/src/local-model.js";
import { redactUrl } from "../packages/server/src/security.js";

const servers: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function start(options?: ServerOptions): Promise<RunningServer> {
  const server = await startServer(options);
  servers.push(server);
  return server;
}

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read parsed JSON answers freely
  body: any;
  headers: Headers;
}

async function call(
  server: RunningServer,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(`${server.url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: response.status, body: parsed, headers: response.headers };
}

const EMBED = "/v1beta/models/gemini-embedding-001:embedContent";
const BATCH = "/v1beta/models/gemini-embedding-001:batchEmbedContents";
const content = (text: string) => ({ parts: [{ text }] });

function norm(values: number[]): number {
  return Math.sqrt(values.reduce((sum, value) => sum + value * value, 0));
}

describe("embedContent and batchEmbedContents", () => {
  it("answers 3072 normalized values by default, exactly localEmbedding's", async () => {
    const server = await start();
    const answer = await call(server, EMBED, { content: content("hello world") });
    expect(answer.status).toBe(200);
    const values: number[] = answer.body.embedding.values;
    expect(values.length).toBe(3072);
    expect(norm(values)).toBeCloseTo(1, 5);
    expect(Array.from(Float32Array.from(values))).toEqual(
      Array.from(localEmbedding("hello world", { model: "gemini-embedding-001" })),
    );
    expect(answer.body.usageMetadata.promptTokenCount).toBe(3);
    expect(answer.headers.get("content-type")).toMatch(/application\/json/);
  });

  it("takes camelCase, snake_case and embedContentConfig alike", async () => {
    const server = await start();
    const options = {
      model: "gemini-embedding-001",
      taskType: "RETRIEVAL_DOCUMENT" as const,
      title: "Doc",
      outputDimensionality: 768,
    };
    const expected = Array.from(localEmbedding("some text", options));
    const bodies = [
      {
        content: content("some text"),
        taskType: "RETRIEVAL_DOCUMENT",
        title: "Doc",
        outputDimensionality: 768,
      },
      {
        content: content("some text"),
        task_type: "RETRIEVAL_DOCUMENT",
        title: "Doc",
        output_dimensionality: 768,
      },
      {
        model: "models/gemini-embedding-001",
        content: content("some text"),
        embedContentConfig: {
          taskType: "RETRIEVAL_DOCUMENT",
          title: "Doc",
          outputDimensionality: 768,
        },
      },
    ];
    for (const body of bodies) {
      const answer = await call(server, EMBED, body);
      expect(answer.status).toBe(200);
      expect(Array.from(Float32Array.from(answer.body.embedding.values))).toEqual(expected);
      expect(Math.abs(norm(answer.body.embedding.values) - 1)).toBeGreaterThan(0.01);
    }
  });

  it("answers a batch in input order", async () => {
    const server = await start();
    const texts = ["first text", "second text", "third text"];
    const answer = await call(server, BATCH, {
      requests: texts.map((text) => ({
        model: "models/gemini-embedding-001",
        content: content(text),
        outputDimensionality: 128,
      })),
    });
    expect(answer.status).toBe(200);
    expect(answer.body.embeddings).toHaveLength(3);
    texts.forEach((text, index) => {
      expect(Array.from(Float32Array.from(answer.body.embeddings[index].values))).toEqual(
        Array.from(
          localEmbedding(text, { model: "gemini-embedding-001", outputDimensionality: 128 }),
        ),
      );
    });
    expect(server.stats().texts).toBe(3);
  });

  it("gives one vector per content on gemini-embedding-2, parts merged", async () => {
    const server = await start();
    const answer = await call(server, "/v1beta/models/gemini-embedding-2:batchEmbedContents", {
      requests: [{ content: { parts: [{ text: "a" }, { text: "b" }] } }],
    });
    expect(answer.status).toBe(200);
    expect(answer.body.embeddings).toHaveLength(1);
    expect(answer.body.embeddings[0].values).toHaveLength(3072);
  });
});

describe("validation errors, with the real bodies", () => {
  const cases: [string, string, unknown, number, RegExp][] = [
    [
      "empty text",
      EMBED,
      { content: content("") },
      400,
      /^EmbedContentRequest\.content contains an empty Part\.$/,
    ],
    ["whitespace text", EMBED, { content: content("  \n ") }, 400, /contains an empty Part/],
    [
      "empty text in a batch",
      BATCH,
      { requests: [{ content: content("ok") }, { content: content(" ") }] },
      400,
      /requests\[1\]\.content: contains an empty Part/,
    ],
    [
      "101 requests",
      BATCH,
      { requests: Array.from({ length: 101 }, () => ({ content: content("x") })) },
      400,
      /^\* BatchEmbedContentsRequest\.requests: at most 100 requests can be in one batch$/,
    ],
    [
      "a model that differs from the URL's",
      BATCH,
      { requests: [{ model: "models/gemini-embedding-2", content: content("x") }] },
      400,
      /requests\[0\]\.model: .*does not match/,
    ],
    [
      "outputDimensionality 64",
      EMBED,
      { content: content("x"), outputDimensionality: 64 },
      400,
      /between 128 and 3072/,
    ],
    [
      "outputDimensionality 4096",
      EMBED,
      { content: content("x"), outputDimensionality: 4096 },
      400,
      /between 128 and 3072/,
    ],
    [
      "a taskType on gemini-embedding-2",
      "/v1beta/models/gemini-embedding-2:embedContent",
      { content: content("x"), taskType: "RETRIEVAL_QUERY" },
      400,
      /task_type is not supported by models\/gemini-embedding-2/,
    ],
    [
      "a title without RETRIEVAL_DOCUMENT",
      EMBED,
      { content: content("x"), taskType: "RETRIEVAL_QUERY", title: "T" },
      400,
      /title is only supported when task_type is RETRIEVAL_DOCUMENT/,
    ],
    [
      "an unknown taskType",
      EMBED,
      { content: content("x"), taskType: "NOPE" },
      400,
      /Invalid value at 'task_type'/,
    ],
    ["an unknown field", EMBED, { content: content("x"), colour: 1 }, 400, /Unknown name "colour"/],
    [
      "a retired model",
      "/v1beta/models/text-embedding-004:embedContent",
      { content: content("x") },
      404,
      /^models\/text-embedding-004 is not found for API version v1beta, or is not supported for embedContent\./,
    ],
    [
      "an unknown model",
      "/v1beta/models/no-such-model:batchEmbedContents",
      { requests: [{ content: content("x") }] },
      404,
      /^models\/no-such-model is not found for API version v1beta, or is not supported for batchEmbedContents\./,
    ],
    ["malformed JSON", EMBED, "{not json", 400, /^Invalid JSON payload received\./],
  ];
  it.each(cases)("%s", async (_name, path, body, status, message) => {
    const server = await start();
    const answer = await call(server, path, body);
    expect(answer.status).toBe(status);
    expect(answer.body.error.code).toBe(status);
    expect(answer.body.error.status).toBe(status === 404 ? "NOT_FOUND" : "INVALID_ARGUMENT");
    expect(answer.body.error.message).toMatch(message);
    expect(server.stats().texts).toBe(0);
  });

  it("refuses a body over the limit with the real message", async () => {
    const server = await start();
    const answer = await call(server, BATCH, {
      requests: [{ content: content("word ".repeat(900_000)) }],
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toBe(
      "Request payload size exceeds the limit: 4194304 bytes.",
    );
    const small = await start({ bodyLimit: 2048 });
    const refused = await call(small, EMBED, { content: content("x".repeat(3000)) });
    expect(refused.body.error.message).toBe("Request payload size exceeds the limit: 2048 bytes.");
  });

  it("silently cuts a text over the input limit, and caps its token count", async () => {
    const server = await start();
    const long = "abcd ".repeat(3000);
    const answer = await call(server, EMBED, { content: content(long) });
    expect(answer.status).toBe(200);
    expect(answer.body.usageMetadata.promptTokenCount).toBe(2048);
  });

  it("checks API keys when started with keys, never echoing the key", async () => {
    const server = await start({ apiKeys: ["good-key"] });
    for (const headers of [{}, { "x-goog-api-key": "secret-wrong-key" }]) {
      const answer = await call(server, EMBED, { content: content("x") }, headers);
      expect(answer.status).toBe(400);
      expect(answer.body.error.status).toBe("INVALID_ARGUMENT");
      expect(answer.body.error.message).toBe("API key not valid. Please pass a valid API key.");
      expect(answer.body.error.details[0]).toMatchObject({
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        reason: "API_KEY_INVALID",
        domain: "googleapis.com",
      });
      expect(JSON.stringify(answer.body)).not.toContain("secret-wrong-key");
    }
    const byHeader = await call(
      server,
      EMBED,
      { content: content("x") },
      { "x-goog-api-key": "good-key" },
    );
    expect(byHeader.status).toBe(200);
    const byQuery = await call(server, `${EMBED}?key=good-key`, { content: content("x") });
    expect(byQuery.status).toBe(200);
    expect((await call(server, "/health")).status).toBe(400);
    expect((await call(server, "/health?key=good-key")).status).toBe(200);
  });

  it("answers unknown paths and unsafe names with a google.rpc.Status 404", async () => {
    const server = await start();
    for (const path of [
      "/v1beta/nothing",
      "/v1beta/files/..%2F..%2Fetc%2Fpasswd",
      "/v1beta/batches/..%2Fx",
      "/v1beta/files/UPPER",
    ]) {
      const answer = await call(server, path);
      expect(answer.status).toBe(404);
      expect(answer.body.error.status).toBe("NOT_FOUND");
    }
  });
});

describe("models", () => {
  it("lists and gets the models that answer", async () => {
    const server = await start();
    const list = await call(server, "/v1beta/models");
    const names = list.body.models.map((model: { name: string }) => model.name);
    expect(names).toContain("models/gemini-embedding-001");
    expect(names).not.toContain("models/text-embedding-004");
    const one = await call(server, "/v1beta/models/gemini-embedding-001");
    expect(one.body).toMatchObject({
      name: "models/gemini-embedding-001",
      inputTokenLimit: 2048,
      supportedGenerationMethods: expect.arrayContaining([
        "embedContent",
        "asyncBatchEmbedContent",
      ]),
    });
    expect((await call(server, "/v1beta/models/embedding-001")).status).toBe(404);
  });
});

describe("quotas", () => {
  it("answers 429 with QuotaFailure and a RetryInfo delay equal to the time until there is room", async () => {
    const server = await start({ quota: { textsPerMinute: 5, windowMs: 1500 } });
    const first = await call(server, BATCH, {
      requests: Array.from({ length: 4 }, () => ({ content: content("a b") })),
    });
    expect(first.status).toBe(200);
    const sentAt = Date.now();
    const refused = await call(server, BATCH, {
      requests: Array.from({ length: 2 }, () => ({ content: content("a b") })),
    });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBeNull();
    expect(refused.body.error.status).toBe("RESOURCE_EXHAUSTED");
    const quotaFailure = refused.body.error.details.find(
      (detail: { "@type": string }) =>
        detail["@type"] === "type.googleapis.com/google.rpc.QuotaFailure",
    );
    expect(quotaFailure.violations[0].quotaId).toBe(
      "EmbedContentRequestsPerMinutePerUserPerProjectPerModel-FreeTier",
    );
    const retryInfo = refused.body.error.details.find(
      (detail: { "@type": string }) =>
        detail["@type"] === "type.googleapis.com/google.rpc.RetryInfo",
    );
    expect(retryInfo.retryDelay).toMatch(/^\d+(\.\d{3})?s$/);
    const delayMs = Number.parseFloat(retryInfo.retryDelay) * 1000;
    expect(delayMs).toBeGreaterThan(1000);
    expect(delayMs).toBeLessThanOrEqual(1500);
    // One text still fits now; two fit after the delay.
    expect((await call(server, EMBED, { content: content("x") })).status).toBe(200);
    expect((await call(server, BATCH, { requests: [{ content: content("x") }] })).status).toBe(429);
    await new Promise((resolve) => setTimeout(resolve, delayMs - (Date.now() - sentAt) + 20));
    const later = await call(server, BATCH, {
      requests: Array.from({ length: 2 }, () => ({ content: content("a b") })),
    });
    expect(later.status).toBe(200);
    expect(server.stats().quotaRejections).toBe(2);
  });

  it("counts tokens per minute and texts per day with their own quota ids", async () => {
    const server = await start({
      quota: { tokensPerMinute: 10, textsPerDay: 3, windowMs: 60_000 },
    });
    const tooManyTokens = await call(server, EMBED, { content: content("x".repeat(60)) });
    expect(tooManyTokens.status).toBe(429);
    expect(JSON.stringify(tooManyTokens.body)).toContain(
      "EmbedContentInputTokensPerModelPerMinute",
    );
    for (let index = 0; index < 3; index++) {
      expect((await call(server, EMBED, { content: content("x") })).status).toBe(200);
    }
    const perDay = await call(server, EMBED, { content: content("x") });
    expect(perDay.status).toBe(429);
    expect(JSON.stringify(perDay.body)).toContain(
      "EmbedContentRequestsPerDayPerUserPerProjectPerModel",
    );
  });
});

describe("faults", () => {
  it("answers 500 and 503 at the configured rates", async () => {
    const server = await start({ faults: { rate500: 1 } });
    const answer = await call(server, EMBED, { content: content("x") });
    expect(answer.status).toBe(500);
    expect(answer.body.error.status).toBe("INTERNAL");
    const other = await start({ faults: { rate503: 1 } });
    const unavailable = await call(other, EMBED, { content: content("x") });
    expect(unavailable.status).toBe(503);
    expect(unavailable.body.error.status).toBe("UNAVAILABLE");
    expect(other.stats().faults["503"]).toBe(1);
  });

  it("mixes faults by a seeded die: about the configured share", async () => {
    const server = await start({ faults: { rate503: 0.3, seed: 42 } });
    let failures = 0;
    for (let index = 0; index < 100; index++) {
      const answer = await call(server, EMBED, { content: content(`text ${index}`) });
      if (answer.status === 503) failures++;
      else expect(answer.status).toBe(200);
    }
    expect(failures).toBeGreaterThan(15);
    expect(failures).toBeLessThan(45);
  });

  it("drops connections", async () => {
    const server = await start({ faults: { dropRate: 1 } });
    await expect(call(server, EMBED, { content: content("x") })).rejects.toThrow();
    expect(server.stats().faults.drop).toBe(1);
  });

  it("answers 200 with one embedding missing", async () => {
    const server = await start({ faults: { shortAnswerRate: 1 } });
    const answer = await call(server, BATCH, {
      requests: Array.from({ length: 5 }, (_, index) => ({ content: content(`t${index}`) })),
    });
    expect(answer.status).toBe(200);
    expect(answer.body.embeddings).toHaveLength(4);
  });

  it("adds latency, fixed and per text", async () => {
    const server = await start({ faults: { latencyMs: 100, latencyPerTextMs: 20 } });
    const started = Date.now();
    const answer = await call(server, BATCH, {
      requests: Array.from({ length: 5 }, () => ({ content: content("x") })),
    });
    expect(answer.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(195);
  });
});

describe("operations", () => {
  it("serves /health and Prometheus /metrics", async () => {
    const server = await start({ quota: { textsPerMinute: 1 } });
    await call(server, EMBED, { content: content("x") });
    await call(server, EMBED, { content: content("x") });
    expect((await call(server, "/health")).body).toEqual({ status: "ok" });
    const metrics = await call(server, "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(
      /gembed_server_requests_total\{endpoint="embedContent",code="200"\} 1/,
    );
    expect(metrics.body).toMatch(
      /gembed_server_requests_total\{endpoint="embedContent",code="429"\} 1/,
    );
    expect(metrics.body).toMatch(/gembed_server_texts_total\{model="gemini-embedding-001"\} 1/);
    expect(metrics.body).toMatch(
      /gembed_server_quota_rejections_total\{model="gemini-embedding-001"\} 1/,
    );
    expect(metrics.body).toMatch(/gembed_server_batch_jobs\{state="BATCH_STATE_PENDING"\} 0/);
    expect(metrics.body).toMatch(/gembed_server_request_duration_seconds_bucket/);
  });

  it("never logs an API key", async () => {
    const lines: string[] = [];
    const server = await start({
      apiKeys: ["super-secret-key"],
      logLevel: "info",
      logStream: { write: (line) => lines.push(line) },
    });
    await call(server, `${EMBED}?key=super-secret-key`, { content: content("x") });
    await call(server, EMBED, { content: content("x") }, { "x-goog-api-key": "super-secret-key" });
    await call(server, EMBED, { content: content("x") }, { "x-goog-api-key": "wrong-secret-key" });
    expect(lines.length).toBeGreaterThan(3);
    const all = lines.join("\n");
    expect(all).toContain("embedContent");
    expect(all).not.toContain("super-secret-key");
    expect(all).not.toContain("wrong-secret-key");
  });

  it("close() lets a request in flight finish and answer, then stops", async () => {
    const server = await start({ faults: { latencyMs: 300 } });
    const inFlight = call(server, EMBED, { content: content("x") });
    // The request is in the server (waiting its latency) when close() begins.
    const started = Date.now();
    while (server.stats().requests === 0 && Date.now() - started < 100) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closed = server.close();
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.body.embedding.values).toHaveLength(3072);
    await closed;
    await expect(call(server, EMBED, { content: content("x") })).rejects.toThrow();
  });

  it("redacts a key whose name is percent-encoded, which the server accepts as a key", async () => {
    expect(redactUrl("/v1beta/models?%6Bey=secret-1&pageSize=2")).toBe(
      "/v1beta/models?%6Bey=[REDACTED]&pageSize=2",
    );
    expect(redactUrl("/a?KEY=secret-2#x")).toBe("/a?KEY=[REDACTED]#x");
    expect(redactUrl("/a?monkey=ok&key=secret-3")).toBe("/a?monkey=ok&key=[REDACTED]");
    const lines: string[] = [];
    const server = await start({
      apiKeys: ["encoded-secret-key"],
      logLevel: "info",
      logStream: { write: (line) => lines.push(line) },
    });
    const answer = await call(server, `${EMBED}?%6Bey=encoded-secret-key`, {
      content: content("x"),
    });
    expect(answer.status).toBe(200);
    expect(lines.join("\n")).toContain("%6Bey=[REDACTED]");
    expect(lines.join("\n")).not.toContain("encoded-secret-key");
  });

  it("never logs the raw bytes of a malformed request (client error, trace level)", async () => {
    const lines: string[] = [];
    const server = await start({
      logLevel: "trace",
      logStream: { write: (line) => lines.push(line) },
    });
    const { port } = new URL(server.url);
    const { connect } = await import("node:net");
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), "127.0.0.1", () => {
        socket.write(
          "POST /v1beta/models HTTP/1.1\r\nHost: x\r\nx-goog-api-key: raw-secret-key\r\nContent-Length: nope\r\n\r\n",
        );
      });
      socket.on("error", () => undefined);
      socket.on("close", () => resolve());
      socket.setTimeout(5000, () => reject(new Error("no answer")));
      socket.resume();
    });
    const all = lines.join("\n");
    expect(all).toContain("client error");
    // Buffers are logged as {"type":"Buffer","data":[bytes]}: decode them before looking.
    const decoded = lines
      .map((line) =>
        JSON.stringify(JSON.parse(line), (_key, value) =>
          value?.type === "Buffer" && Array.isArray(value.data)
            ? Buffer.from(value.data).toString("latin1")
            : value,
        ),
      )
      .join("\n");
    expect(decoded).not.toContain("raw-secret-key");
  });

  it("rejects bad options before starting", async () => {
    await expect(startServer({ port: -1 })).rejects.toThrow(RangeError);
    await expect(startServer({ port: "80" as unknown as number })).rejects.toThrow(TypeError);
    await expect(startServer({ faults: { rate500: 2 } })).rejects.toThrow(RangeError);
    await expect(startServer({ apiKeys: "k" as unknown as string[] })).rejects.toThrow(TypeError);
    await expect(startServer({ logLevel: "loud" })).rejects.toThrow(RangeError);
  });
});
