/**
 * A fuzz test of the local server: a few thousand random requests (seeded, so a failure replays),
 * raw over `node:net` so that paths, headers and bodies go out exactly as generated, half of them
 * with the key. No answer may be a 5xx; every error answer must be a google.rpc.Status body that
 * does not echo the key. Bounded in count and in time.
 */

import { type RunningServer, startServer } from "@gembed/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RawAnswer, rawRequest } from "./support/raw-http.js";

const KEY = "fuzz-key-3c9d1e";
const REQUESTS = 3000;
/** The fuzz stops sending after this long even if fewer requests went out. */
const TIME_BOUND_MS = 60_000;
const CONCURRENCY = 8;

/** mulberry32: a small seeded generator. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let server: RunningServer;
beforeAll(async () => {
  server = await startServer({
    apiKeys: [KEY],
    headersTimeoutMs: 1000,
    requestTimeoutMs: 2000,
    batch: { delayPerItemMs: 0 },
  });
});
afterAll(async () => {
  await server.close();
});

const MODELS = ["gemini-embedding-001", "text-embedding-004", "nope", "", "gemini-embedding-001:x"];
const VERBS = [
  "embedContent",
  "batchEmbedContents",
  "asyncBatchEmbedContent",
  "countTokens",
  "cancel",
  "download",
  "updateEmbedContentBatch",
  "",
  "%zz",
];
const JUNK = [
  "",
  "x",
  "..",
  "%2e%2e",
  "%2F",
  "%00",
  "%zz",
  "%",
  "a".repeat(600),
  "UPPER",
  "files/abc",
  "batches/abc",
  "ünï",
  "a b",
  "%7B%7D",
];

function make(random: () => number, ids: string[]) {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const chance = (share: number) => random() < share;

  const randomValue = (depth: number): unknown => {
    const kind = Math.floor(random() * (depth > 3 ? 6 : 9));
    switch (kind) {
      case 0:
        return null;
      case 1:
        return chance(0.5);
      case 2:
        return pick([0, -1, 1.5, Number.MAX_VALUE, 2 ** 53, 128, 768, 3072, -5]);
      case 3:
        return pick(["", "x", "RETRIEVAL_DOCUMENT", "0.5", "1e400", KEY, "%%%", "🙂"]);
      case 4:
        return "t".repeat(Math.floor(random() * 3000));
      case 5:
        return pick(ids);
      case 6:
        return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(depth + 1));
      default: {
        const object: Record<string, unknown> = {};
        const keys = [
          "content",
          "parts",
          "text",
          "requests",
          "request",
          "taskType",
          "task_type",
          "title",
          "outputDimensionality",
          "output_dimensionality",
          "embedContentConfig",
          "batch",
          "inputConfig",
          "input_config",
          "fileName",
          "metadata",
          "key",
          "priority",
          "displayName",
          "model",
          "file",
          "name",
          "unknownField",
        ];
        for (let count = Math.floor(random() * 4); count > 0; count--) {
          object[pick(keys)] = randomValue(depth + 1);
        }
        return object;
      }
    }
  };

  const validEmbed = () => ({
    content: { parts: [{ text: pick(["hello", "world", "a b c"]) }] },
    ...(chance(0.3) ? { outputDimensionality: pick([128, 768, 3072, 5, "768"]) } : {}),
    ...(chance(0.2) ? { taskType: pick(["RETRIEVAL_QUERY", "BAD"]) } : {}),
  });

  const body = (): string | undefined => {
    const kind = random();
    if (kind < 0.2) return undefined;
    if (kind < 0.4) return JSON.stringify(validEmbed());
    if (kind < 0.5) return JSON.stringify({ requests: [validEmbed(), randomValue(0)] });
    if (kind < 0.6) {
      return JSON.stringify({
        batch: {
          inputConfig: chance(0.8)
            ? { requests: { requests: [{ request: validEmbed(), metadata: randomValue(0) }] } }
            : { fileName: pick(ids) },
          ...(chance(0.3) ? { priority: randomValue(0) } : {}),
        },
      });
    }
    if (kind < 0.8) return JSON.stringify(randomValue(0));
    if (kind < 0.85) {
      let deep = "1";
      for (let level = Math.floor(random() * 5000); level > 0; level--) deep = `[${deep}]`;
      return `{"content":${deep}}`;
    }
    if (kind < 0.95) return JSON.stringify(validEmbed()).slice(0, Math.floor(random() * 30));
    return Buffer.from(Array.from({ length: 64 }, () => Math.floor(random() * 256))).toString(
      "latin1",
    );
  };

  const path = (): string => {
    const id = chance(0.5) ? pick(ids) : pick(JUNK);
    const templates = [
      () => "/v1beta/models",
      () => `/v1beta/models/${pick(MODELS)}`,
      () => `/v1beta/models/${pick(MODELS)}:${pick(VERBS)}`,
      () => "/v1beta/batches",
      () => `/v1beta/batches/${id}`,
      () => `/v1beta/batches/${id}:${pick(VERBS)}`,
      () => "/v1beta/files",
      () => `/v1beta/files/${id}`,
      () => `/v1beta/files/${id}:${pick(VERBS)}`,
      () => `/download/v1beta/files/${id}:download`,
      () => `/upload/v1beta/files${chance(0.5) ? `?upload_id=${id}` : ""}`,
      () => "/health",
      () => "/metrics",
      () => `/${pick(JUNK)}`,
    ];
    let target = pick(templates)();
    if (chance(0.15)) {
      // Percent-encode one letter, as an attacker would to slip past a raw-URL check.
      const at = target.search(/[a-z]/);
      if (at >= 0) {
        target = `${target.slice(0, at)}%${target.charCodeAt(at).toString(16)}${target.slice(at + 1)}`;
      }
    }
    if (chance(0.05)) target = target.replace("/", "//");
    const query: string[] = [];
    if (chance(0.2)) query.push(`pageSize=${pick(["1", "-1", "x", "1000000", "1.5"])}`);
    if (chance(0.2)) query.push(`pageToken=${pick(["%%%", "bzE", "bzA", "AAAA", "", "%zz"])}`);
    if (chance(0.1)) query.push(`updateMask=${pick(["priority", "displayName", "x", ""])}`);
    if (chance(0.2)) query.push(`key=${pick([KEY, "wrong", "%zz"])}`);
    if (chance(0.05)) query.push(`alt=media&x=${"q".repeat(Math.floor(random() * 5000))}`);
    return query.length > 0 ? `${target}?${query.join("&")}` : target;
  };

  return (): string => {
    const method = pick([
      "GET",
      "GET",
      "POST",
      "POST",
      "POST",
      "DELETE",
      "PATCH",
      "PUT",
      "OPTIONS",
    ]);
    let target = path();
    const headers: string[] = [];
    const host = new URL(server.url).host;
    if (chance(0.05)) target = `http://${host}${target}`;
    headers.push(`Host: ${chance(0.9) ? host : pick(["evil.example", "a b", "", "x:99999"])}`);
    headers.push("Connection: close");
    if (chance(0.5)) headers.push(`x-goog-api-key: ${KEY}`);
    else if (chance(0.3)) headers.push(`x-goog-api-key: ${pick(["wrong", "", KEY.toUpperCase()])}`);
    if (chance(0.8)) {
      headers.push(
        `Content-Type: ${pick(["application/json", "application/json; charset=utf-8", "text/plain", "application/octet-stream", "multipart/form-data", "application/jsonl"])}`,
      );
    }
    if (target.includes("upload")) {
      if (chance(0.7)) headers.push(`X-Goog-Upload-Protocol: ${pick(["resumable", "multipart"])}`);
      if (chance(0.8)) {
        headers.push(
          `X-Goog-Upload-Command: ${pick(["start", "upload", "upload, finalize", "query", "finalize", "bogus"])}`,
        );
      }
      if (chance(0.5)) {
        headers.push(
          `X-Goog-Upload-Header-Content-Length: ${pick(["10", "-5", "1e400", "abc", "0"])}`,
        );
      }
      if (chance(0.5)) headers.push(`X-Goog-Upload-Offset: ${pick(["0", "-1", "x", "5", "1e3"])}`);
    }
    if (chance(0.01)) headers.push(`X-Big: ${"b".repeat(20_000)}`);
    const content = body();
    if (content !== undefined)
      headers.push(`Content-Length: ${Buffer.byteLength(content, "latin1")}`);
    if (chance(0.01)) headers.push("Transfer-Encoding: chunked");
    const head = `${method} ${target} HTTP/1.1\r\n${headers.join("\r\n")}\r\n\r\n`;
    return head + (content ?? "");
  };
}

describe("fuzz", () => {
  it(`answers ${REQUESTS} random requests without a 5xx, every error a google.rpc.Status`, async () => {
    // FUZZ_SEED replays or varies a run; the suite uses the fixed seed.
    const random = generator(Number(process.env.FUZZ_SEED ?? 20261130));
    // A few real ids, so that random requests also reach existing jobs and files.
    const ids: string[] = [];
    const job = await fetch(
      `${server.url}/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent`,
      {
        method: "POST",
        headers: { "content-type": "application/json", "x-goog-api-key": KEY },
        body: JSON.stringify({
          batch: {
            inputConfig: {
              requests: { requests: [{ request: { content: { parts: [{ text: "x" }] } } }] },
            },
          },
        }),
      },
    );
    ids.push(((await job.json()) as { name: string }).name.slice("batches/".length));
    const upload = await fetch(`${server.url}/upload/v1beta/files`, {
      method: "POST",
      headers: {
        "x-goog-api-key": KEY,
        "x-goog-upload-protocol": "resumable",
        "x-goog-upload-command": "start",
      },
    });
    const session = new URL(upload.headers.get("x-goog-upload-url") as string).searchParams.get(
      "upload_id",
    );
    ids.push(session as string, "abc", "a".repeat(64));

    const next = make(random, ids);
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let sent = 0;
    const started = Date.now();
    const check = (request: string, answer: RawAnswer | undefined) => {
      const shown = request.slice(0, 300).replace(/\r\n/g, " | ");
      if (answer === undefined) {
        failures.push(`no answer to: ${shown}`);
        return;
      }
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (!(answer.status >= 200 && answer.status < 500)) {
        failures.push(`${answer.status} to: ${shown} -> ${answer.body.slice(0, 200)}`);
      }
      if (answer.status >= 400) {
        let body: { error?: { code?: unknown; message?: unknown; status?: unknown } } | undefined;
        try {
          body = JSON.parse(answer.body);
        } catch {
          body = undefined;
        }
        const error = body?.error;
        if (
          body === undefined ||
          Object.keys(body).length !== 1 ||
          typeof error?.code !== "number" ||
          typeof error.message !== "string" ||
          typeof error.status !== "string"
        ) {
          failures.push(
            `not a Status (${answer.status}) to: ${shown} -> ${answer.body.slice(0, 200)}`,
          );
        }
        if (answer.raw.includes(KEY)) failures.push(`key echoed to: ${shown}`);
      }
    };
    const worker = async () => {
      while (sent < REQUESTS && Date.now() - started < TIME_BOUND_MS && failures.length < 20) {
        sent++;
        const request = next();
        check(request, await rawRequest(server.url, request, 15_000));
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    expect(failures).toEqual([]);
    // The fuzz reached both sides of the key check and the handlers behind it.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(404) ?? 0).toBeGreaterThan(0);
    expect(sent).toBeGreaterThan(100);
  }, 120_000);
});
