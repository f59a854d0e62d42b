/**
 * `gembed ingest --batch` streams (packages/ingest/src/batch-ingest.ts): the job's input file is
 * written as the chunks are read, results are written as they are downloaded, and a rerun
 * attaches to the jobs its state file names. Against the local server's real batch jobs
 * (`startServer`), real files, Milvus Lite, and the real CLI as a child process where a signal
 * is the point. The one stand-in: a proxy that holds a results download half-sent (the local
 * server sends a file at once, so a kill "mid-download" cannot be staged otherwise).
 */
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, request, type Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  type DocumentChunk,
  ingestBatch,
  RowParts,
  rowPartsSink,
  type StreamedChunk,
  streamOutputRows,
} from "@gembed/ingest";
import { type RunningServer, startServer } from "@gembed/server";
import { GeminiEmbeddingFunction } from "gembed";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanEnvironment, runCli, spawnCli } from "./cli-run.js";
import { connectTestMilvus, milvusUri, uniqueCollection } from "./support/milvus.js";

let folder: string;
const closers: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  folder = await mkdtemp(path.join(tmpdir(), "gembed-batch-stream-"));
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await rm(folder, { recursive: true, force: true });
});

async function serve(options: Parameters<typeof startServer>[0] = {}): Promise<RunningServer> {
  const server = await startServer(options);
  closers.push(() => server.close());
  return server;
}

function environment(url: string): NodeJS.ProcessEnv {
  return cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: url, GEMINI_API_KEY: "batch-stream-key" });
}

function line(index: number): string {
  return JSON.stringify({
    id: `doc-${index}`,
    text: `document ${index} is about topic ${index % 17}.`,
  });
}

async function lineCount(file: string): Promise<number> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text.split("\n").length - 1;
}

/** Polls `check` every 20 ms, at most `tries` times; true once it held. */
async function eventually(
  check: () => Promise<boolean> | boolean,
  tries = 1_500,
): Promise<boolean> {
  for (let attempt = 0; attempt < tries; attempt++) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

async function outputIds(base: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const row of streamOutputRows(base)) ids.push(row.id);
  return ids;
}

/**
 * A proxy to `target` that passes everything through but a results download, of which it sends
 * the first `bytes` bytes and then holds the rest (the connection stays open).
 */
