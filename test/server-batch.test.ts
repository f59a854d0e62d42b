import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type RunningServer, type ServerOptions, startServer } from "@gembed/server";
import { getModelInfo } from "gembed";
import { afterEach, describe, expect, it } from "vitest";
import { FileStore } from "../packages/server/src/files.js";
import { JobManager } from "../packages/server/src/jobs.js";
import { localEmbedding } from "../packages/server/src/local-model.js";
import { resolveOptions } from "../packages/server/src/options.js";
import { prepareDataFolder } from "../packages/server/src/storage.js";

const servers: RunningServer[] = [];
const folders: string[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  await Promise.all(servers.splice(0).map((server) => server.close()));
  await Promise.all(
    folders.splice(0).map((folder) => rm(folder, { recursive: true, force: true })),
  );
});

async function start(options?: ServerOptions): Promise<RunningServer> {
  const server = await startServer(options);
  servers.push(server);
  return server;
}

async function folder(): Promise<string> {
  const made = await mkdtemp(path.join(tmpdir(), "gembed-test-"));
  folders.push(made);
  return made;
}

// biome-ignore lint/suspicious/noExplicitAny: tests read parsed JSON answers freely
type Json = any;

async function call(
  server: { url: string },
  method: string,
  route: string,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${server.url}${route}`, {
    method,
    headers: { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text.length > 0 ? JSON.parse(text) : undefined };
}

const MODEL = "gemini-embedding-001";
const CREATE = `/v1beta/models/${MODEL}:asyncBatchEmbedContent`;

function inline(texts: string[], extra: Record<string, unknown> = {}) {
  return {
    batch: {
      displayName: "test-job",
      ...extra,
      inputConfig: {
        requests: {
          requests: texts.map((text, index) => ({
            request: {
              model: `models/${MODEL}`,
              content: { parts: [{ text }] },
              outputDimensionality: 128,
            },
            metadata: { key: `item-${index}` },
          })),
        },
      },
    },
  };
}

async function waitFor(
  server: { url: string },
  name: string,
  done: (operation: Json) => boolean,
  timeoutMs = 20_000,
): Promise<Json> {
  const started = Date.now();
  for (;;) {
    const answer = await call(server, "GET", `/v1beta/${name}`);
    expect(answer.status).toBe(200);
    if (done(answer.body)) return answer.body;
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out: ${JSON.stringify(answer.body.metadata)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function upload(server: { url: string }, bytes: Buffer, chunkSize: number): Promise<Json> {
  const started = await fetch(`${server.url}/upload/v1beta/files`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-goog-upload-protocol": "resumable",
      "x-goog-upload-command": "start",
      "x-goog-upload-header-content-length": String(bytes.length),
      "x-goog-upload-header-content-type": "application/jsonl",
    },
    body: JSON.stringify({ file: { displayName: "input" } }),
  });
  expect(started.status).toBe(200);
  const uploadUrl = started.headers.get("x-goog-upload-url");
  expect(uploadUrl).toMatch(/\/upload\/v1beta\/files\?upload_id=/);
  let answer: Response | undefined;
  for (let offset = 0; offset < bytes.length; offset += chunkSize) {
    const last = offset + chunkSize >= bytes.length;
    answer = await fetch(uploadUrl!, {
      method: "POST",
      headers: {
        "x-goog-upload-command": last ? "upload, finalize" : "upload",
        "x-goog-upload-offset": String(offset),
        "content-type": "application/octet-stream",
      },
      body: bytes.subarray(offset, offset + chunkSize),
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("x-goog-upload-status")).toBe(last ? "final" : "active");
  }
  return ((await answer!.json()) as Json).file;
}

describe("batch jobs with inline requests", () => {
  it("moves from PENDING to SUCCEEDED, answers in input order with metadata, fails only the bad item", async () => {
    const server = await start({ batch: { delayPerItemMs: 5 } });
    const texts = ["alpha text", "beta text", "   ", "gamma text", "delta text"];
    const created = await call(server, "POST", CREATE, inline(texts, { priority: "3" }));
    expect(created.status).toBe(200);
    const operation = created.body;
    expect(operation.name).toMatch(/^batches\/[a-z0-9]+$/);
    expect(operation.metadata).toMatchObject({
      "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.EmbedContentBatch",
      model: `models/${MODEL}`,
      displayName: "test-job",
      state: "BATCH_STATE_PENDING",
      priority: "3",
      batchStats: { requestCount: "5", pendingRequestCount: "5" },
    });
    expect(operation.metadata.createTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(operation.done).toBeUndefined();
    const finished = await waitFor(server, operation.name, (body) => body.done === true);
    expect(finished.metadata.state).toBe("BATCH_STATE_SUCCEEDED");
    expect(finished.metadata.batchStats).toEqual({
      requestCount: "5",
      successfulRequestCount: "4",
      failedRequestCount: "1",
    });
    expect(finished.metadata.endTime).toBeDefined();
    const responses = finished.metadata.output.inlinedResponses.inlinedResponses;
    expect(finished.response["@type"]).toBe(
      "type.googleapis.com/google.ai.generativelanguage.v1beta.EmbedContentBatchOutput",
    );
    expect(finished.response.inlinedResponses.inlinedResponses).toEqual(responses);
    expect(responses.map((item: Json) => item.metadata.key)).toEqual(
      texts.map((_, index) => `item-${index}`),
    );
    expect(responses[2].error).toMatchObject({ code: 400, status: "INVALID_ARGUMENT" });
    expect(responses[2].error.message).toContain("contains an empty Part");
    expect(Array.from(Float32Array.from(responses[3].response.embedding.values))).toEqual(
      Array.from(localEmbedding("gamma text", { model: MODEL, outputDimensionality: 128 })),
    );
    expect(responses[0].response.tokenCount).toBe("3");
  });

  it("shows RUNNING with progress while it works", async () => {
    const server = await start({ batch: { delayPerItemMs: 20 } });
    const texts = Array.from({ length: 40 }, (_, index) => `text number ${index}`);
    const created = await call(server, "POST", CREATE, inline(texts));
    const running = await waitFor(
      server,
      created.body.name,
      (body) =>
        body.metadata.state === "BATCH_STATE_RUNNING" &&
        body.metadata.batchStats.successfulRequestCount !== undefined,
    );
    expect(Number(running.metadata.batchStats.pendingRequestCount)).toBeGreaterThan(0);
    expect(running.done).toBeUndefined();
  });

  it("cancels, deletes, lists with pages and updates", async () => {
    const server = await start({ batch: { delayPerItemMs: 50 } });
    const names: string[] = [];
    for (let index = 0; index < 3; index++) {
      names.push((await call(server, "POST", CREATE, inline(["a", "b", "c", "d"]))).body.name);
    }
    const cancelled = await call(server, "POST", `/v1beta/${names[0]}:cancel`);
    expect(cancelled).toEqual({ status: 200, body: {} });
    const afterCancel = (await call(server, "GET", `/v1beta/${names[0]}`)).body;
    expect(afterCancel.done).toBe(true);
    expect(afterCancel.metadata.state).toBe("BATCH_STATE_CANCELLED");
    expect(afterCancel.error.code).toBe(1);

    const updated = await call(
      server,
      "PATCH",
      `/v1beta/${names[2]}:updateEmbedContentBatch?updateMask=displayName,priority`,
      { displayName: "renamed", priority: "9" },
    );
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ name: names[2], displayName: "renamed", priority: "9" });

    const first = await call(server, "GET", "/v1beta/batches?pageSize=2");
    expect(first.body.operations).toHaveLength(2);
    expect(first.body.operations[0].name).toBe(names[2]);
    const second = await call(
      server,
      "GET",
      `/v1beta/batches?pageSize=2&pageToken=${first.body.nextPageToken}`,
    );
    expect(second.body.operations.map((operation: Json) => operation.name)).toEqual([names[0]]);
    expect(second.body.nextPageToken).toBeUndefined();

    expect(await call(server, "DELETE", `/v1beta/${names[1]}`)).toEqual({ status: 200, body: {} });
    const gone = await call(server, "GET", `/v1beta/${names[1]}`);
    expect(gone.status).toBe(404);
    expect(gone.body.error.status).toBe("NOT_FOUND");
  });

  it("runs jobs by priority, then oldest first", async () => {
    const server = await start({ batch: { delayPerItemMs: 15, concurrency: 1 } });
    const create = async (priority: number, texts = ["x", "y", "z"]) =>
      (await call(server, "POST", CREATE, inline(texts, { priority: String(priority) }))).body
        .name as string;
    // Long enough (about 1.5 s) for the four jobs below to be created while it runs.
    const blocker = await create(
      0,
      Array.from({ length: 100 }, (_, index) => `blocker ${index}`),
    );
    await waitFor(server, blocker, (body) => body.metadata.state === "BATCH_STATE_RUNNING");
    const low = await create(0);
    const negative = await create(-2);
    const high = await create(5);
    const lowTwin = await create(0);
    const ends: [string, number][] = [];
    for (const name of [blocker, low, negative, high, lowTwin]) {
      const done = await waitFor(server, name, (body) => body.done === true);
      ends.push([name, Date.parse(done.metadata.endTime)]);
    }
    const order = [...ends].sort((left, right) => left[1] - right[1]).map(([name]) => name);
    expect(order).toEqual([blocker, high, low, lowTwin, negative]);
    // The four were all created before the blocker ended (else the order proves nothing).
    for (const name of [low, negative, high, lowTwin]) {
      const job = (await call(server, "GET", `/v1beta/${name}`)).body;
      expect(Date.parse(job.metadata.createTime)).toBeLessThan(ends[0]![1]);
    }
  });

  it("refuses bad job bodies", async () => {
    const server = await start();
    const missing = await call(server, "POST", CREATE, { batch: { displayName: "x" } });
    expect(missing.status).toBe(400);
    const wrongModel = await call(
      server,
      "POST",
      CREATE,
      inline(["a"], { model: "models/gemini-embedding-2" }),
    );
    expect(wrongModel.status).toBe(400);
    const noFile = await call(server, "POST", CREATE, {
      batch: { inputConfig: { fileName: "files/nothere" } },
    });
    expect(noFile.status).toBe(404);
    const retired = await call(
      server,
      "POST",
      "/v1beta/models/embedding-001:asyncBatchEmbedContent",
      inline(["a"]),
    );
    expect(retired.status).toBe(404);
  });
});

describe("files and file-input jobs", () => {
  it("uploads in chunks, runs a file job, and serves the GENERATED responses file on both download paths", async () => {
    const server = await start();
    const lines = Array.from({ length: 30 }, (_, index) =>
      JSON.stringify({
        key: `request_${index}`,
        request:
          index === 7
            ? { content: { parts: [{ text: "" }] } }
            : { output_dimensionality: 128, content: { parts: [{ text: `line ${index}` }] } },
      }),
    );
    const bytes = Buffer.from(`${lines.join("\n")}\n`);
    const file = await upload(server, bytes, 700);
    expect(file).toMatchObject({
      mimeType: "application/jsonl",
      sizeBytes: String(bytes.length),
      state: "ACTIVE",
      source: "UPLOADED",
      displayName: "input",
    });
    expect(file.name).toMatch(/^files\/[a-z0-9]+$/);
    const listed = await call(server, "GET", "/v1beta/files");
    expect(listed.body.files.map((one: Json) => one.name)).toContain(file.name);
    const created = await call(server, "POST", CREATE, {
      batch: { displayName: "file-job", inputConfig: { file_name: file.name } },
    });
    expect(created.status).toBe(200);
    const done = await waitFor(server, created.body.name, (body) => body.done === true);
    expect(done.metadata.state).toBe("BATCH_STATE_SUCCEEDED");
    expect(done.metadata.batchStats).toMatchObject({
      requestCount: "30",
      successfulRequestCount: "29",
      failedRequestCount: "1",
    });
    const responsesFile = done.metadata.output.responsesFile;
    expect(responsesFile).toMatch(/^files\/batch-/);
    const meta = await call(server, "GET", `/v1beta/${responsesFile}`);
    expect(meta.body.source).toBe("GENERATED");
    expect(meta.body.downloadUri).toContain(`/download/v1beta/${responsesFile}:download?alt=media`);
    const first = await (
      await fetch(`${server.url}/v1beta/${responsesFile}:download?alt=media`)
    ).text();
    const second = await (
      await fetch(`${server.url}/download/v1beta/${responsesFile}:download?alt=media`)
    ).text();
    expect(second).toBe(first);
    const output = first
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(output.map((line: Json) => line.key)).toEqual(
      lines.map((_, index) => `request_${index}`),
    );
    expect(output[7].error.message).toContain("contains an empty Part");
    expect(output[3].response.tokenCount).toBe("2");
    expect(Array.from(Float32Array.from(output[3].response.embedding.values))).toEqual(
      Array.from(localEmbedding("line 3", { model: MODEL, outputDimensionality: 128 })),
    );
    expect(await call(server, "DELETE", `/v1beta/${file.name}`)).toEqual({ status: 200, body: {} });
    expect((await call(server, "GET", `/v1beta/${file.name}`)).status).toBe(404);
  });

  it("writes a large responses file line by line and streams its download byte-identical to the disk", async () => {
    const dataDir = await folder();
    const server = await start({ dataDir });
    const count = 3000;
    // Blank lines (and a CRLF ending) in the input are not items.
    const input = Array.from({ length: count }, (_, index) =>
      JSON.stringify({
        key: `k${index}`,
        request: { output_dimensionality: 3072, content: { parts: [{ text: `big ${index}` }] } },
      }),
    ).join("\n\n");
    const file = await upload(server, Buffer.from(`\r\n${input}\r\n\n`), 8 << 20);
    const created = await call(server, "POST", CREATE, {
      batch: { inputConfig: { file_name: file.name } },
    });
    expect(created.status).toBe(200);
    const done = await waitFor(server, created.body.name, (body) => body.done === true, 60_000);
    expect(done.metadata.state).toBe("BATCH_STATE_SUCCEEDED");
    expect(done.metadata.batchStats).toEqual({
      requestCount: String(count),
      successfulRequestCount: String(count),
    });
    const responsesFile: string = done.metadata.output.responsesFile;
    const meta = (await call(server, "GET", `/v1beta/${responsesFile}`)).body;
    const onDisk = path.join(dataDir, "files", `${responsesFile.slice("files/".length)}.data`);
    const { createHash } = await import("node:crypto");
    const { createReadStream } = await import("node:fs");
    const diskHash = createHash("sha256");
    let diskSize = 0;
    let rest = "";
    let index = 0;
    for await (const chunk of createReadStream(onDisk, { encoding: "utf8" })) {
      diskHash.update(chunk as string);
      diskSize += Buffer.byteLength(chunk as string);
      const parts = (rest + (chunk as string)).split("\n");
      rest = parts.pop()!;
      for (const line of parts) {
        const parsed = JSON.parse(line);
        expect(parsed.key).toBe(`k${index}`);
        expect(parsed.response.embedding.values).toHaveLength(3072);
        if (index === 1234) {
          expect(Array.from(Float32Array.from(parsed.response.embedding.values))).toEqual(
            Array.from(localEmbedding("big 1234", { model: MODEL })),
          );
        }
        index++;
      }
    }
    expect(rest).toBe("");
    expect(index).toBe(count);
    expect(meta.sizeBytes).toBe(String(diskSize));
    const diskDigest = diskHash.digest("hex");
    expect(meta.sha256Hash).toBe(Buffer.from(diskDigest).toString("base64"));

    const download = await fetch(
      `${server.url}/download/v1beta/${responsesFile}:download?alt=media`,
    );
    expect(download.status).toBe(200);
    expect(download.headers.get("content-length")).toBe(String(diskSize));
    const downloadHash = createHash("sha256");
    let downloaded = 0;
    for await (const chunk of download.body! as AsyncIterable<Uint8Array>) {
      downloadHash.update(chunk);
      downloaded += chunk.length;
    }
    expect(downloaded).toBe(diskSize);
    expect(Buffer.from(downloadHash.digest("hex")).toString("base64")).toBe(meta.sha256Hash);
  });

  it("refuses a chunk at the wrong offset", async () => {
    const server = await start();
    const started = await fetch(`${server.url}/upload/v1beta/files`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-goog-upload-protocol": "resumable",
        "x-goog-upload-command": "start",
      },
      body: "{}",
    });
    const answer = await fetch(started.headers.get("x-goog-upload-url")!, {
      method: "POST",
      headers: { "x-goog-upload-command": "upload", "x-goog-upload-offset": "10" },
      body: "abc",
    });
    expect(answer.status).toBe(400);
  });
});

describe("inline output", () => {
  it("keeps $& and $' in metadata as they are (no replacement patterns)", async () => {
    const server = await start();
    const body = inline(["one", "two"]);
    const keys = ["cost $& more", "tail $' and $` and $$"];
    body.batch.inputConfig.requests.requests.forEach((item, index) => {
      item.metadata.key = keys[index]!;
    });
    const created = await call(server, "POST", CREATE, body);
    const done = await waitFor(server, created.body.name, (operation) => operation.done === true);
    const responses = done.metadata.output.inlinedResponses.inlinedResponses;
    expect(responses.map((item: Json) => item.metadata.key)).toEqual(keys);
    expect(done.response.inlinedResponses.inlinedResponses).toEqual(responses);
  });

  it("refuses an inline job whose output would pass maxInlineOutputBytes, before any work", async () => {
    const server = await start({ batch: { maxInlineOutputBytes: 50_000 } });
    // 20 items of 128 values: about 20 x (100 + 13 x 128 + the item) = 37 KB, under the limit.
    const small = await call(server, "POST", CREATE, inline(Array(20).fill("text")));
    expect(small.status).toBe(200);
    // One item at the default 3,072 values is already about 40 KB; two pass 50 KB.
    const large = await call(server, "POST", CREATE, {
      batch: {
        displayName: "large",
        inputConfig: {
          requests: {
            requests: [0, 1].map((index) => ({
              request: { content: { parts: [{ text: `t${index}` }] } },
            })),
          },
        },
      },
    });
    expect(large.status).toBe(400);
    expect(large.body.error.status).toBe("INVALID_ARGUMENT");
    expect(large.body.error.message).toMatch(/over the 50000-byte limit of inline output/);
    const listed = await call(server, "GET", "/v1beta/batches");
    expect(listed.body.operations).toHaveLength(1);
    await expect(startServer({ batch: { maxInlineOutputBytes: 300_000_000 } })).rejects.toThrow(
      RangeError,
    );
  });

  it("ends a list page early when its inline outputs pass the limit, the rest on the next page", async () => {
    const server = await start({ batch: { maxInlineOutputBytes: 4096 } });
    const names: string[] = [];
    for (let index = 0; index < 3; index++) {
      const created = await call(server, "POST", CREATE, inline([`job ${index}`]));
      expect(created.status).toBe(200);
      names.push(created.body.name);
      await waitFor(server, created.body.name, (operation) => operation.done === true);
    }
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const query = token === undefined ? "" : `&pageToken=${token}`;
      const page = await call(server, "GET", `/v1beta/batches?pageSize=10${query}`);
      expect(page.status).toBe(200);
      for (const operation of page.body.operations) {
        expect(operation.metadata.output.inlinedResponses.inlinedResponses).toHaveLength(1);
        seen.push(operation.name);
      }
      token = page.body.nextPageToken;
      pages++;
    } while (token !== undefined && pages < 10);
    expect(pages).toBeGreaterThan(1);
    expect([...seen].sort()).toEqual([...names].sort());
  });
});

