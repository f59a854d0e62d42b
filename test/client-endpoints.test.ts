import { GeminiClient, InvalidOptionError, MissingApiKeyError } from "gembed";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ScriptedServer, startScriptedServer } from "./support/scripted-server.js";

const KEY = "test-key-ENDPOINTS-0123456789";
const MODEL = "gemini-embedding-001";

let server: ScriptedServer;
let client: GeminiClient;

beforeEach(async () => {
  server = await startScriptedServer();
  client = new GeminiClient({ apiKey: KEY, baseUrl: server.url, maxRetries: 0 });
});
afterEach(async () => {
  await server.close();
});

function only() {
  expect(server.requests).toHaveLength(1);
  const request = server.requests[0]!;
  expect(request.headers["x-goog-api-key"]).toBe(KEY);
  expect(request.url).not.toContain("key=");
  return request;
}

const operation = {
  name: "batches/abc123",
  metadata: {
    "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.EmbedContentBatch",
    name: "batches/abc123",
    model: "models/gemini-embedding-001",
    displayName: "emb-job",
    inputConfig: { fileName: "files/t5snrshrqff1" },
    createTime: "2025-09-10T14:42:07.160573Z",
    batchStats: { requestCount: "2", pendingRequestCount: "2" },
    state: "BATCH_STATE_PENDING",
  },
};

describe("embedContent", () => {
  it("POSTs the request to models/{model}:embedContent and parses the embedding", async () => {
    server.enqueue({ json: { embedding: { values: [0.25, -0.5, 0.125] } } });
    const response = await client.embedContent(MODEL, {
      content: { parts: [{ text: "Hello world" }] },
      taskType: "RETRIEVAL_DOCUMENT",
      title: "My doc",
      outputDimensionality: 3,
    });
    expect(response.embedding.values).toEqual([0.25, -0.5, 0.125]);
    const request = only();
    expect(request.method).toBe("POST");
    expect(request.path).toBe("/v1beta/models/gemini-embedding-001:embedContent");
    expect(request.headers["content-type"]).toBe("application/json");
    expect(request.json()).toEqual({
      model: "models/gemini-embedding-001",
      content: { parts: [{ text: "Hello world" }] },
      taskType: "RETRIEVAL_DOCUMENT",
      title: "My doc",
      outputDimensionality: 3,
    });
  });

  it("accepts models/x names and keeps usageMetadata", async () => {
    server.enqueue({
      json: { embedding: { values: [1] }, usageMetadata: { promptTokenCount: 2 } },
    });
    const response = await client.embedContent("models/gemini-embedding-2", {
      content: { parts: [{ text: "x" }] },
    });
    expect(response.usageMetadata?.promptTokenCount).toBe(2);
    expect(only().path).toBe("/v1beta/models/gemini-embedding-2:embedContent");
  });
});

describe("batchEmbedContents", () => {
  it("POSTs every request with its model and returns the embeddings in order", async () => {
    server.enqueue({ json: { embeddings: [{ values: [1, 2] }, { values: [3, 4] }] } });
    const response = await client.batchEmbedContents(MODEL, [
      { content: { parts: [{ text: "a" }] }, taskType: "RETRIEVAL_QUERY" },
      { content: { parts: [{ text: "b" }] }, model: "models/gemini-embedding-001" },
    ]);
    expect(response.embeddings.map((embedding) => embedding.values)).toEqual([
      [1, 2],
      [3, 4],
    ]);
    const request = only();
    expect(request.method).toBe("POST");
    expect(request.path).toBe("/v1beta/models/gemini-embedding-001:batchEmbedContents");
    expect(request.json()).toEqual({
      requests: [
        {
          model: "models/gemini-embedding-001",
          content: { parts: [{ text: "a" }] },
          taskType: "RETRIEVAL_QUERY",
        },
        { model: "models/gemini-embedding-001", content: { parts: [{ text: "b" }] } },
      ],
    });
  });
});

describe("asyncBatchEmbedContent", () => {
  it("POSTs {batch} with the model filled in and returns the Operation", async () => {
    server.enqueue({ json: operation });
    const result = await client.asyncBatchEmbedContent(MODEL, {
      displayName: "emb-job",
      priority: "0",
      inputConfig: {
        requests: {
          requests: [
            {
              request: {
                model: "models/gemini-embedding-001",
                content: { parts: [{ text: "doc 1" }] },
                taskType: "RETRIEVAL_DOCUMENT",
                outputDimensionality: 768,
              },
              metadata: { key: "doc-1" },
            },
          ],
        },
      },
    });
    expect(result.name).toBe("batches/abc123");
    expect(result.metadata?.state).toBe("BATCH_STATE_PENDING");
    expect(result.metadata?.batchStats?.requestCount).toBe("2");
    const request = only();
    expect(request.method).toBe("POST");
    expect(request.path).toBe("/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent");
    const body = request.json() as { batch: Record<string, unknown> };
    expect(body.batch.model).toBe("models/gemini-embedding-001");
    expect(body.batch.displayName).toBe("emb-job");
    expect(body.batch.priority).toBe("0");
    expect(body.batch.inputConfig).toMatchObject({
      requests: { requests: [{ metadata: { key: "doc-1" } }] },
    });
  });
});

