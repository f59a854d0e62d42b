/**
 * `gembed ingest --milvus` against the run's Milvus (Milvus Lite, or MILVUS_URI) through the
 * recording proxy: what it asks Milvus for (by primary key only: any other filter is a scan of
 * the whole collection, row by row in Milvus Lite), and its exit code when the collection does not
 * fit the run.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type RunningServer, startServer } from "@gembed/server";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cleanEnvironment, runCli } from "./cli-run.js";
import { type MilvusFaultProxy, startMilvusFaultProxy } from "./milvus-fault-proxy.js";
import { milvusUri, uniqueCollection } from "./support/milvus.js";

let server: RunningServer;
let milvus: MilvusFaultProxy;
let folder: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  server = await startServer();
  milvus = await startMilvusFaultProxy(milvusUri());
});
afterAll(async () => {
  await milvus?.close();
  await server?.close();
});
beforeEach(async (context) => {
  folder = await mkdtemp(path.join(tmpdir(), "gembed-milvus-cli-"));
  env = cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url, GEMINI_API_KEY: "cli-test-key" });
  context.onTestFinished(() => rm(folder, { recursive: true, force: true }));
});

/** 30 Markdown files, one in three long enough for several 64-token chunks. */
async function writeCorpus(): Promise<void> {
  await mkdir(path.join(folder, "docs"));
  for (let index = 0; index < 30; index++) {
    const words = index % 3 === 0 ? 400 : 20;
    const text = Array.from({ length: words }, (_, word) => `w${index}x${word}`).join(" ");
    await writeFile(path.join(folder, "docs", `doc-${index}.md`), `# Doc ${index}\n\n${text}\n`);
  }
}

/** What the proxy saw from `from` on: the filters of the queries, and the writes. */
function requestsSince(from: number) {
  const requests = milvus.requests.slice(from);
  return {
    queryFilters: requests
      .filter((request) => request.method === "Query")
      .map((request) => String(request.request.expr)),
    writes: requests.filter((request) => ["Insert", "Upsert", "Delete"].includes(request.method))
      .length,
  };
}

describe("gembed ingest --milvus asks Milvus by primary key only", () => {
  it("--batch (streamed, as every run): an unchanged rerun looks up by id, embeds and writes nothing, creates no job", async () => {
    await writeCorpus();
    const args = [
      "ingest",
      "docs",
      "--batch",
      "--poll-interval",
      "20",
      "--max-poll-interval",
      "200",
      "--milvus",
      milvus.address,
      "--collection",
      uniqueCollection("batchrerun"),
      "--dim",
      "128",
      "--chunk-tokens",
      "64",
      "--json",
      "--no-progress",
    ];
    const first = await runCli(args, { cwd: folder, env });
    expect(first.code).toBe(0);
    const written = JSON.parse(first.stdout) as { chunks: number; written: number };
    expect(written.chunks).toBeGreaterThan(30);
    expect(written.written).toBe(written.chunks);

    const texts = server.stats().texts;
    const jobs = server.stats().batchesCreated;
    const from = milvus.requests.length;
    const second = await runCli(args, { cwd: folder, env });
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({
      unchanged: written.chunks,
      embedded: 0,
      written: 0,
    });
    expect(server.stats().texts).toBe(texts);
    expect(server.stats().batchesCreated).toBe(jobs);
    const seen = requestsSince(from);
    expect(seen.writes).toBe(0);
    // The stored rows of each file's chunks, by id (the read-once first pass of the streamed
    // path looks a file up as it reads it): never `metadata["document_id"]`, a scan per query.
    expect(seen.queryFilters.length).toBeGreaterThan(0);
    for (const filter of seen.queryFilters) expect(filter).toMatch(/^id in \[/);
  });

  it("streaming (the default): the first run and an unchanged rerun query by id only", async () => {
    await writeCorpus();
    const args = [
      "ingest",
      "docs",
      "--milvus",
      milvus.address,
      "--collection",
      uniqueCollection("streamids"),
      "--dim",
      "128",
      "--chunk-tokens",
      "64",
      "--json",
      "--no-progress",
    ];
    const from = milvus.requests.length;
    const first = await runCli(args, { cwd: folder, env });
    expect(first.code).toBe(0);
    const second = await runCli(args, { cwd: folder, env });
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ embedded: 0, written: 0 });
    const seen = requestsSince(from);
    expect(seen.queryFilters.length).toBeGreaterThan(0);
    for (const filter of seen.queryFilters) expect(filter).toMatch(/^id in \[/);
  });
});

describe("a target of another dim", () => {
  it("exits 2 into a file and into Milvus alike, before anything is embedded", async () => {
    const input = JSON.stringify({ id: "a", text: "Alan Turing was born in London." });
    const collection = uniqueCollection("dims");
    const intoMilvus = (dim: string) =>
      runCli(
        ["ingest", "-", "--milvus", milvus.address, "--collection", collection, "--dim", dim],
        { cwd: folder, env, input },
      );
    const intoFile = (dim: string) =>
      runCli(["ingest", "-", "--out", "rows.json", "--dim", dim], { cwd: folder, env, input });
    expect((await intoMilvus("128")).code).toBe(0);
    expect((await intoFile("128")).code).toBe(0);
    const texts = server.stats().texts;

    const milvusMismatch = await intoMilvus("256");
    expect(milvusMismatch.stderr).toMatch(
      /MilvusSchemaMismatchError: .*vector dim is 128, the embedding function makes 256/,
    );
    const fileMismatch = await intoFile("256");
    expect(fileMismatch.stderr).toMatch(/RowsFileError: .*dim 128.*dim 256/);
    expect(milvusMismatch.code).toBe(2);
    expect(fileMismatch.code).toBe(2);
    expect(server.stats().texts).toBe(texts);
  });
});
