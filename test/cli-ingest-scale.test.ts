/**
 * Ingest at any size through the CLI, as real child processes against the real local server and
 * the run's Milvus (Milvus Lite, or MILVUS_URI): a kill -9 mid-run loses no row and the rerun
 * embeds only what was not written; a rerun of an unchanged corpus embeds and writes nothing;
 * `gembed search --file` streams an output written in several parts.
 */
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { connectMilvus } from "@gembed/milvus";
import { type RunningServer, startServer } from "@gembed/server";
import type { MilvusClient } from "@zilliz/milvus2-sdk-node";
import { GeminiEmbeddingFunction } from "gembed";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { partPath, RowParts, streamOutputRows } from "../packages/ingest/src/row-parts.js";
import { rowPartsSink } from "../packages/ingest/src/row-parts-sink.js";
import { ingestStream, STEP_TEXTS } from "../packages/ingest/src/stream-pipeline.js";
import { planSources, streamChunks } from "../packages/ingest/src/stream-sources.js";
import { cleanEnvironment, runCli, spawnCli } from "./cli-run.js";
import { milvusUri, uniqueCollection } from "./support/milvus.js";

let gemini: RunningServer;
let reader: MilvusClient;
let folder: string;

beforeAll(async () => {
  gemini = await startServer();
  reader = await connectMilvus({ uri: milvusUri() });
});
afterAll(async () => {
  await reader?.closeConnection();
  await gemini?.close();
});
beforeEach(async (context) => {
  folder = await mkdtemp(path.join(tmpdir(), "gembed-ingest-scale-"));
  context.onTestFinished(() => rm(folder, { recursive: true, force: true }));
});

function paragraph(index: number): string {
  return `Paragraph ${index} is about topic ${index % 17}: vector search, Milvus and Gemini ${index}.`;
}

/** The ids stored in a collection, read with Strong consistency, page by page. */
async function storedIds(name: string): Promise<string[]> {
  const ids: string[] = [];
  let last = "";
  for (;;) {
    const result = await reader.query({
      collection_name: name,
      filter: `id > ${JSON.stringify(last)}`,
      output_fields: ["id"],
      consistency_level: "Strong" as never,
      limit: 1000,
    });
    expect(result.status.error_code).toBe("Success");
    const page = result.data.map((row) => String(row.id)).sort();
    ids.push(...page);
    if (page.length < 1000) return ids;
    last = page.at(-1)!;
  }
}

describe("gembed ingest --milvus over a stream", { timeout: 120_000 }, () => {
  it("a kill -9 mid-run loses no row; the rerun embeds only the rows not written; a third run embeds and writes nothing", async () => {
    const slow = await startServer({ faults: { latencyMs: 200 } });
    try {
      const count = 600;
      await writeFile(
        path.join(folder, "rows.jsonl"),
        Array.from({ length: count }, (_, index) =>
          JSON.stringify({ id: `row-${String(index).padStart(4, "0")}`, text: paragraph(index) }),
        ).join("\n"),
      );
      const name = uniqueCollection("scale_kill");
      const env = cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: slow.url, GEMINI_API_KEY: "k" });
      const args = [
        "ingest",
        "rows.jsonl",
        "--milvus",
        milvusUri(),
        "--collection",
        name,
        "--dim",
        "128",
        "--batch-size",
        "20",
        "--concurrency",
        "1",
        "--json",
        "--no-progress",
      ];
      const { child, done } = spawnCli(args, { cwd: folder, env });
      // Killed hard once some steps are in Milvus, so nothing gets a chance to tidy up.
      let written = 0;
      for (let tries = 0; tries < 600 && written === 0; tries++) {
        const exists = await reader.hasCollection({ collection_name: name });
        if (exists.value) written = (await storedIds(name)).length;
        if (written === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      child.kill("SIGKILL");
      const killed = await done;
      expect(killed.signal).toBe("SIGKILL");
      // The killed run's last request may still be in the server's latency wait: let it land.
      await new Promise((resolve) => setTimeout(resolve, 800));
      const before = await storedIds(name);
      expect(before.length).toBeGreaterThan(0);
      expect(before.length).toBeLessThan(count);

      const textsBefore = slow.stats().texts;
      const again = await runCli(args, { cwd: folder, env });
      expect(again.code, again.stderr).toBe(0);
      const summary = JSON.parse(again.stdout) as Record<string, number>;
      // No row written before the kill is paid for again.
      expect(summary.unchanged).toBe(before.length);
      expect(summary.embedded).toBe(count - before.length);
      expect(slow.stats().texts - textsBefore).toBe(count - before.length);
      const after = await storedIds(name);
      expect(after.length).toBe(count);
      expect(new Set(after).size).toBe(count);

      const textsAfter = slow.stats().texts;
      const third = await runCli(args, { cwd: folder, env });
      expect(third.code, third.stderr).toBe(0);
      expect(JSON.parse(third.stdout)).toMatchObject({
        documents: count,
        unchanged: count,
        embedded: 0,
        written: 0,
        removed: 0,
      });
      expect(slow.stats().texts).toBe(textsAfter);
    } finally {
      await slow.close();
    }
  });
});

