/**
 * The client and redirects: the API key never goes to another origin. Two real HTTP servers on
 * loopback: a redirecting one (a proxy or host that answers 307, which the local server never
 * does, so a plain `node:http` server stages it) on 127.0.0.1, and the local server reached as
 * `localhost` (another origin) that records whether a key arrived.
 */

import { createServer, type IncomingMessage, type Server } from "node:http";
import { type RunningServer, startServer } from "@gembed/server";
import { GeminiClient, RedirectError } from "gembed";
import { afterEach, describe, expect, it } from "vitest";

const KEY = "redirect-test-key-0b7e";
const MODEL = "gemini-embedding-001";
const one = { content: { parts: [{ text: "hello" }] } };

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** A server on 127.0.0.1 whose `route(request)` says where to redirect (or undefined: 404). */
async function redirector(
  route: (request: IncomingMessage, self: string) => string | undefined,
  status = 307,
): Promise<{ url: string; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(request);
    request.resume();
    const target = route(request, url);
    if (target === undefined) {
      response.writeHead(404, { "content-type": "application/json" });
      response.end('{"error":{"code":404,"message":"no","status":"NOT_FOUND"}}');
      return;
    }
    response.writeHead(status, { location: target });
    response.end("moved");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url, requests };
}

/** The local server, reached as `localhost` (another origin than 127.0.0.1), and what reached it. */
async function target(): Promise<{
  server: RunningServer;
  localhost: string;
  reached: () => number;
}> {
  const server = await startServer();
  closers.push(() => server.close());
  const localhost = server.url.replace("127.0.0.1", "localhost");
  return {
    server,
    localhost,
    // Every request that reached it, with a key or not.
    reached: () => server.stats().requests,
  };
}

describe("redirects", () => {
  it("does not follow a redirect to another origin with the key, and says what happened", async () => {
    const other = await target();
    const proxy = await redirector((request) => `${other.localhost}${request.url}`);
    const client = new GeminiClient({ apiKey: KEY, baseUrl: proxy.url, maxRetries: 2 });
    const error = await client.embedContent(MODEL, one).catch((caught: unknown) => caught as Error);
    expect(error).toBeInstanceOf(RedirectError);
    const redirect = error as RedirectError;
    expect(redirect.httpStatus).toBe(307);
    expect(redirect.fromOrigin).toBe(proxy.url);
    expect(redirect.toOrigin).toBe(new URL(other.localhost).origin);
    expect(redirect.message).toContain("another origin");
    expect(redirect.message).not.toContain(KEY);
    // Not retried (the same call would be redirected again), and nothing reached the other origin.
    expect(proxy.requests).toHaveLength(1);
    expect(proxy.requests[0]?.headers["x-goog-api-key"]).toBe(KEY);
    expect(other.reached()).toBe(0);
  });

  it("follows a redirect within the origin (307 keeps the method and body)", async () => {
    // Same origin: /old/... is redirected to /... on the same server (which answers it 404).
    const proxy = await redirector((request, self) =>
      request.url?.startsWith("/old/") ? `${self}${request.url.slice(4)}` : undefined,
    );
    const client = new GeminiClient({ apiKey: KEY, baseUrl: `${proxy.url}/old`, maxRetries: 0 });
    const error = await client.embedContent(MODEL, one).catch((caught: unknown) => caught);
    // The redirect was followed to /v1beta/... on the same origin, which the stand-in answers 404.
    expect(proxy.requests.map((request) => [request.method, request.url])).toEqual([
      ["POST", `/old/v1beta/models/${MODEL}:embedContent`],
      ["POST", `/v1beta/models/${MODEL}:embedContent`],
    ]);
    expect(proxy.requests[1]?.headers["x-goog-api-key"]).toBe(KEY);
    expect((error as Error).name).toBe("NotFoundError");
  });

  it("gives up after a bounded number of same-origin redirects", async () => {
    const proxy = await redirector((request, self) => `${self}${request.url}`);
    const client = new GeminiClient({ apiKey: KEY, baseUrl: proxy.url, maxRetries: 0 });
    const error = await client.models.list().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RedirectError);
    expect((error as Error).message).toMatch(/more than 5 redirects/);
    expect(proxy.requests).toHaveLength(6);
  });
});

describe("base URL", () => {
  it("accepts a base URL that ends in /v1beta (with or without a slash)", async () => {
    const local = await target();
    for (const baseUrl of [`${local.server.url}/v1beta`, `${local.server.url}/v1beta/`]) {
      const client = new GeminiClient({ apiKey: KEY, baseUrl });
      expect(client.baseUrl).toBe(local.server.url);
      const answer = await client.embedContent(MODEL, one);
      expect(answer.embedding?.values).toHaveLength(3072);
    }
  });
});
