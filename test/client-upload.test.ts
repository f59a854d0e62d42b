import { createHash, randomBytes } from "node:crypto";
import { createReadStream, readdirSync, readlinkSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import {
  BadRequestError,
  GembedAbortError,
  GeminiClient,
  GeminiConnectionError,
  InvalidResponseError,
  MissingApiKeyError,
  NotFoundError,
} from "gembed";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type RecordedRequest,
  type Reply,
  type ScriptedServer,
  startScriptedServer,
  statusBody,
} from "./support/scripted-server.js";

const KEY = "upload-test-key";

let server: ScriptedServer;
let client: GeminiClient;
let folder: string;

beforeEach(async () => {
  server = await startScriptedServer();
  client = new GeminiClient({ apiKey: KEY, baseUrl: server.url, maxRetries: 0 });
  folder = await mkdtemp(join(tmpdir(), "gembed-upload-"));
});
afterEach(async () => {
  await server.close();
  await rm(folder, { recursive: true, force: true });
});

/** Plays Google's resumable upload protocol; checks every chunk's offset. */
function resumableProtocol(sessionUrl = () => `${server.url}/upload/v1beta/files?upload_id=s1`) {
  const received: Buffer[] = [];
  let offset = 0;
  let declaredType: string | undefined;
  server.fallback = (request: RecordedRequest): Reply => {
    const command = request.headers["x-goog-upload-command"];
    if (command === "start") {
      declaredType = String(request.headers["x-goog-upload-header-content-type"]);
      return { headers: { "x-goog-upload-url": sessionUrl() }, json: {} };
    }
    if (Number(request.headers["x-goog-upload-offset"]) !== offset) {
      return { status: 400, json: statusBody(400, "INVALID_ARGUMENT", "bad offset") };
    }
    received.push(request.body);
    offset += request.body.byteLength;
    if (command === "upload") return { headers: { "x-goog-upload-status": "active" }, body: "" };
    const all = Buffer.concat(received);
    return {
      headers: { "x-goog-upload-status": "final" },
      json: {
        file: {
          name: "files/t5snrshrqff1",
          mimeType: declaredType,
          sizeBytes: String(all.byteLength),
          sha256Hash: createHash("sha256").update(all).digest("base64"),
          state: "ACTIVE",
          source: "UPLOADED",
        },
      },
    };
  };
  return { received: () => Buffer.concat(received) };
}

/** How many file descriptors of this process point at `path` (Linux `/proc`). */
function openDescriptors(path: string): number {
  let count = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) count++;
    } catch {
      // closed between the listing and the read
    }
  }
  return count;
}

function chunkRequests() {
  return server.requests.filter((request) => request.headers["x-goog-upload-command"] !== "start");
}

