/**
 * What the Python SDK (`google-genai` 3.x) asks of the server beyond what the JS SDK does, at the
 * HTTP level: the `v1` paths, and upload chunks sent to the session URL without the API key.
 * test/python-anchors.test.ts runs the SDK itself; this file pins the server's side, the key
 * check included (the relaxed upload rule must not open anything else).
 */

import { type RunningServer, startServer } from "@gembed/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { v1AsV1beta } from "../packages/server/src/routes/common.js";

const KEY = "paths-key";
let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ apiKeys: [KEY] });
});

afterAll(async () => {
  await server?.close();
});

async function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

describe("the v1 API (google-genai 3.x calls it by default)", () => {
  it("maps /v1, /upload/v1 and /download/v1 to v1beta, and nothing else", () => {
    expect(v1AsV1beta("/v1/models/gemini-embedding-001:batchEmbedContents")).toBe(
      "/v1beta/models/gemini-embedding-001:batchEmbedContents",
    );
    expect(v1AsV1beta("/v1/batches?pageSize=2")).toBe("/v1beta/batches?pageSize=2");
    expect(v1AsV1beta("/v1?x=1")).toBe("/v1beta?x=1");
    expect(v1AsV1beta("/upload/v1/files")).toBe("/upload/v1beta/files");
    expect(v1AsV1beta("/download/v1/files/abc:download?alt=media")).toBe(
      "/download/v1beta/files/abc:download?alt=media",
    );
    expect(v1AsV1beta("/v1beta/models")).toBe("/v1beta/models");
    expect(v1AsV1beta("/v1alpha/models")).toBe("/v1alpha/models");
    expect(v1AsV1beta("/v10/models")).toBe("/v10/models");
    expect(v1AsV1beta("/health")).toBe("/health");
  });

  it("answers /v1/models/...:batchEmbedContents as v1beta does, and checks the key there too", async () => {
    const body = { requests: [{ content: { parts: [{ text: "hello world" }] } }] };
    const v1 = await post("/v1/models/gemini-embedding-001:batchEmbedContents", body, {
      "x-goog-api-key": KEY,
    });
    const v1beta = await post("/v1beta/models/gemini-embedding-001:batchEmbedContents", body, {
      "x-goog-api-key": KEY,
    });
    expect(v1.status).toBe(200);
    expect(await v1.json()).toEqual(await v1beta.json());
    const withoutKey = await post("/v1/models/gemini-embedding-001:batchEmbedContents", body);
    expect(withoutKey.status).toBe(400);
    const refused = (await withoutKey.json()) as { error: { status: string; details: unknown[] } };
    expect(refused.error.status).toBe("INVALID_ARGUMENT");
    expect(refused.error.details).toContainEqual(
      expect.objectContaining({ reason: "API_KEY_INVALID" }),
    );
  });
});

describe("upload chunks without the key (google-genai's files.upload)", () => {
  const start = (headers: Record<string, string>) =>
    post(
      "/upload/v1/files",
      { file: { displayName: "x" } },
      {
        "x-goog-upload-protocol": "resumable",
        "x-goog-upload-command": "start",
        "x-goog-upload-header-content-length": "5",
        ...headers,
      },
    );

  it("a session started with the key takes its chunks without it", async () => {
    const started = await start({ "x-goog-api-key": KEY });
    expect(started.status).toBe(200);
    const uploadUrl = started.headers.get("x-goog-upload-url");
    expect(uploadUrl).toMatch(/\/upload\/v1beta\/files\?upload_id=[a-z0-9]+/);
    const chunk = await fetch(uploadUrl!, {
      method: "POST",
      headers: { "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0" },
      body: "hello",
    });
    expect(chunk.status).toBe(200);
    expect(chunk.headers.get("x-goog-upload-status")).toBe("final");
    const { file } = (await chunk.json()) as { file: { name: string; sizeBytes: string } };
    expect(file.sizeBytes).toBe("5");
    // The file itself is read with the key only.
    const id = file.name.replace("files/", "");
    expect((await fetch(`${server.url}/v1/files/${id}`)).status).toBe(400);
    const read = await fetch(`${server.url}/v1/files/${id}:download?alt=media`, {
      headers: { "x-goog-api-key": KEY },
    });
    expect(await read.text()).toBe("hello");
  });

  it("starting a session still needs the key; a chunk to an unknown session is a 404", async () => {
    const withoutKey = await start({});
    expect(withoutKey.status).toBe(400);
    expect(withoutKey.headers.get("x-goog-upload-url")).toBeNull();
    // A start command that names a session id is no way around the key.
    const startWithId = await fetch(`${server.url}/upload/v1beta/files?upload_id=abc`, {
      method: "POST",
      headers: { "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start" },
      body: "{}",
    });
    expect(startWithId.status).toBe(404);
    const unknown = await fetch(`${server.url}/upload/v1beta/files?upload_id=nosuchsession`, {
      method: "POST",
      headers: { "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0" },
      body: "hello",
    });
    expect(unknown.status).toBe(404);
  });
});
