/**
 * `files.upload` recovering from a failed chunk with `X-Goog-Upload-Command: query`: against a
 * scripted server that plays Google's resumable protocol and stages the faults (a reset in the
 * middle of a chunk body, a 500 or a timeout after the bytes were stored, a 503 before, lost
 * bytes), and against the local server (`src/server/`) behind a TCP proxy that cuts the
 * connection, so the query is answered by the real session code.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { startServer } from "@gembed/server";
import {
  GembedAbortError,
  GeminiClient,
  GeminiConnectionError,
  InternalServerError,
  InvalidResponseError,
  type RetryEvent,
  UploadResumeError,
} from "gembed";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type RecordedRequest,
  type Reply,
  type ScriptedServer,
  startScriptedServer,
  statusBody,
} from "./support/scripted-server.js";

const KEY = "resume-test-key";
const CHUNK = 64 * 1024;
const SIZE = 5 * CHUNK + 1234;

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** What the fake does with the upload at one offset, once. */
type Fault =
  | "503 before storing"
  | "500 after storing"
  | "reset after storing"
  | "hang after storing"
  | "500 and lose the bytes after"
  | "500 every time";

interface Fake {
  /** The bytes the session holds. */
  stored(): Buffer;
  /** Upload requests (not start, not query), in order: offset, body length, command. */
  uploads(): { offset: number; length: number; command: string; interrupted: boolean }[];
  queries(): number;
}

let server: ScriptedServer;
let folder: string;

beforeEach(async () => {
  server = await startScriptedServer();
  folder = await mkdtemp(join(tmpdir(), "gembed-resume-"));
});
afterEach(async () => {
  await server.close();
  await rm(folder, { recursive: true, force: true });
});

function newClient(
  options: { maxRetries?: number; timeout?: number; onRetry?: (event: RetryEvent) => void } = {},
) {
  return new GeminiClient({
    apiKey: KEY,
    baseUrl: server.url,
    maxRetries: options.maxRetries ?? 3,
    maxRetryDelay: 20,
    ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
    ...(options.onRetry === undefined ? {} : { onRetry: options.onRetry }),
  });
}

/**
 * Google's resumable protocol with `query`, staging `faults` by offset. A body cut in the middle
 * (`cuts`: offset → bytes that arrive) keeps what arrived rounded down to `granularity`, as the
 * service persists whole granules.
 */
