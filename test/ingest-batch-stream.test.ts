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
import {
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
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
import { GeminiClient, GeminiEmbeddingFunction } from "gembed";
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

/**
 * A local server whose batch jobs take `delayPerItemMs` an item, a `docs.jsonl` of `count` rows,
 * and the arguments of `gembed ingest docs.jsonl --batch` into the local rows file with quick polls.
 */
async function batchRun(count: number, delayPerItemMs: number) {
  const server = await serve({ batch: { delayPerItemMs } });
  await writeFile(
    path.join(folder, "docs.jsonl"),
    `${Array.from({ length: count }, (_, index) => line(index)).join("\n")}\n`,
  );
  const args = [
    ...["ingest", "docs.jsonl", "--batch", "--dim", "128"],
    ...["--poll-interval", "20", "--max-poll-interval", "50", "--no-progress", "--json"],
  ];
  return { server, env: environment(server.url), args };
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
 * A proxy to `target` that passes everything through but a results download, which goes to
 * `download` (the server's answer and the client's response, headers already sent).
 */
async function downloadProxy(
  target: string,
  download: (answer: IncomingMessage, outgoing: ServerResponse) => void,
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
        if (!incoming.url?.startsWith("/download/")) {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
          return;
        }
        downloads++;
        download(answer, outgoing);
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

/** Sends the first `bytes` bytes of a download, then holds the rest (the connection stays open). */
function holdAfter(bytes: number) {
  return (answer: IncomingMessage, outgoing: ServerResponse) => {
    outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
    let sent = 0;
    answer.on("data", (piece: Buffer) => {
      if (sent >= bytes) return;
      outgoing.write(piece.subarray(0, bytes - sent));
      sent += piece.length;
    });
  };
}

/** Answers a download with each line passed through `rewrite` (the item failures a real job has). */
function rewriteLines(rewrite: (line: string) => string) {
  return (answer: IncomingMessage, outgoing: ServerResponse) => {
    const pieces: Buffer[] = [];
    answer.on("data", (piece: Buffer) => pieces.push(piece));
    answer.on("end", () => {
      const text = Buffer.concat(pieces)
        .toString("utf8")
        .split("\n")
        .map((line) => (line === "" ? line : rewrite(line)))
        .join("\n");
      const headers = { ...answer.headers };
      delete headers["content-length"];
      outgoing.writeHead(answer.statusCode ?? 502, headers);
      outgoing.end(text);
    });
  };
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
    const proxy = await downloadProxy(server.url, holdAfter(120_000));
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

describe("gembed ingest --batch when a job or an item fails", { timeout: 120_000 }, () => {
  it("items that failed inside the job are embedded through the synchronous path", async () => {
    const server = await serve();
    const count = 50;
    await writeFile(
      path.join(folder, "docs.jsonl"),
      `${Array.from({ length: count }, (_, index) => line(index)).join("\n")}\n`,
    );
    // Items 3 and 7 come back as errors (INTERNAL), as a real job's transient item failures do.
    const failed = new Set(["3", "7"]);
    const proxy = await downloadProxy(
      server.url,
      rewriteLines((text) => {
        const item = JSON.parse(text) as { key: string };
        return failed.has(item.key)
          ? JSON.stringify({
              error: { code: 13, message: "internal", status: "INTERNAL" },
              key: item.key,
            })
          : text;
      }),
    );
    const args = [
      ...["ingest", "docs.jsonl", "--batch", "--dim", "128", "--out", "batch.json"],
      ...["--poll-interval", "20", "--max-poll-interval", "50", "--no-progress", "--json"],
    ];
    const result = await runCli(args, { cwd: folder, env: environment(proxy.url) });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ embedded: count, written: count });
    expect(proxy.downloads()).toBe(1);
    // The job's 50 items, then the two failed ones once more through the synchronous path.
    expect(server.stats().texts).toBe(count + 2);
    expect(server.stats().byEndpoint.batchEmbedContents).toBe(1);
    const sync = await runCli(
      ["ingest", "docs.jsonl", "--dim", "128", "--out", "sync.json", "--json"],
      {
        cwd: folder,
        env: environment(server.url),
      },
    );
    expect(sync.code, sync.stderr).toBe(0);
    const vectors = async (file: string) => {
      const rows = new Map<string, number[]>();
      for await (const row of streamOutputRows(path.join(folder, file)))
        rows.set(row.id, row.vector);
      return rows;
    };
    const [batchRows, syncRows] = [await vectors("batch.json"), await vectors("sync.json")];
    expect(batchRows.size).toBe(count);
    for (const [id, vector] of syncRows) expect(batchRows.get(id)).toEqual(vector);
  });

  it("a job cancelled while running: BatchJobIncompleteError (exit 1), the state cleared; the rerun makes one new job for what is missing", async () => {
    const count = 100;
    const { server, env, args } = await batchRun(count, 30);
    const run = spawnCli(args, { cwd: folder, env });
    expect(await eventually(() => server.stats().texts >= 20)).toBe(true);
    const client = new GeminiClient({ baseUrl: server.url, apiKey: "batch-stream-key" });
    const listed = await client.batches.list();
    const name = listed.operations?.[0]?.name;
    expect(name).toBeDefined();
    await client.batches.cancel(name!);
    const stopped = await run.done;
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain(`BatchJobIncompleteError: Batch job ${name} ended CANCELLED`);
    expect(stopped.stderr).toContain("the next run embeds only the missing chunk(s)");
    const first = (await outputIds(path.join(folder, "gembed.json"))).length;
    // The local server gives a cancelled job no output: nothing of it to write (a real job's
    // partial output would be written, as the other jobs' rows are).
    expect(first).toBeLessThan(count);
    // A job ended for good cannot be attached again: the state is cleared for a new plan.
    await expect(stat(path.join(folder, "gembed.batch-state.json"))).rejects.toThrow(/ENOENT/);
    const paid = server.stats().texts;

    const rerun = await runCli(args, { cwd: folder, env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ unchanged: first, embedded: count - first });
    // One new job, for the missing chunks only.
    expect(server.stats().batchesCreated).toBe(2);
    expect(server.stats().texts - paid).toBe(count - first);
    expect(new Set(await outputIds(path.join(folder, "gembed.json"))).size).toBe(count);
  });
});

describe("gembed ingest --batch resumes only what it can trust", { timeout: 120_000 }, () => {
  it("a job of a killed run that was cancelled since is planned again in the rerun, which then succeeds", async () => {
    const count = 60;
    const { server, env, args } = await batchRun(count, 50);
    const killed = spawnCli(args, { cwd: folder, env });
    expect(await eventually(() => (server.stats().byEndpoint["batches.get"] ?? 0) >= 1)).toBe(true);
    killed.child.kill("SIGKILL");
    await killed.done;
    const state = JSON.parse(
      await readFile(path.join(folder, "gembed.batch-state.json"), "utf8"),
    ) as {
      jobs: { name?: string }[];
    };
    const name = state.jobs[0]?.name;
    expect(name).toMatch(/^batches\//);
    const client = new GeminiClient({ baseUrl: server.url, apiKey: "batch-stream-key" });
    await client.batches.cancel(name!);

    const rerun = await runCli(args, { cwd: folder, env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ embedded: count, written: count });
    expect(server.stats().batchesCreated).toBe(2);
    expect(new Set(await outputIds(path.join(folder, "gembed.json"))).size).toBe(count);
  });

  it("a state file of the old in-memory path, or job files changed since, is a BatchStateFileError (exit 2) before any job", async () => {
    const server = await serve();
    const env = environment(server.url);
    await writeFile(path.join(folder, "docs.jsonl"), `${line(0)}\n${line(1)}\n`);
    const args = ["ingest", "docs.jsonl", "--batch", "--dim", "128", "--no-progress"];
    const stateFile = path.join(folder, "gembed.batch-state.json");
    const old = {
      version: 1,
      fingerprint: "f".repeat(64),
      model: "models/gemini-embedding-001",
      count: 2,
      createdAt: new Date().toISOString(),
      jobs: [{ start: 0, end: 2, mode: "inline", displayName: "gembed-old", name: "batches/old" }],
    };
    await writeFile(stateFile, JSON.stringify(old));
    const refused = await runCli(args, { cwd: folder, env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      "BatchStateFileError: gembed.batch-state.json was written by an earlier gembed whose --batch ingest held its input in memory (job(s) batches/old)",
    );
    // Written by this ingest, but its job's rows file edited since: not trusted either.
    await writeFile(
      stateFile,
      JSON.stringify({
        ...old,
        ingest: { files: [{ input: "0".repeat(64), rows: "0".repeat(64) }] },
      }),
    );
    await writeFile(`${stateFile}.job-1.input.jsonl`, "{}\n");
    await writeFile(`${stateFile}.job-1.rows.jsonl`, "{}\n");
    const changed = await runCli(args, { cwd: folder, env });
    expect(changed.code).toBe(2);
    expect(changed.stderr).toContain("is missing or not the file its batch job was created from");
    expect(server.stats().batchesCreated).toBe(0);
    expect(server.stats().requests).toBe(0);
  });
});

describe("gembed ingest --batch decides each chunk as the synchronous stream does", {
  timeout: 120_000,
}, () => {
  it("a metadata edit is written with the stored vector, no job; an edited text alone goes to a job", async () => {
    const server = await serve();
    const env = environment(server.url);
    const rows = (tag: string, text3: string) =>
      `${Array.from({ length: 5 }, (_, index) =>
        JSON.stringify({
          id: `r${index}`,
          text: index === 3 ? text3 : `row ${index} text`,
          metadata: { tag: index === 1 ? tag : "same" },
        }),
      ).join("\n")}\n`;
    const args = [
      ...["ingest", "rows.jsonl", "--batch", "--dim", "128"],
      ...["--poll-interval", "20", "--max-poll-interval", "50", "--no-progress", "--json"],
    ];
    await writeFile(path.join(folder, "rows.jsonl"), rows("a", "row 3 text"));
    const first = await runCli(args, { cwd: folder, env });
    expect(first.code, first.stderr).toBe(0);
    expect(server.stats().batchesCreated).toBe(1);

    await writeFile(path.join(folder, "rows.jsonl"), rows("b", "row 3 text"));
    const metadata = await runCli(args, { cwd: folder, env });
    expect(metadata.code, metadata.stderr).toBe(0);
    expect(JSON.parse(metadata.stdout)).toMatchObject({
      unchanged: 4,
      updated: 1,
      embedded: 0,
      written: 1,
    });
    expect(server.stats().batchesCreated).toBe(1);
    expect(server.stats().texts).toBe(5);

    await writeFile(path.join(folder, "rows.jsonl"), rows("b", "row 3 rewritten"));
    const text = await runCli(args, { cwd: folder, env });
    expect(text.code, text.stderr).toBe(0);
    expect(JSON.parse(text.stdout)).toMatchObject({ unchanged: 4, embedded: 1, written: 1 });
    expect(server.stats().batchesCreated).toBe(2);
    expect(server.stats().texts).toBe(6);
    const stored = new Map<string, { text: string; metadata: unknown }>();
    for await (const row of streamOutputRows(path.join(folder, "gembed.json")))
      stored.set(row.id, { text: row.text, metadata: row.metadata });
    expect(stored.get("r1")?.metadata).toMatchObject({ tag: "b" });
    expect(stored.get("r3")?.text).toBe("row 3 rewritten");
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