describe("upload limits", () => {
  async function startUpload(server: { url: string }, declared?: number): Promise<string> {
    const started = await fetch(`${server.url}/upload/v1beta/files`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-goog-upload-protocol": "resumable",
        "x-goog-upload-command": "start",
        ...(declared === undefined
          ? {}
          : { "x-goog-upload-header-content-length": String(declared) }),
      },
      body: "{}",
    });
    expect(started.status).toBe(200);
    return started.headers.get("x-goog-upload-url")!;
  }

  it("refuses a chunk that would pass the declared size, keeping what was received", async () => {
    const server = await start();
    const url = await startUpload(server, 5);
    const chunk = (command: string, offset: number, body: string) =>
      fetch(url, {
        method: "POST",
        headers: { "x-goog-upload-command": command, "x-goog-upload-offset": String(offset) },
        body,
      });
    expect((await chunk("upload", 0, "abc")).status).toBe(200);
    const over = await chunk("upload", 3, "defgh");
    expect(over.status).toBe(400);
    expect(((await over.json()) as Json).error.message).toMatch(/said 5/);
    const final = await chunk("upload, finalize", 3, "de");
    expect(final.status).toBe(200);
    expect(((await final.json()) as Json).file.sizeBytes).toBe("5");
  });

  it("forgets upload sessions left unfinished past the file lifetime", async () => {
    const dataDir = await folder();
    const server = await start({ dataDir, batch: { fileLifetimeMs: 300 } });
    const url = await startUpload(server);
    const { readdir } = await import("node:fs/promises");
    expect((await readdir(path.join(dataDir, "uploads"))).length).toBeGreaterThan(0);
    const started = Date.now();
    while ((await readdir(path.join(dataDir, "uploads"))).length > 0) {
      expect(Date.now() - started).toBeLessThan(5000);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const late = await fetch(url, {
      method: "POST",
      headers: { "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0" },
      body: "abc",
    });
    expect(late.status).toBe(404);
  });
});