describe("batches", () => {
  it("get accepts batches/x and x", async () => {
    server.enqueue({ json: operation }, { json: { ...operation, done: true } });
    expect((await client.batches.get("batches/abc123")).name).toBe("batches/abc123");
    expect((await client.batches.get("abc123")).done).toBe(true);
    expect(server.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      "GET /v1beta/batches/abc123",
      "GET /v1beta/batches/abc123",
    ]);
  });

  it("list sends pageSize and pageToken and parses the page", async () => {
    server.enqueue({ json: { operations: [operation], nextPageToken: "next-1" } });
    const page = await client.batches.list({ pageSize: 5, pageToken: "tok" });
    expect(page.operations?.[0]?.name).toBe("batches/abc123");
    expect(page.nextPageToken).toBe("next-1");
    const request = only();
    expect(request.path).toBe("/v1beta/batches");
    expect(request.query.get("pageSize")).toBe("5");
    expect(request.query.get("pageToken")).toBe("tok");
  });

  it("listAll walks every page", async () => {
    server.enqueue(
      { json: { operations: [{ name: "batches/1" }, { name: "batches/2" }], nextPageToken: "p2" } },
      { json: { operations: [{ name: "batches/3" }], nextPageToken: "p3" } },
      { json: {} },
    );
    const names: string[] = [];
    for await (const item of client.batches.listAll({ pageSize: 2 })) names.push(item.name);
    expect(names).toEqual(["batches/1", "batches/2", "batches/3"]);
    expect(server.requests.map((request) => request.query.get("pageToken"))).toEqual([
      null,
      "p2",
      "p3",
    ]);
    expect(server.requests.every((request) => request.query.get("pageSize") === "2")).toBe(true);
  });

  it("cancel POSTs :cancel and delete DELETEs", async () => {
    server.enqueue({ json: {} }, { json: {} });
    await expect(client.batches.cancel("batches/abc123")).resolves.toBeUndefined();
    await expect(client.batches.delete("abc123")).resolves.toBeUndefined();
    expect(server.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
      "POST /v1beta/batches/abc123:cancel",
      "DELETE /v1beta/batches/abc123",
    ]);
  });

  it("updateEmbedContentBatch PATCHes with updateMask and returns the batch", async () => {
    server.enqueue({ json: { ...operation.metadata, priority: "5" } });
    const batch = await client.batches.updateEmbedContentBatch(
      "batches/abc123",
      { priority: "5" },
      "priority",
    );
    expect(batch.priority).toBe("5");
    expect(batch.state).toBe("BATCH_STATE_PENDING");
    const request = only();
    expect(request.method).toBe("PATCH");
    expect(request.path).toBe("/v1beta/batches/abc123:updateEmbedContentBatch");
    expect(request.query.get("updateMask")).toBe("priority");
    expect(request.json()).toEqual({ priority: "5" });
  });
});

describe("files", () => {
  const file = {
    name: "files/t5snrshrqff1",
    mimeType: "application/jsonl",
    sizeBytes: "202",
    state: "ACTIVE",
    source: "UPLOADED",
  };

  it("get, list (with listAll) and delete", async () => {
    server.enqueue(
      { json: file },
      { json: { files: [file], nextPageToken: "n" } },
      { json: { files: [{ ...file, name: "files/second" }] } },
      { json: {} },
    );
    const got = await client.files.get("t5snrshrqff1");
    expect(got.sizeBytes).toBe("202");
    const names: string[] = [];
    for await (const item of client.files.listAll()) names.push(item.name);
    expect(names).toEqual(["files/t5snrshrqff1", "files/second"]);
    await client.files.delete("files/t5snrshrqff1");
    expect(server.requests.map((request) => `${request.method} ${request.url}`)).toEqual([
      "GET /v1beta/files/t5snrshrqff1",
      "GET /v1beta/files",
      "GET /v1beta/files?pageToken=n",
      "DELETE /v1beta/files/t5snrshrqff1",
    ]);
  });

  it("list returns one page", async () => {
    server.enqueue({ json: { files: [file] } });
    const page = await client.files.list({ pageSize: 10 });
    expect(page.files?.[0]?.state).toBe("ACTIVE");
    expect(only().url).toBe("/v1beta/files?pageSize=10");
  });
});