async function holdingProxy(
  target: string,
  bytes: number,
): Promise<{ url: string; downloads: () => number }> {
  const to = new URL(target);
  let downloads = 0;
  const server: Server = createServer((incoming: IncomingMessage, outgoing) => {
    const forward = request(
      {
        host: to.hostname,
        port: to.port,
        method: incoming.method,
        path: incoming.url,
        headers: { ...incoming.headers, host: to.host },
      },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        if (!incoming.url?.startsWith("/download/")) {
          answer.pipe(outgoing);
          return;
        }
        downloads++;
        let sent = 0;
        answer.on("data", (piece: Buffer) => {
          if (sent >= bytes) return;
          outgoing.write(piece.subarray(0, bytes - sent));
          sent += piece.length;
        });
      },
    );
    incoming.pipe(forward);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const address = server.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}`, downloads: () => downloads };
}

describe("gembed ingest --batch streams", { timeout: 120_000 }, () => {
  it("writes the job's input file while standard input is still being read, then creates one job", async () => {
    const server = await serve();
    const run = spawnCli(
      [
        ...["ingest", "-", "--batch", "--dim", "128", "--batch-size", "50"],
        ...["--poll-interval", "20", "--max-poll-interval", "50", "--no-progress", "--json"],
      ],
      { cwd: folder, env: environment(server.url), openInput: true },
    );
    const input = path.join(folder, "gembed.batch-state.json.job-1.input.jsonl");
    const stdin = run.child.stdin!;
    for (let index = 0; index < 3_000; index++) stdin.write(`${line(index)}\n`);
    // Standard input is still open: a run that read its sources whole would have written nothing.
    const streamed = await eventually(async () => (await lineCount(input)) >= 2_000);
    expect(streamed, "the job's input file did not grow while standard input was open").toBe(true);
    // Nothing submitted while the sources are read: no state, no job, no upload.
    expect(server.stats().batchesCreated).toBe(0);
    expect(server.stats().filesUploaded).toBe(0);
    await expect(stat(path.join(folder, "gembed.batch-state.json"))).rejects.toThrow(/ENOENT/);
    for (let index = 3_000; index < 5_000; index++) stdin.write(`${line(index)}\n`);
    stdin.end();
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      documents: 5_000,
      embedded: 5_000,
      written: 5_000,
    });
    expect(server.stats().batchesCreated).toBe(1);
    expect(server.stats().texts).toBe(5_000);
    expect(new Set(await outputIds(path.join(folder, "gembed.json"))).size).toBe(5_000);
    // The state and the job's files are gone once the job is written.
    expect((await readdir(folder)).filter((name) => name.includes("batch-state"))).toEqual([]);
  });

  it("killed with -9 mid-download: the rerun attaches to the same job, loses no row and pays nothing again", async () => {
    const server = await serve();
    const count = 600;
    await writeFile(
      path.join(folder, "docs.jsonl"),
      `${Array.from({ length: count }, (_, index) => line(index)).join("\n")}\n`,
    );
    const args = [
      ...["ingest", "docs.jsonl", "--batch", "--dim", "128", "--batch-size", "10"],
      ...["--poll-interval", "20", "--max-poll-interval", "50", "--no-progress", "--json"],
    ];
    // About 60 result lines of 128 values get through; the rest of the download is held.
    const proxy = await holdingProxy(server.url, 120_000);
    const killed = spawnCli(args, { cwd: folder, env: environment(proxy.url) });
    const journal = path.join(folder, "gembed.json.partial.jsonl");
    const wrote = await eventually(async () => (await lineCount(journal)) >= 10);
    expect(wrote, "no row was written while the results were downloading").toBe(true);
    expect(proxy.downloads()).toBe(1);
    killed.child.kill("SIGKILL");
    expect((await killed.done).signal).toBe("SIGKILL");
    const writtenBefore = await lineCount(journal);
    expect(writtenBefore).toBeLessThan(count);
    expect(server.stats().batchesCreated).toBe(1);

    const rerun = await runCli(args, { cwd: folder, env: environment(server.url) });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({
      chunks: count,
      embedded: count,
      written: count,
    });
    // The same job, collected again: no new job, no text embedded a second time.
    expect(server.stats().batchesCreated).toBe(1);
    expect(server.stats().texts).toBe(count);
    const ids = await outputIds(path.join(folder, "gembed.json"));
    expect(ids).toHaveLength(count);
    expect(new Set(ids).size).toBe(count);

    // Nothing left to embed: a third run creates no job.
    const third = await runCli(args, { cwd: folder, env: environment(server.url) });
    expect(third.code, third.stderr).toBe(0);
    expect(JSON.parse(third.stdout)).toMatchObject({ unchanged: count, embedded: 0, written: 0 });
    expect(server.stats().batchesCreated).toBe(1);
  });

  it("into Milvus: Ctrl-C detaches, the rerun attaches and writes every row, a rerun that embeds nothing creates no job", async () => {
    const server = await serve({ batch: { delayPerItemMs: 20 } });
    const env = environment(server.url);
    const count = 100;
    await writeFile(
      path.join(folder, "docs.jsonl"),
      `${Array.from({ length: count }, (_, index) => line(index)).join("\n")}\n`,
    );
    const collection = uniqueCollection("batchstream");
    const args = [
      ...["ingest", "docs.jsonl", "--batch", "--milvus", milvusUri(), "--collection", collection],
      ...["--dim", "128", "--poll-interval", "20", "--max-poll-interval", "50", "--no-progress"],
    ];
    const run = spawnCli(args, { cwd: folder, env });
    expect(await eventually(() => (server.stats().byEndpoint["batches.get"] ?? 0) >= 1)).toBe(true);
    run.child.kill("SIGINT");
    const interrupted = await run.done;
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toMatch(
      /Batch job\(s\) batches\/\S+ keep running \(not cancelled\)/,
    );
    expect(interrupted.stderr).toContain(`${collection}.batch-state.json keeps them`);

    const rerun = await runCli([...args, "--json"], { cwd: folder, env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ embedded: count, written: count });
    expect(server.stats().batchesCreated).toBe(1);
    expect(server.stats().texts).toBe(count);
    const client = await connectTestMilvus();
    try {
      const stored = await client.query({
        collection_name: collection,
        filter: 'id like "doc-%"',
        output_fields: ["id"],
        limit: 1_000,
      });
      expect(stored.data).toHaveLength(count);
    } finally {
      await client.closeConnection();
    }

    const third = await runCli([...args, "--json"], { cwd: folder, env });
    expect(third.code, third.stderr).toBe(0);
    expect(JSON.parse(third.stdout)).toMatchObject({ unchanged: count, embedded: 0, written: 0 });
    expect(server.stats().batchesCreated).toBe(1);
    expect(server.stats().texts).toBe(count);
  });
});

describe("ingestBatch", { timeout: 120_000 }, () => {
  it("holds at most one group of chunks: each is in a job file before the next group is read; several jobs", async () => {
    const server = await serve();
    const embedder = new GeminiEmbeddingFunction({
      baseUrl: server.url,
      apiKey: "k",
      config: { outputDimensionality: 128 },
      quota: false,
    });
    await embedder.resolveDim();
    const base = path.join(folder, "rows.json");
    const stateFile = path.join(folder, "run.batch-state.json");
    const parts = await RowParts.open(base, { model: embedder.modelName, dim: 128 });
    const count = 2_000;
    const groupSize = 50;
    const jobRequests = 600;
    // Lines in the job files written so far, checked as the chunks are pulled: the chunks read and
    // not yet in a job file never pass one group (and the file stream's 16 KB buffer).
    let mostHeld = 0;
    const spooled = async () => {
      let lines = 0;
      for (let job = 1; job <= Math.ceil(count / jobRequests); job++)
        lines += await lineCount(`${stateFile}.job-${job}.input.jsonl`);
      return lines;
    };
    async function* chunks(): AsyncGenerator<StreamedChunk> {
      for (let index = 0; index < count; index++) {
        if (index % 100 === 0) mostHeld = Math.max(mostHeld, index - (await spooled()));
        const chunk: DocumentChunk = {
          id: `c-${index}`,
          documentId: `c-${index}`,
          index: 0,
          count: 1,
          text: `chunk ${index} about topic ${index % 11}`,
          metadata: { n: index },
          source: "generated",
        };
        yield { chunk, bytes: chunk.text.length };
      }
    }
    const summary = await ingestBatch(chunks(), {
      embedder,
      sink: rowPartsSink(parts),
      stateFile,
      batchSize: groupSize,
      pollInterval: 20,
      maxPollInterval: 50,
      jobRequests,
    });
    await parts.finish();
    await parts.close();
    expect(summary).toMatchObject({ chunks: count, embedded: count, written: count });
    expect(mostHeld).toBeGreaterThan(0);
    expect(mostHeld).toBeLessThanOrEqual(groupSize + 200);
    // A job per 600 requests, all created before any is waited on.
    expect(server.stats().batchesCreated).toBe(4);
    // The vectors are those of the synchronous path, by key.
    const rows = new Map<string, number[]>();
    for await (const row of streamOutputRows(base)) rows.set(row.id, row.vector);
    expect(rows.size).toBe(count);
    const sample = [0, 599, 600, 1_999];
    const vectors = await embedder.encodeDocuments(
      sample.map((index) => `chunk ${index} about topic ${index % 11}`),
    );
    sample.forEach((index, position) => {
      expect(rows.get(`c-${index}`)).toEqual(Array.from(vectors[position]!));
    });
    await expect(stat(stateFile)).rejects.toThrow(/ENOENT/);
  });
});