describe("lifetimes", () => {
  it("expires jobs and files past their lifetime", async () => {
    const server = await start({
      batch: { delayPerItemMs: 100, jobLifetimeMs: 400, fileLifetimeMs: 400 },
    });
    const file = await upload(
      server,
      Buffer.from('{"key":"a","request":{"content":{"parts":[{"text":"a"}]}}}\n'),
      1000,
    );
    const created = await call(
      server,
      "POST",
      CREATE,
      inline(Array.from({ length: 30 }, (_, index) => `t${index}`)),
    );
    const expired = await waitFor(server, created.body.name, (body) => body.done === true, 5000);
    expect(expired.metadata.state).toBe("BATCH_STATE_EXPIRED");
    expect(expired.metadata.output).toBeUndefined();
    const started = Date.now();
    while ((await call(server, "GET", `/v1beta/${file.name}`)).status === 200) {
      expect(Date.now() - started).toBeLessThan(5000);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect((await call(server, "GET", `/v1beta/${file.name}`)).body.error.status).toBe("NOT_FOUND");
  });
});

describe("cancel and the end of a job", () => {
  it("a cancel that comes while a finished job writes its output leaves it SUCCEEDED, with its output", async () => {
    const dataDir = await folder();
    const folders = await prepareDataFolder(dataDir);
    let cancelled: Promise<void> | undefined;
    let jobs: JobManager | undefined;
    let jobName = "";
    // A real FileStore that, when the responses file is registered (the last step of a job,
    // after every item is answered), receives a cancel of that job first.
    class CancellingFileStore extends FileStore {
      override async register(...args: Parameters<FileStore["register"]>) {
        if (args[1].source === "GENERATED") cancelled ??= jobs!.cancel(jobName);
        return super.register(...args);
      }
    }
    const files = new CancellingFileStore(folders, 60_000);
    await writeFile(
      files.dataPath("input"),
      `${JSON.stringify({ key: "a", request: { content: { parts: [{ text: "a" }] } } })}\n`,
    );
    await files.register("input", { mimeType: "application/jsonl", source: "UPLOADED" });
    const { batch } = resolveOptions({});
    jobs = new JobManager(folders, files, batch, { onItems: () => {}, onCreated: () => {} });
    const record = await jobs.create(getModelInfo(MODEL)!, {
      batch: { inputConfig: { fileName: "files/input" } },
    });
    jobName = record.id;
    const started = Date.now();
    while (cancelled === undefined) {
      expect(Date.now() - started).toBeLessThan(10_000);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await cancelled;
    const operation = await jobs.operation(jobs.get(jobName));
    expect(operation.metadata?.state).toBe("BATCH_STATE_SUCCEEDED");
    expect(operation.error).toBeUndefined();
    expect(operation.metadata?.output?.responsesFile).toBe(`files/batch-${jobName}`);
    await jobs.close();
  });
});

describe("persistence", () => {
  it("removes what a crash left behind: parts of finished jobs and temporary files", async () => {
    const dataDir = await folder();
    const first = await startServer({ dataDir });
    const created = await call(first, "POST", CREATE, inline(["one"]));
    await waitFor(first, created.body.name, (body) => body.done === true);
    await first.close();
    const id = created.body.name.slice("batches/".length);
    const leftovers = [
      path.join(dataDir, "batches", `${id}.part-0-1.jsonl`),
      path.join(dataDir, "batches", `${id}.json.123.4.tmp`),
      path.join(dataDir, "files", "abc.data.123.5.tmp"),
    ];
    for (const file of leftovers) await writeFile(file, "x\n");
    const second = await start({ dataDir });
    for (const file of leftovers) await expect(readFile(file)).rejects.toThrow(/ENOENT/);
    const job = (await call(second, "GET", `/v1beta/${created.body.name}`)).body;
    expect(job.metadata.state).toBe("BATCH_STATE_SUCCEEDED");
    expect(job.metadata.output.inlinedResponses.inlinedResponses).toHaveLength(1);
  });

  it("finishes a job after kill -9 and a restart, every item answered exactly once", async () => {
    const dataDir = await folder();
    const serverModule = fileURLToPath(new URL("../packages/server/src/index.ts", import.meta.url));
    const script = path.join(dataDir, "child.mts");
    await writeFile(
      script,
      `import { startServer } from ${JSON.stringify(serverModule)};
const server = await startServer({ dataDir: ${JSON.stringify(dataDir)}, batch: { delayPerItemMs: 8 } });
process.stdout.write(server.url + "\\n");
setInterval(() => {}, 1000);
`,
    );
    const child = spawn(
      process.execPath,
      ["--conditions=@gembed/source", "--import", "tsx", script],
      {
        cwd: fileURLToPath(new URL("..", import.meta.url)),
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    children.push(child);
    const url = await new Promise<string>((resolve, reject) => {
      let seen = "";
      child.stdout!.on("data", (chunk: Buffer) => {
        seen += chunk.toString();
        const line = seen.split("\n")[0];
        if (seen.includes("\n") && line) resolve(line.trim());
      });
      child.on("exit", () => reject(new Error("child exited")));
    });
    const count = 300;
    const texts = Array.from({ length: count }, (_, index) => `persistent text ${index}`);
    const created = await call({ url }, "POST", CREATE, inline(texts));
    expect(created.status).toBe(200);
    const name: string = created.body.name;
    await waitFor(
      { url },
      name,
      (body) => Number(body.metadata.batchStats.successfulRequestCount ?? 0) >= 40,
    );
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    const record = JSON.parse(
      await readFile(path.join(dataDir, "batches", `${name.slice(8)}.json`), "utf8"),
    );
    expect(record.progress).toBeGreaterThan(0);
    expect(record.progress).toBeLessThan(count);

    const restarted = await start({ dataDir });
    const done = await waitFor(restarted, name, (body) => body.done === true);
    expect(done.metadata.state).toBe("BATCH_STATE_SUCCEEDED");
    expect(done.metadata.batchStats).toEqual({
      requestCount: String(count),
      successfulRequestCount: String(count),
    });
    const responses = done.metadata.output.inlinedResponses.inlinedResponses;
    expect(responses.map((item: Json) => item.metadata.key)).toEqual(
      texts.map((_, index) => `item-${index}`),
    );
    for (const index of [0, 150, 299]) {
      expect(Array.from(Float32Array.from(responses[index].response.embedding.values))).toEqual(
        Array.from(localEmbedding(texts[index]!, { model: MODEL, outputDimensionality: 128 })),
      );
    }
  });

  it("keeps files and finished jobs across a graceful restart", async () => {
    const dataDir = await folder();
    const first = await startServer({ dataDir });
    const file = await upload(first, Buffer.from("hello\n"), 100);
    const created = await call(first, "POST", CREATE, inline(["one", "two"]));
    await waitFor(first, created.body.name, (body) => body.done === true);
    await first.close();
    const second = await start({ dataDir });
    expect((await call(second, "GET", `/v1beta/${file.name}`)).body.sizeBytes).toBe("6");
    const job = (await call(second, "GET", `/v1beta/${created.body.name}`)).body;
    expect(job.metadata.state).toBe("BATCH_STATE_SUCCEEDED");
    expect(job.metadata.output.inlinedResponses.inlinedResponses).toHaveLength(2);
  });
});
