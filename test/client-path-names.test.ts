/**
 * What the client puts into a request's path and headers from the caller's strings: a model, a
 * batch or file name, an API key. A name that would change the path (`../x`, `x?key=y`) and a key
 * that cannot go into a header are refused before anything is sent, with an InvalidOptionError
 * naming the option (never showing the key). Against the local server on 127.0.0.1:0, whose
 * counters say whether a request arrived.
 */
import { type RunningServer, startServer } from "@gembed/server";
import { GeminiClient, GeminiEmbeddingFunction, InvalidOptionError, NotFoundError } from "gembed";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let server: RunningServer;
let client: GeminiClient;

beforeAll(async () => {
  server = await startServer();
  client = new GeminiClient({ baseUrl: server.url, apiKey: "path-test-key", maxRetries: 0 });
});
afterAll(async () => {
  await server.close();
});

const request = { content: { parts: [{ text: "x" }] } };

/** The error `call` rejects with, asserting that no request reached the server. */
async function refusedLocally(call: () => Promise<unknown>): Promise<InvalidOptionError> {
  const before = server.stats().requests;
  const error = await call().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(InvalidOptionError);
  expect(server.stats().requests).toBe(before);
  return error as InvalidOptionError;
}

describe("model names in the path", () => {
  for (const model of [
    "../../v1beta/files",
    "x?key=y",
    "x#y",
    "models/../batches",
    "gemini-embedding-001/../../files",
    "a b",
    ".hidden",
    "x:batchEmbedContents",
  ]) {
    it(`refuses ${JSON.stringify(model)} naming the option, before sending anything`, async () => {
      for (const call of [
        () => client.embedContent(model, request),
        () => client.batchEmbedContents(model, [request]),
        () =>
          client.asyncBatchEmbedContent(model, {
            displayName: "x",
            inputConfig: { requests: { requests: [] } },
          }),
      ]) {
        const error = await refusedLocally(call);
        expect(error.option).toBe("model");
        expect(error.message).toContain("model must be a model name");
      }
    });
  }

  it("refuses it through GeminiEmbeddingFunction too, when it is built, naming the option", () => {
    const before = server.stats().requests;
    expect(
      () =>
        new GeminiEmbeddingFunction({
          client,
          modelName: "../../v1beta/files?x=",
          config: { outputDimensionality: 128 },
        }),
    ).toThrow(/modelName must be a model name/);
    expect(server.stats().requests).toBe(before);
  });

  it("still sends a well-formed model, with or without models/", async () => {
    for (const model of ["gemini-embedding-001", "models/gemini-embedding-001"]) {
      const answer = await client.embedContent(model, { ...request, outputDimensionality: 128 });
      expect(answer.embedding.values).toHaveLength(128);
    }
  });
});

describe("batch and file names in the path", () => {
  for (const name of ["..", ".", "batches/..", "files/.", "batches/a/b"]) {
    it(`refuses ${JSON.stringify(name)} (a path segment, not an id)`, async () => {
      const calls =
        name.startsWith("files") || name === "."
          ? [() => client.files.get(name), () => client.files.download(name)]
          : [() => client.batches.get(name), () => client.batches.cancel(name)];
      for (const call of calls) {
        const error = await refusedLocally(call);
        expect(error.option).toBe("name");
      }
    });
  }

  it("escapes an id that holds ?, # or %: the server is asked for that id and says 404", async () => {
    for (const name of ["x?key=y", "x#y", "%2e%2e"]) {
      await expect(client.batches.get(name)).rejects.toBeInstanceOf(NotFoundError);
      await expect(client.files.get(name)).rejects.toBeInstanceOf(NotFoundError);
    }
  });
});

describe("API keys that cannot go into a header", () => {
  const badKey = "AIzaSy-kéy-секрет";

  it("a non-ASCII apiKey is an InvalidOptionError naming apiKey, never the key", () => {
    let error: unknown;
    try {
      new GeminiClient({ baseUrl: server.url, apiKey: badKey });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).option).toBe("apiKey");
    expect(String(error)).not.toContain("kéy");
    expect(String((error as Error).stack)).not.toContain("kéy");
  });

  it("from the environment or the x-goog-api-key header: the option names where it came from", () => {
    const saved = process.env.GEMINI_API_KEY;
    process.env.GEMINI_API_KEY = badKey;
    try {
      expect(() => new GeminiClient({ baseUrl: server.url })).toThrow(
        expect.objectContaining({ name: "InvalidOptionError", option: "GEMINI_API_KEY" }),
      );
    } finally {
      if (saved === undefined) delete process.env.GEMINI_API_KEY;
      else process.env.GEMINI_API_KEY = saved;
    }
    expect(
      () => new GeminiClient({ baseUrl: server.url, headers: { "x-goog-api-key": badKey } }),
    ).toThrow(expect.objectContaining({ option: "headers.x-goog-api-key" }));
  });

  it("another header with a value fetch refuses: named, the value not shown", () => {
    const value = "token\nsecret";
    let error: unknown;
    try {
      new GeminiClient({ baseUrl: server.url, apiKey: "k", headers: { "x-extra": value } });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).option).toBe("headers.x-extra");
    expect(String(error)).not.toContain("secret");
  });
});