function resumableProtocol(
  faults: Record<number, Fault> = {},
  cuts: Record<number, number> = {},
  granularity = 4096,
): Fake {
  let stored = Buffer.alloc(0);
  let final: Record<string, unknown> | undefined;
  let absorbed = 0;
  let lose: number | undefined;
  const used = new Set<number>();
  const cutsUsed = new Set<number>();
  const file = () => ({
    name: "files/resumed",
    sizeBytes: String(stored.byteLength),
    sha256Hash: createHash("sha256").update(stored).digest("base64"),
    state: "ACTIVE",
    source: "UPLOADED",
  });
  // The bytes of a body cut in the middle, as far as whole granules go.
  const absorb = () => {
    for (; absorbed < server.requests.length; absorbed++) {
      const request = server.requests[absorbed]!;
      if (!request.interrupted) continue;
      if (Number(request.headers["x-goog-upload-offset"]) !== stored.byteLength) continue;
      const keep = Math.floor(request.body.byteLength / granularity) * granularity;
      stored = Buffer.concat([stored, request.body.subarray(0, keep)]);
    }
  };
  server.cutBody = (head) => {
    const offset = Number(head.headers["x-goog-upload-offset"]);
    const arrive = cuts[offset];
    if (arrive === undefined || cutsUsed.has(offset)) return undefined;
    cutsUsed.add(offset);
    return arrive;
  };
  server.fallback = (request: RecordedRequest): Reply => {
    absorb();
    const command = String(request.headers["x-goog-upload-command"]);
    if (command === "start") {
      return { headers: { "x-goog-upload-url": `${server.url}/upload/v1beta/files?upload_id=s1` } };
    }
    if (command === "query") {
      if (lose !== undefined) {
        stored = stored.subarray(0, lose);
        lose = undefined;
      }
      const headers = {
        "x-goog-upload-status": final ? "final" : "active",
        "x-goog-upload-size-received": String(stored.byteLength),
      };
      return final ? { headers, json: { file: final } } : { headers, body: "" };
    }
    const offset = Number(request.headers["x-goog-upload-offset"]);
    if (final || offset !== stored.byteLength) {
      return { status: 400, json: statusBody(400, "INVALID_ARGUMENT", "bad offset") };
    }
    const fault = used.has(offset) ? undefined : faults[offset];
    if (fault !== "500 every time") used.add(offset);
    if (fault === "503 before storing") {
      return { status: 503, json: statusBody(503, "UNAVAILABLE", "try again") };
    }
    if (fault === "500 every time") {
      return { status: 500, json: statusBody(500, "INTERNAL", "broken") };
    }
    stored = Buffer.concat([stored, request.body]);
    if (command === "upload, finalize") final = file();
    if (fault === "500 after storing") {
      return { status: 500, json: statusBody(500, "INTERNAL", "stored, then failed") };
    }
    if (fault === "500 and lose the bytes after") {
      lose = Math.max(0, offset - CHUNK - 4096);
      return { status: 500, json: statusBody(500, "INTERNAL", "lost") };
    }
    if (fault === "reset after storing") return { reset: true };
    if (fault === "hang after storing") return { hang: true };
    return final
      ? { headers: { "x-goog-upload-status": "final" }, json: { file: final } }
      : { headers: { "x-goog-upload-status": "active" }, body: "" };
  };
  return {
    stored: () => stored,
    uploads: () =>
      server.requests
        .filter((request) => String(request.headers["x-goog-upload-command"]).startsWith("upload"))
        .map((request) => ({
          offset: Number(request.headers["x-goog-upload-offset"]),
          length: request.body.byteLength,
          command: String(request.headers["x-goog-upload-command"]),
          interrupted: request.interrupted === true,
        })),
    queries: () =>
      server.requests.filter((request) => request.headers["x-goog-upload-command"] === "query")
        .length,
  };
}

const commands = () => server.requests.map((request) => request.headers["x-goog-upload-command"]);

/** A stream that cannot be read again (the source of the hardest case). */
const streamOf = (bytes: Buffer) =>
  Readable.from(
    Array.from({ length: Math.ceil(bytes.byteLength / 10_000) }, (_, index) =>
      bytes.subarray(index * 10_000, (index + 1) * 10_000),
    ),
  );