describe("models", () => {
  const model = {
    name: "models/gemini-embedding-001",
    version: "001",
    displayName: "Gemini Embedding 001",
    inputTokenLimit: 2048,
    outputTokenLimit: 1,
    supportedGenerationMethods: ["embedContent", "countTextTokens", "asyncBatchEmbedContent"],
  };

  it("get and list", async () => {
    server.enqueue({ json: model }, { json: { models: [model], nextPageToken: "" } });
    expect((await client.models.get("gemini-embedding-001")).inputTokenLimit).toBe(2048);
    const page = await client.models.list();
    expect(page.models?.[0]?.supportedGenerationMethods).toContain("embedContent");
    expect(server.requests.map((request) => `${request.method} ${request.url}`)).toEqual([
      "GET /v1beta/models/gemini-embedding-001",
      "GET /v1beta/models",
    ]);
  });

  it("listAll stops on an empty nextPageToken", async () => {
    server.enqueue({ json: { models: [model], nextPageToken: "" } });
    const all = [];
    for await (const item of client.models.listAll()) all.push(item);
    expect(all).toHaveLength(1);
    expect(server.requests).toHaveLength(1);
  });
});

describe("options", () => {
  const saved: Record<string, string | undefined> = {};
  const names = ["GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL"];
  beforeEach(() => {
    for (const name of names) {
      saved[name] = process.env[name];
      delete process.env[name];
    }
  });
  afterEach(() => {
    for (const name of names) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  it("no key: MissingApiKeyError at the first call, naming both variables, no request sent", async () => {
    const keyless = new GeminiClient({ apiKey: undefined, baseUrl: server.url });
    const error = await keyless.models.list().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MissingApiKeyError);
    expect((error as Error).message).toContain("GOOGLE_API_KEY");
    expect((error as Error).message).toContain("GEMINI_API_KEY");
    expect(server.requests).toHaveLength(0);
  });

  it("reads GOOGLE_API_KEY before GEMINI_API_KEY, and the base URL from GOOGLE_GEMINI_BASE_URL", async () => {
    process.env.GEMINI_API_KEY = "gemini-env-key";
    process.env.GOOGLE_GEMINI_BASE_URL = `${server.url}/`;
    server.enqueue({ json: { models: [] } }, { json: { models: [] } });
    await new GeminiClient().models.list();
    process.env.GOOGLE_API_KEY = "google-env-key";
    await new GeminiClient().models.list();
    expect(server.requests.map((request) => request.headers["x-goog-api-key"])).toEqual([
      "gemini-env-key",
      "google-env-key",
    ]);
    expect(server.requests[0]!.path).toBe("/v1beta/models");
  });

  it("sends extra headers, honours apiVersion and a base URL path prefix", async () => {
    const custom = new GeminiClient({
      apiKey: KEY,
      baseUrl: `${server.url}/proxy/`,
      apiVersion: "v1",
      headers: { "x-extra": "yes" },
    });
    server.enqueue({ json: { name: "models/m" } });
    await custom.models.get("m");
    const request = only();
    expect(request.path).toBe("/proxy/v1/models/m");
    expect(request.headers["x-extra"]).toBe("yes");
  });

  it("uses an injected fetch", async () => {
    const seen: string[] = [];
    const custom = new GeminiClient({
      apiKey: KEY,
      baseUrl: server.url,
      fetch: (input, init) => {
        seen.push(String(input));
        return fetch(input, init);
      },
    });
    server.enqueue({ json: { name: "models/m" } });
    await custom.models.get("m");
    expect(seen).toEqual([`${server.url}/v1beta/models/m`]);
  });

  it("bad option types throw TypeError and bad ranges RangeError, before any request", async () => {
    expect(() => new GeminiClient({ apiKey: 5 as unknown as string })).toThrow(TypeError);
    expect(() => new GeminiClient({ baseUrl: "not a url" })).toThrow(TypeError);
    expect(() => new GeminiClient({ timeout: "1" as unknown as number })).toThrow(TypeError);
    expect(() => new GeminiClient({ timeout: 0 })).toThrow(RangeError);
    expect(() => new GeminiClient({ maxRetries: -1 })).toThrow(RangeError);
    expect(() => new GeminiClient({ maxRetries: 1.5 })).toThrow(RangeError);
    expect(() => new GeminiClient({ maxRetryDelay: -5 })).toThrow(RangeError);
    expect(() => new GeminiClient({ headers: { a: 1 as unknown as string } })).toThrow(TypeError);
    expect(() => new GeminiClient({ fetch: "x" as unknown as typeof fetch })).toThrow(TypeError);
    await expect(
      client.embedContent(MODEL, { content: { parts: [{ text: "x" }] } }, { timeout: -1 }),
    ).rejects.toThrow(RangeError);
    await expect(client.batchEmbedContents(MODEL, [])).rejects.toThrow(RangeError);
    await expect(client.batchEmbedContents(MODEL, [{ content: "x" } as never])).rejects.toThrow(
      TypeError,
    );
    await expect(client.batches.get("")).rejects.toThrow(RangeError);
    await expect(client.batches.get(7 as unknown as string)).rejects.toThrow(TypeError);
    await expect(client.files.get("files/a/b")).rejects.toThrow(InvalidOptionError);
    await expect(client.models.list({ pageSize: 0 })).rejects.toThrow(RangeError);
    await expect(
      client.batches.updateEmbedContentBatch("batches/x", { priority: "1" }, ""),
    ).rejects.toThrow(RangeError);
    expect(server.requests).toHaveLength(0);
  });
});