describe("gembed ingest killed with -9 into local parts", { timeout: 120_000 }, () => {
  it("re-pays at most one step: vectors are written as each call returns, not held for a full write", async () => {
    // 300 ms a call: eight calls in flight return together, so a run that held vectors until a
    // write of --batch-size rows had up to a whole write's worth paid and unwritten.
    const slow = await startServer({ faults: { latencyMs: 300 } });
    try {
      const count = 5_000;
      await writeFile(
        path.join(folder, "rows.jsonl"),
        Array.from({ length: count }, (_, index) =>
          JSON.stringify({ id: `row-${String(index).padStart(5, "0")}`, text: paragraph(index) }),
        ).join("\n"),
      );
      const out = path.join(folder, "out", "rows.json");
      const journal = `${out}.partial.jsonl`;
      const env = cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: slow.url, GEMINI_API_KEY: "k" });
      const args = [
        "ingest",
        "rows.jsonl",
        "--out",
        out,
        "--dim",
        "128",
        "--batch-size",
        "1000",
        "--json",
        "--no-progress",
      ];
      const textsStart = slow.stats().texts;
      const { child, done } = spawnCli(args, { cwd: folder, env });
      const journalBytes = () =>
        stat(journal).then(
          (info) => info.size,
          () => 0,
        );
      // After the first write, wait for the next calls to be paid, then kill it hard.
      for (let tries = 0; tries < 1_000 && (await journalBytes()) === 0; tries++)
        await new Promise((resolve) => setTimeout(resolve, 10));
      expect(await journalBytes()).toBeGreaterThan(0);
      const paidAtFirstWrite = slow.stats().texts;
      for (let tries = 0; tries < 1_000 && slow.stats().texts < paidAtFirstWrite + 1_200; tries++)
        await new Promise((resolve) => setTimeout(resolve, 10));
      child.kill("SIGKILL");
      const killed = await done;
      expect(killed.signal).toBe("SIGKILL");
      // The calls in flight at the kill are still in the server's latency wait: let them land.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const paidByKilled = slow.stats().texts - textsStart;
      expect(paidByKilled).toBeLessThan(count);

      const again = await runCli(args, { cwd: folder, env });
      expect(again.code, again.stderr).toBe(0);
      const summary = JSON.parse(again.stdout) as Record<string, number>;
      // No row lost: every id once in the output.
      const ids: string[] = [];
      for await (const row of streamOutputRows(out)) ids.push(row.id);
      expect(ids.length).toBe(count);
      expect(new Set(ids).size).toBe(count);
      // Re-paid: texts the server embedded over both runs beyond the corpus.
      const repaid = slow.stats().texts - textsStart - count;
      expect(summary.embedded).toBe(count - summary.unchanged!);
      expect(repaid).toBeGreaterThanOrEqual(0);
      expect(repaid).toBeLessThanOrEqual(STEP_TEXTS);
    } finally {
      await slow.close();
    }
  });
});

describe("gembed search --file over parts", () => {
  it("streams every part of the output and ranks a row of the last part first", async () => {
    const ef = new GeminiEmbeddingFunction({
      baseUrl: gemini.url,
      apiKey: "k",
      config: { outputDimensionality: 128 },
      quota: false,
    });
    const corpus = path.join(folder, "corpus");
    await mkdir(corpus);
    for (let index = 0; index < 60; index++)
      await writeFile(
        path.join(corpus, `note-${String(index).padStart(2, "0")}.md`),
        paragraph(index),
      );
    const base = path.join(folder, "gembed.json");
    const parts = await RowParts.open(
      base,
      { model: ef.modelName, dim: 128 },
      { partBytes: 20_000 },
    );
    const plan = await planSources(["corpus"], { cwd: folder });
    await ingestStream(streamChunks(plan, { cwd: folder }), {
      embedder: ef,
      sink: rowPartsSink(parts),
      batchSize: 5,
    });
    await parts.finish();
    parts.close();
    expect(parts.partPaths.length).toBeGreaterThan(3);
    expect(parts.partPaths.at(-1)).toBe(partPath(base, parts.partPaths.length));

    const env = cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: gemini.url, GEMINI_API_KEY: "k" });
    const result = await runCli(["search", paragraph(59), "--limit", "2", "--json"], {
      cwd: folder,
      env,
    });
    expect(result.code, result.stderr).toBe(0);
    const hits = (JSON.parse(result.stdout) as { hits: { id: string }[] }).hits;
    expect(hits[0]!.id).toBe("corpus/note-59.md");

    // And the CLI's own rerun over that output embeds nothing.
    const texts = gemini.stats().texts;
    const rerun = await runCli(["ingest", "corpus", "--dim", "128", "--json", "--no-progress"], {
      cwd: folder,
      env,
    });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ unchanged: 60, embedded: 0, written: 0 });
    expect(gemini.stats().texts).toBe(texts);
  });
});