describe("files.upload resumes after a failed chunk (scripted server)", () => {
  it("a reset in the middle of a chunk body: query, then only the missing tail of the chunk", async () => {
    const bytes = randomBytes(SIZE);
    const fake = resumableProtocol({}, { [CHUNK]: 20_000 });
    const events: RetryEvent[] = [];
    const client = newClient({ onRetry: (event) => events.push(event) });
    const file = await client.files.upload(streamOf(bytes), { chunkSize: CHUNK });

    expect(sha256(fake.stored())).toBe(sha256(bytes));
    expect(file.sha256Hash).toBe(createHash("sha256").update(bytes).digest("base64"));
    expect(file.sizeBytes).toBe(String(SIZE));
    // The server kept 16 KiB (4 whole granules) of the 20,000 bytes that arrived.
    expect(fake.uploads()).toEqual([
      { offset: 0, length: CHUNK, command: "upload", interrupted: false },
      { offset: CHUNK, length: 20_000, command: "upload", interrupted: true },
      { offset: CHUNK + 16_384, length: CHUNK - 16_384, command: "upload", interrupted: false },
      { offset: 2 * CHUNK, length: CHUNK, command: "upload", interrupted: false },
      { offset: 3 * CHUNK, length: CHUNK, command: "upload", interrupted: false },
      { offset: 4 * CHUNK, length: CHUNK, command: "upload", interrupted: false },
      { offset: 5 * CHUNK, length: 1234, command: "upload, finalize", interrupted: false },
    ]);
    expect(commands()).toEqual([
      "start",
      "upload",
      "upload",
      "query",
      "upload",
      "upload",
      "upload",
      "upload",
      "upload, finalize",
    ]);
    expect(events).toHaveLength(1);
    expect(events[0]!.error).toBeInstanceOf(GeminiConnectionError);
    expect(events[0]!.operation).toBe(`POST upload session (offset ${CHUNK})`);
    // The query goes to the session URL, with the key (same origin), and no body.
    const query = server.requests[3]!;
    expect(query.url).toBe("/upload/v1beta/files?upload_id=s1");
    expect(query.headers["x-goog-api-key"]).toBe(KEY);
    expect(query.body.byteLength).toBe(0);
  });

  it("a 500 after the server stored the chunk: the query says so, and the chunk is not sent again", async () => {
    const bytes = randomBytes(SIZE);
    const fake = resumableProtocol({ [2 * CHUNK]: "500 after storing" });
    const file = await newClient().files.upload(streamOf(bytes), { chunkSize: CHUNK });
    expect(file.name).toBe("files/resumed");
    expect(sha256(fake.stored())).toBe(sha256(bytes));
    const offsets = fake.uploads().map((upload) => upload.offset);
    expect(offsets).toEqual([0, CHUNK, 2 * CHUNK, 3 * CHUNK, 4 * CHUNK, 5 * CHUNK]);
    expect(new Set(offsets).size).toBe(offsets.length);
    expect(fake.uploads().reduce((sum, upload) => sum + upload.length, 0)).toBe(SIZE);
    expect(fake.queries()).toBe(1);
    expect(server.requests).toHaveLength(1 + 6 + 1);
  });

  it("a timeout (and a reset) after the server stored the chunk: no chunk is sent twice", async () => {
    const bytes = randomBytes(SIZE);
    const fake = resumableProtocol({
      [CHUNK]: "hang after storing",
      [3 * CHUNK]: "reset after storing",
    });
    const events: RetryEvent[] = [];
    const client = newClient({ timeout: 1000, onRetry: (event) => events.push(event) });
    await client.files.upload(bytes, { chunkSize: CHUNK });
    expect(sha256(fake.stored())).toBe(sha256(bytes));
    expect(fake.uploads().map((upload) => upload.offset)).toEqual([
      0,
      CHUNK,
      2 * CHUNK,
      3 * CHUNK,
      4 * CHUNK,
      5 * CHUNK,
    ]);
    expect(fake.queries()).toBe(2);
    expect(events.map((event) => (event.error as Error).name)).toEqual([
      "GeminiTimeoutError",
      "GeminiConnectionError",
    ]);
  });

  it("a 503 before the server stored anything: query, then the whole chunk again", async () => {
    const bytes = randomBytes(SIZE);
    const fake = resumableProtocol({ [4 * CHUNK]: "503 before storing" });
    await newClient().files.upload(streamOf(bytes), { chunkSize: CHUNK });
    expect(sha256(fake.stored())).toBe(sha256(bytes));
    expect(fake.uploads().map((upload) => [upload.offset, upload.length])).toEqual([
      [0, CHUNK],
      [CHUNK, CHUNK],
      [2 * CHUNK, CHUNK],
      [3 * CHUNK, CHUNK],
      [4 * CHUNK, CHUNK],
      [4 * CHUNK, CHUNK],
      [5 * CHUNK, 1234],
    ]);
    expect(commands().slice(5, 8)).toEqual(["upload", "query", "upload"]);
  });

  it("the last chunk stored and finalized, its answer lost: the query's final answer gives the File", async () => {
    const bytes = randomBytes(SIZE);
    const fake = resumableProtocol({ [5 * CHUNK]: "reset after storing" });
    const file = await newClient().files.upload(bytes, { chunkSize: CHUNK });
    expect(file.name).toBe("files/resumed");
    expect(file.sizeBytes).toBe(String(SIZE));
    expect(sha256(fake.stored())).toBe(sha256(bytes));
    expect(commands().slice(-2)).toEqual(["upload, finalize", "query"]);
    expect(fake.uploads()).toHaveLength(6);
  });

  it("the last chunk cut after all its bytes arrived: finalize is sent with no bytes", async () => {
    const bytes = randomBytes(2 * CHUNK + 8192);
    // 8,192 bytes of the last chunk arrive (two whole granules): the server holds everything.
    const fake = resumableProtocol({}, { [2 * CHUNK]: 8192 });
    const file = await newClient().files.upload(bytes, { chunkSize: CHUNK });
    expect(sha256(fake.stored())).toBe(sha256(bytes));
    expect(file.sizeBytes).toBe(String(bytes.byteLength));
    expect(fake.uploads().slice(-2)).toEqual([
      { offset: 2 * CHUNK, length: 8192, command: "upload, finalize", interrupted: true },
      { offset: 2 * CHUNK + 8192, length: 0, command: "upload, finalize", interrupted: false },
    ]);
  });

  it("the server lost bytes before the chunk in memory: a stream fails with UploadResumeError", async () => {
    const bytes = randomBytes(SIZE);
    const fake = resumableProtocol({ [3 * CHUNK]: "500 and lose the bytes after" });
    const error = await newClient()
      .files.upload(streamOf(bytes), { chunkSize: CHUNK })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UploadResumeError);
    const resume = error as UploadResumeError;
    expect(resume.receivedBytes).toBe(2 * CHUNK - 4096);
    expect(resume.bufferedFrom).toBe(3 * CHUNK);
    expect(resume.message).toContain("no longer in memory");
    expect(resume.cause).toBeInstanceOf(InternalServerError);
    // Nothing is sent after the query.
    expect(commands().slice(-2)).toEqual(["upload", "query"]);
    expect(fake.stored().byteLength).toBe(2 * CHUNK - 4096);
  });

  it("the server lost bytes before the chunk in memory: a path or bytes are read again from its offset", async () => {
    const bytes = randomBytes(SIZE);
    const path = join(folder, "input.bin");
    await writeFile(path, bytes);
    for (const source of [path, bytes]) {
      server.requests.length = 0;
      const fake = resumableProtocol({ [3 * CHUNK]: "500 and lose the bytes after" });
      const file = await newClient().files.upload(source, { chunkSize: CHUNK });
      expect(file.sizeBytes).toBe(String(SIZE));
      expect(sha256(fake.stored())).toBe(sha256(bytes));
      const resumedAt = 2 * CHUNK - 4096;
      expect(fake.uploads().map((upload) => [upload.offset, upload.length])).toEqual([
        [0, CHUNK],
        [CHUNK, CHUNK],
        [2 * CHUNK, CHUNK],
        [3 * CHUNK, CHUNK],
        // Chunks again from the server's offset, of the same size.
        [resumedAt, CHUNK],
        [resumedAt + CHUNK, CHUNK],
        [resumedAt + 2 * CHUNK, CHUNK],
        [resumedAt + 3 * CHUNK, SIZE - resumedAt - 3 * CHUNK],
      ]);
      expect(fake.queries()).toBe(1);
    }
  });

  it("bounded by maxRetries: each failed attempt is followed by a query, then the error", async () => {
    const bytes = randomBytes(3 * CHUNK);
    resumableProtocol({ [CHUNK]: "500 every time" });
    const events: RetryEvent[] = [];
    const error = await newClient({ maxRetries: 2, onRetry: (event) => events.push(event) })
      .files.upload(bytes, { chunkSize: CHUNK })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InternalServerError);
    expect(commands()).toEqual(["start", "upload", "upload", "query", "upload", "query", "upload"]);
    expect(events.map((event) => event.attempt)).toEqual([0, 1]);

    // maxRetries 0: the first failure is thrown, no query.
    server.requests.length = 0;
    resumableProtocol({ [CHUNK]: "500 after storing" });
    await expect(
      newClient({ maxRetries: 0 }).files.upload(bytes, { chunkSize: CHUNK }),
    ).rejects.toBeInstanceOf(InternalServerError);
    expect(commands()).toEqual(["start", "upload", "upload"]);
  });

  it("the caller's abort during the wait stops at once: no query, GembedAbortError", async () => {
    const bytes = randomBytes(3 * CHUNK);
    server.enqueue(
      { headers: { "x-goog-upload-url": `${server.url}/s` } },
      { headers: { "x-goog-upload-status": "active" } },
      // The server asks for a 20 s wait.
      {
        status: 503,
        headers: { "retry-after": "20" },
        json: statusBody(503, "UNAVAILABLE", "later"),
      },
    );
    const controller = new AbortController();
    const events: RetryEvent[] = [];
    const client = new GeminiClient({
      apiKey: KEY,
      baseUrl: server.url,
      maxRetries: 3,
      maxRetryDelay: 30_000,
      onRetry: (event) => {
        events.push(event);
        setTimeout(() => controller.abort(new Error("stop")), 50);
      },
    });
    const started = performance.now();
    const error = await client.files
      .upload(bytes, { chunkSize: CHUNK }, { signal: controller.signal })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GembedAbortError);
    expect(((error as Error).cause as Error).message).toBe("stop");
    expect(events.map((event) => event.delayMs)).toEqual([20_000]);
    expect(server.requests).toHaveLength(3);
    // The 20 s wait was not waited out.
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it("a query answer that makes no sense is an InvalidResponseError", async () => {
    const bytes = randomBytes(2 * CHUNK);
    server.enqueue(
      { headers: { "x-goog-upload-url": `${server.url}/s` } },
      { status: 500, json: statusBody(500, "INTERNAL", "x") },
      // The server claims more than was sent.
      {
        headers: {
          "x-goog-upload-status": "active",
          "x-goog-upload-size-received": String(3 * CHUNK),
        },
      },
    );
    await expect(newClient().files.upload(bytes, { chunkSize: CHUNK })).rejects.toThrow(
      /holds 196608 bytes, but only 65536 were sent/,
    );
    server.enqueue(
      { headers: { "x-goog-upload-url": `${server.url}/s` } },
      { status: 500, json: statusBody(500, "INTERNAL", "x") },
      { headers: { "x-goog-upload-status": "active" } },
    );
    await expect(newClient().files.upload(bytes, { chunkSize: CHUNK })).rejects.toBeInstanceOf(
      InvalidResponseError,
    );
    server.enqueue(
      { headers: { "x-goog-upload-url": `${server.url}/s` } },
      { status: 500, json: statusBody(500, "INTERNAL", "x") },
      // Final before the last chunk was sent.
      { headers: { "x-goog-upload-status": "final" }, json: { file: { name: "files/x" } } },
    );
    await expect(newClient().files.upload(bytes, { chunkSize: CHUNK })).rejects.toThrow(
      /final with 65536|final with an unknown/,
    );
  });
});