describe("files.upload (resumable protocol)", () => {
  it("from a Buffer, in several chunks: start request, offsets, commands, final File", async () => {
    const protocol = resumableProtocol();
    const bytes = randomBytes(10_000);
    const file = await client.files.upload(bytes, {
      displayName: "BatchInput",
      chunkSize: 4096,
      mimeType: "application/jsonl",
    });
    expect(file.name).toBe("files/t5snrshrqff1");
    expect(file.sizeBytes).toBe("10000");
    expect(file.mimeType).toBe("application/jsonl");
    expect(protocol.received().equals(bytes)).toBe(true);

    const start = server.requests[0]!;
    expect(start.method).toBe("POST");
    expect(start.path).toBe("/upload/v1beta/files");
    expect(start.headers["x-goog-upload-protocol"]).toBe("resumable");
    expect(start.headers["x-goog-upload-command"]).toBe("start");
    expect(start.headers["x-goog-upload-header-content-length"]).toBe("10000");
    expect(start.headers["x-goog-upload-header-content-type"]).toBe("application/jsonl");
    expect(start.headers["content-type"]).toBe("application/json");
    expect(start.headers["x-goog-api-key"]).toBe(KEY);
    expect(start.json()).toEqual({ file: { displayName: "BatchInput" } });

    const chunks = chunkRequests();
    expect(chunks.map((request) => request.headers["x-goog-upload-command"])).toEqual([
      "upload",
      "upload",
      "upload, finalize",
    ]);
    expect(chunks.map((request) => request.headers["x-goog-upload-offset"])).toEqual([
      "0",
      "4096",
      "8192",
    ]);
    expect(chunks.map((request) => request.body.byteLength)).toEqual([4096, 4096, 1808]);
    expect(chunks.every((request) => request.url === "/upload/v1beta/files?upload_id=s1")).toBe(
      true,
    );
  });

  it("from a path: streamed, size from stat, MIME type from the extension", async () => {
    const protocol = resumableProtocol();
    const path = join(folder, "input.jsonl");
    const lines = Array.from({ length: 100 }, (_, index) =>
      JSON.stringify({
        key: `k${index}`,
        request: { content: { parts: [{ text: `doc ${index}` }] } },
      }),
    ).join("\n");
    await writeFile(path, lines);
    const size = Buffer.byteLength(lines);
    const file = await client.files.upload(path, { chunkSize: 1024 });
    expect(file.sizeBytes).toBe(String(size));
    expect(protocol.received().toString()).toBe(lines);
    expect(server.requests[0]!.headers["x-goog-upload-header-content-length"]).toBe(String(size));
    expect(server.requests[0]!.headers["x-goog-upload-header-content-type"]).toBe(
      "application/jsonl",
    );
    expect(server.requests[0]!.json()).toEqual({ file: {} });
    const chunks = chunkRequests();
    expect(chunks).toHaveLength(Math.ceil(size / 1024));
    expect(chunks.slice(0, -1).every((request) => request.body.byteLength === 1024)).toBe(true);
  });

  it("from a stream of unknown size with uneven pieces; exact multiple of the chunk size", async () => {
    const protocol = resumableProtocol();
    const bytes = randomBytes(3 * 1000);
    const pieces = [bytes.subarray(0, 1), bytes.subarray(1, 1700), bytes.subarray(1700)];
    const file = await client.files.upload(Readable.from(pieces), { chunkSize: 1000 });
    expect(file.sizeBytes).toBe("3000");
    expect(protocol.received().equals(bytes)).toBe(true);
    expect(server.requests[0]!.headers["x-goog-upload-header-content-length"]).toBeUndefined();
    expect(chunkRequests().map((request) => request.headers["x-goog-upload-command"])).toEqual([
      "upload",
      "upload",
      "upload, finalize",
    ]);
    expect(chunkRequests().map((request) => request.body.byteLength)).toEqual([1000, 1000, 1000]);
  });

  it("from an async iterable with a declared size; an empty file is one finalize", async () => {
    resumableProtocol();
    async function* generate() {
      yield new TextEncoder().encode("abc");
      yield new TextEncoder().encode("def");
    }
    const file = await client.files.upload(generate(), { size: 6, chunkSize: 4 });
    expect(file.sizeBytes).toBe("6");
    expect(server.requests[0]!.headers["x-goog-upload-header-content-length"]).toBe("6");
    server.requests.length = 0;
    resumableProtocol();
    const empty = await client.files.upload(new Uint8Array(0));
    expect(empty.sizeBytes).toBe("0");
    expect(chunkRequests().map((request) => request.headers["x-goog-upload-command"])).toEqual([
      "upload, finalize",
    ]);
  });

  it("a declared size that does not match the bytes is a RangeError", async () => {
    resumableProtocol();
    await expect(
      client.files.upload(Readable.from([Buffer.from("12345")]), { size: 3, chunkSize: 2 }),
    ).rejects.toThrow(RangeError);
    await expect(
      client.files.upload(Readable.from([Buffer.from("12345")]), { size: 9 }),
    ).rejects.toThrow(RangeError);
  });

  it("the key is not sent to an upload URL on another host", async () => {
    const other = await startScriptedServer();
    try {
      server.enqueue({ headers: { "x-goog-upload-url": `${other.url}/session/1` }, json: {} });
      other.enqueue({
        headers: { "x-goog-upload-status": "final" },
        json: { file: { name: "files/x" } },
      });
      await client.files.upload(Buffer.from("x"));
      expect(server.requests[0]!.headers["x-goog-api-key"]).toBe(KEY);
      expect(other.requests).toHaveLength(1);
      expect(other.requests[0]!.headers["x-goog-api-key"]).toBeUndefined();
    } finally {
      await other.close();
    }
  });

  it("protocol violations are InvalidResponseError; upload errors are API errors", async () => {
    server.enqueue({ json: {} });
    await expect(client.files.upload(Buffer.from("x"))).rejects.toBeInstanceOf(
      InvalidResponseError,
    );
    server.enqueue(
      { headers: { "x-goog-upload-url": `${server.url}/s` }, json: {} },
      { headers: { "x-goog-upload-status": "final" }, json: { file: { name: "files/x" } } },
    );
    await expect(
      client.files.upload(Buffer.from("abcdef"), { chunkSize: 2 }),
    ).rejects.toBeInstanceOf(InvalidResponseError);
    server.enqueue(
      { headers: { "x-goog-upload-url": `${server.url}/s` }, json: {} },
      { status: 404, json: statusBody(404, "NOT_FOUND", "no such session") },
    );
    await expect(client.files.upload(Buffer.from("abc"))).rejects.toBeInstanceOf(NotFoundError);
  });

  it("a failed upload from a path leaves the file closed, whenever it fails", async () => {
    const path = join(folder, "input.jsonl");
    await writeFile(path, "x".repeat(5000));
    // The probe sees an open stream (so it can fail).
    const probe = createReadStream(path);
    await new Promise((resolve) => probe.once("open", () => resolve(undefined)));
    expect(openDescriptors(path)).toBe(1);
    probe.destroy();
    await new Promise((resolve) => probe.once("close", () => resolve(undefined)));
    expect(openDescriptors(path)).toBe(0);

    const saved = [process.env.GOOGLE_API_KEY, process.env.GEMINI_API_KEY];
    delete process.env.GOOGLE_API_KEY;
    delete process.env.GEMINI_API_KEY;
    try {
      await expect(
        new GeminiClient({ baseUrl: server.url }).files.upload(path),
      ).rejects.toBeInstanceOf(MissingApiKeyError);
    } finally {
      if (saved[0] !== undefined) process.env.GOOGLE_API_KEY = saved[0];
      if (saved[1] !== undefined) process.env.GEMINI_API_KEY = saved[1];
    }
    server.enqueue(
      // The start is refused.
      { status: 400, json: statusBody(400, "INVALID_ARGUMENT", "no") },
      // The start answers without a session URL.
      { json: {} },
      // The second chunk fails.
      { headers: { "x-goog-upload-url": `${server.url}/s` }, json: {} },
      { headers: { "x-goog-upload-status": "active" }, body: "" },
      { status: 404, json: statusBody(404, "NOT_FOUND", "no such session") },
    );
    await expect(client.files.upload(path)).rejects.toBeInstanceOf(BadRequestError);
    await expect(client.files.upload(path)).rejects.toBeInstanceOf(InvalidResponseError);
    await expect(client.files.upload(path, { chunkSize: 1024 })).rejects.toBeInstanceOf(
      NotFoundError,
    );
    expect(server.requests).toHaveLength(5);
    // A destroyed stream closes its descriptor asynchronously.
    for (let tries = 0; tries < 50 && openDescriptors(path) > 0; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(openDescriptors(path)).toBe(0);
  });

  it("bad params throw before any request", async () => {
    await expect(client.files.upload(Buffer.from("x"), { chunkSize: 0 })).rejects.toThrow(
      RangeError,
    );
    await expect(
      client.files.upload(Buffer.from("x"), { displayName: 5 as unknown as string }),
    ).rejects.toThrow(TypeError);
    await expect(client.files.upload(42 as unknown as Uint8Array)).rejects.toThrow(TypeError);
    await expect(client.files.upload(join(folder, "missing.jsonl"))).rejects.toThrow(/ENOENT/);
    expect(server.requests).toHaveLength(0);
  });
});

describe("files.download", () => {
  it("streams the bytes of /download/v1beta/files/{id}:download?alt=media", async () => {
    const bytes = randomBytes(3 * 1024 * 1024);
    server.enqueue({ body: bytes, headers: { "content-type": "application/octet-stream" } });
    const stream = await client.files.download("files/batch-abc");
    expect(stream).toBeInstanceOf(Readable);
    const pieces: Buffer[] = [];
    for await (const piece of stream) pieces.push(piece as Buffer);
    expect(pieces.length).toBeGreaterThan(1);
    expect(Buffer.concat(pieces).equals(bytes)).toBe(true);
    const request = server.requests[0]!;
    expect(request.method).toBe("GET");
    expect(request.path).toBe("/download/v1beta/files/batch-abc:download");
    expect(request.query.get("alt")).toBe("media");
    expect(request.headers["x-goog-api-key"]).toBe(KEY);
  });

  it("a connection dropped mid-body is a GeminiConnectionError on the stream", async () => {
    server.enqueue({ body: randomBytes(1024 * 1024), resetAfterBytes: 64 * 1024 });
    const stream = await client.files.download("files/batch-abc");
    let received = 0;
    const error = await (async () => {
      for await (const piece of stream) received += (piece as Buffer).byteLength;
    })().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GeminiConnectionError);
    expect((error as Error).message).toContain("download/files/batch-abc");
    expect(received).toBeLessThan(1024 * 1024);
  });

  it("the caller's abort mid-body is a GembedAbortError on the stream and stops the body", async () => {
    const reply: Reply = { endlessBody: Buffer.alloc(64 * 1024, 1) };
    server.enqueue(reply);
    const controller = new AbortController();
    const stream = await client.files.download("x", { signal: controller.signal });
    let pieces = 0;
    const error = await (async () => {
      for await (const _piece of stream) {
        if (++pieces === 3) controller.abort(new Error("enough"));
      }
    })().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GembedAbortError);
    expect(((error as Error).cause as Error).message).toBe("enough");
    expect(stream.destroyed).toBe(true);
  });

  it("a missing file is a NotFoundError", async () => {
    server.enqueue({ status: 404, json: statusBody(404, "NOT_FOUND", "File x not found") });
    await expect(client.files.download("x")).rejects.toBeInstanceOf(NotFoundError);
  });
});