// ----- the local server behind a proxy that cuts connections -----

interface ProxyFault {
  /** The X-Goog-Upload-Offset of the upload request to hit. */
  offset: number;
  /** `cut body`: forward `after` bytes of the body, then cut; `drop answer`: forward the whole request, cut when the answer comes. */
  mode: "cut body" | "drop answer";
  after?: number;
}

interface FaultProxy {
  url: string;
  /** Every request head seen: command and offset. */
  heads: { command: string; offset: string | undefined; length: number }[];
  fault: ProxyFault | undefined;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of a real server. It reads the HTTP/1.1 request framing (head, then a
 * `content-length` body; the client sends no chunked bodies and does not pipeline) to find the
 * request to hit, and cuts both connections there, as a network failure would.
 */
async function startFaultProxy(target: string): Promise<FaultProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  const state: FaultProxy = {
    url: "",
    heads: [],
    fault: undefined,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
  const proxy: Server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    sockets.add(client);
    sockets.add(upstream);
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.on("error", () => undefined);
    upstream.on("error", () => undefined);
    let head = Buffer.alloc(0);
    let bodyLeft = 0;
    let cutIn: number | undefined;
    let dropAnswer = false;
    let awaitingAnswer = false;
    client.on("data", (data: Buffer) => {
      let rest = data;
      while (rest.byteLength > 0) {
        if (bodyLeft > 0) {
          const take = Math.min(bodyLeft, rest.byteLength);
          if (cutIn !== undefined && take >= cutIn) {
            upstream.write(rest.subarray(0, cutIn), cut);
            return;
          }
          if (cutIn !== undefined) cutIn -= take;
          upstream.write(rest.subarray(0, take));
          bodyLeft -= take;
          rest = rest.subarray(take);
          if (bodyLeft === 0 && dropAnswer) awaitingAnswer = true;
          continue;
        }
        head = Buffer.concat([head, rest]);
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        const text = head.subarray(0, end).toString("latin1");
        rest = head.subarray(end + 4);
        upstream.write(head.subarray(0, end + 4));
        head = Buffer.alloc(0);
        const header = (name: string) =>
          new RegExp(`^${name}:\\s*(.*)$`, "im").exec(text)?.[1]?.trim();
        if (header("transfer-encoding") !== undefined) throw new Error("chunked body not expected");
        bodyLeft = Number(header("content-length") ?? 0);
        const command = header("x-goog-upload-command") ?? "";
        const offset = header("x-goog-upload-offset");
        state.heads.push({ command, offset, length: bodyLeft });
        cutIn = undefined;
        dropAnswer = false;
        const fault = state.fault;
        if (
          fault !== undefined &&
          command.startsWith("upload") &&
          Number(offset) === fault.offset
        ) {
          state.fault = undefined;
          if (fault.mode === "cut body") cutIn = fault.after ?? 0;
          else dropAnswer = true;
          if (bodyLeft === 0 && dropAnswer) awaitingAnswer = true;
        }
      }
    });
    upstream.on("data", (data: Buffer) => {
      if (awaitingAnswer) {
        cut();
        return;
      }
      client.write(data);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const address = proxy.address() as { port: number };
  state.url = `http://127.0.0.1:${address.port}`;
  return state;
}

describe("files.upload resumes against the local server (src/server)", () => {
  it("a chunk whose answer is lost after the server stored it, and a chunk cut mid-body: the local server's query answer drives the resume", async () => {
    const local = await startServer({ apiKeys: [KEY] });
    const proxy = await startFaultProxy(local.url);
    try {
      const client = new GeminiClient({
        apiKey: KEY,
        baseUrl: proxy.url,
        maxRetries: 3,
        maxRetryDelay: 20,
      });
      const bytes = randomBytes(SIZE);
      const path = join(folder, "local.bin");
      await writeFile(path, bytes);

      // A clean round trip first.
      const clean = await client.files.upload(path, { chunkSize: CHUNK });
      expect(clean.sizeBytes).toBe(String(SIZE));
      expect(proxy.heads.map((head) => head.command)).toEqual([
        "start",
        "upload",
        "upload",
        "upload",
        "upload",
        "upload",
        "upload, finalize",
      ]);

      // The answer to the chunk at 2 * CHUNK is lost after the server stored it.
      proxy.heads.length = 0;
      proxy.fault = { offset: 2 * CHUNK, mode: "drop answer" };
      const before = local.stats().filesUploaded;
      const resumed = await client.files.upload(streamOf(bytes), { chunkSize: CHUNK });
      expect(proxy.heads.map((head) => [head.command, head.offset])).toEqual([
        ["start", undefined],
        ["upload", "0"],
        ["upload", String(CHUNK)],
        ["upload", String(2 * CHUNK)],
        ["query", undefined],
        ["upload", String(3 * CHUNK)],
        ["upload", String(4 * CHUNK)],
        ["upload, finalize", String(5 * CHUNK)],
      ]);
      const uploaded = proxy.heads.filter((head) => head.command.startsWith("upload"));
      expect(uploaded.reduce((sum, head) => sum + head.length, 0)).toBe(SIZE);
      expect(local.stats().filesUploaded).toBe(before + 1);

      // A chunk cut in the middle of its body: the local server stores nothing of it.
      proxy.heads.length = 0;
      proxy.fault = { offset: CHUNK, mode: "cut body", after: 30_000 };
      const cut = await client.files.upload(path, { chunkSize: CHUNK });
      expect(proxy.heads.map((head) => [head.command, head.offset])).toEqual([
        ["start", undefined],
        ["upload", "0"],
        ["upload", String(CHUNK)],
        ["query", undefined],
        ["upload", String(CHUNK)],
        ["upload", String(2 * CHUNK)],
        ["upload", String(3 * CHUNK)],
        ["upload", String(4 * CHUNK)],
        ["upload, finalize", String(5 * CHUNK)],
      ]);

      for (const file of [clean, resumed, cut]) {
        const pieces: Buffer[] = [];
        for await (const piece of await client.files.download(file.name)) {
          pieces.push(piece as Buffer);
        }
        expect(sha256(Buffer.concat(pieces))).toBe(sha256(bytes));
        expect(file.sizeBytes).toBe(String(SIZE));
      }
    } finally {
      await proxy.close();
      await local.close();
    }
  });
});
