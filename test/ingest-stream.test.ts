/**
 * Ingest at any size, at the library level against the real local server: the streaming
 * splitter gives splitText's pieces, the first pass finds source problems before any call,
 * in-flight work stays bounded whatever the corpus, local output goes to parts with an on-disk
 * state index, and a rerun embeds nothing.
 */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { chunkDocument, type DocumentChunk, SourceError, splitText } from "@gembed/ingest";
import { type RunningServer, startServer } from "@gembed/server";
import { estimateTokens, GeminiEmbeddingFunction } from "gembed";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { RowParts, streamOutputRows } from "../packages/ingest/src/row-parts.js";
import { rowPartsSink } from "../packages/ingest/src/row-parts-sink.js";
import {
  coalesced,
  ingestStream,
  type StoredDigest,
  type StreamSink,
} from "../packages/ingest/src/stream-pipeline.js";
import { searchRowStream } from "../packages/ingest/src/stream-search.js";
import {
  LARGE_FILE_BYTES,
  planSources,
  type StreamedChunk,
  splitTextStream,
  streamChunks,
} from "../packages/ingest/src/stream-sources.js";

let server: RunningServer;
let folder: string;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.close();
});
beforeEach(async (context) => {
  folder = await mkdtemp(path.join(tmpdir(), "gembed-ingest-stream-"));
  context.onTestFinished(() => rm(folder, { recursive: true, force: true }));
});

function embeddingFunction(options: { concurrency?: number; maxTextsPerCall?: number } = {}) {
  return new GeminiEmbeddingFunction({
    baseUrl: server.url,
    apiKey: "stream-key",
    config: { outputDimensionality: 128 },
    quota: false,
    ...options,
  });
}

/** A deterministic text of about `words` words with sentences and paragraphs. */
function prose(seed: number, words: number): string {
  const vocabulary = ["milvus", "vector", "gemini", "search", "index", "chunk", "stream", "row"];
  const out: string[] = [];
  for (let index = 0; index < words; index++) {
    out.push(vocabulary[(seed * 31 + index * 7) % vocabulary.length]!);
    if (index % 13 === 12) out.push(index % 52 === 51 ? ".\n\n" : ".");
  }
  return out.join(" ");
}

async function* inParts(text: string, size: number): AsyncGenerator<string> {
  for (let start = 0; start < text.length; start += size) yield text.slice(start, start + size);
}

describe("splitTextStream", () => {
  it("gives exactly splitText's pieces, whatever the size of the parts read", async () => {
    for (const [seed, words, maxTokens, overlapTokens] of [
      [1, 5_000, 64, 6],
      [2, 20_000, 200, 20],
      [3, 3_000, 16, 0],
    ] as const) {
      const text = `  \n${prose(seed, words)}\n\n   `;
      const expected = splitText(text, { maxTokens, overlapTokens });
      expect(expected.length).toBeGreaterThan(5);
      for (const size of [1_000, 4_099, 65_536]) {
        const pieces: string[] = [];
        for await (const piece of splitTextStream(inParts(text, size), {
          maxTokens,
          overlapTokens,
        }))
          pieces.push(piece);
        expect(pieces).toEqual(expected);
      }
    }
  });
});

describe("chunks with a title", () => {
  it("leave room for the title, which the API counts in the model's input", () => {
    const title = "A title of some forty characters, or so";
    const chunks = chunkDocument(
      // Words without sentence ends: chunks are cut at a space, right at the size limit.
      { id: "t", text: "word ".repeat(5_000), title, source: "t" },
      { maxTokens: 256 },
    );
    expect(chunks.length).toBeGreaterThan(3);
    for (const chunk of chunks)
      expect(estimateTokens(chunk.text) + estimateTokens(title)).toBeLessThanOrEqual(256);
  });
});

describe("planSources and streamChunks", () => {
  it("finds every source problem in the first pass, before any embedding call", async () => {
    const corpus = path.join(folder, "corpus");
    await rm(corpus, { recursive: true, force: true });
    await import("node:fs/promises").then((fs) => fs.mkdir(corpus));
    await writeFile(path.join(corpus, "good.md"), "# Good\n\nFine text.");
    await writeFile(path.join(corpus, "binary.txt"), Buffer.from([1, 2, 0, 3]));
    await writeFile(path.join(corpus, "latin.txt"), Buffer.from("caf\xe9", "latin1"));
    await writeFile(
      path.join(folder, "rows.jsonl"),
      `${JSON.stringify({ id: "a", text: "one" })}\n{"id": "b"}\nnot json\n${JSON.stringify({ id: "a", text: "again" })}\n`,
    );
    const before = server.stats().texts;
    const error = await planSources(["corpus", "rows.jsonl"], { cwd: folder }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(SourceError);
    const issues = (error as SourceError).issues.map((issue) => `${issue.source}: ${issue.reason}`);
    expect(issues).toEqual([
      "corpus/binary.txt: not a text file (binary content)",
      "corpus/latin.txt: not valid UTF-8 at byte 3 (--encoding latin1 reads Latin-1 files)",
      'rows.jsonl:2: "text" is missing',
      "rows.jsonl:3: not valid JSON",
      'rows.jsonl:4: duplicate id "a" (first in rows.jsonl:1)',
    ]);
    expect(server.stats().texts).toBe(before);

    // With onSkip, bad files are left out and the rest planned.
    const skipped: string[] = [];
    const plan = await planSources(["corpus"], {
      cwd: folder,
      onSkip: (issue) => skipped.push(issue.source),
    });
    expect(skipped).toEqual(["corpus/binary.txt", "corpus/latin.txt"]);
    expect(plan.files.map((file) => file.id)).toEqual(["corpus/good.md"]);
    expect(plan.documents).toBe(1);
  });

  it("splits a large file as it is read into the chunks the whole text gives, count known up front", async () => {
    const text = prose(7, Math.ceil(LARGE_FILE_BYTES / 6.5));
    const file = path.join(folder, "big.md");
    await writeFile(file, `# Big one\n\n${text}`);
    const plan = await planSources(["big.md"], { cwd: folder, chunk: { maxTokens: 2048 } });
    expect(plan.files[0]!.bytes).toBeGreaterThanOrEqual(LARGE_FILE_BYTES);
    const streamed: StreamedChunk[] = [];
    for await (const item of streamChunks(plan, { cwd: folder, chunk: { maxTokens: 2048 } }))
      if (item.chunk !== undefined) streamed.push(item);
    const whole = chunkDocument(
      {
        id: plan.files[0]!.id,
        text: await readFile(file, "utf8"),
        title: "Big one",
        source: plan.files[0]!.id,
      },
      { maxTokens: 2048 },
    );
    expect(plan.files[0]!.chunks).toBe(whole.length);
    expect(streamed.map((item) => item.chunk)).toEqual(whole);
    expect(streamed.reduce((sum, item) => sum + item.bytes, 0)).toBe(plan.files[0]!.bytes);
  });

  it("streams plain text from standard input: splitText's chunks, bytes of a character split across reads decoded whole, bad UTF-8 named", async () => {
    const text = `${prose(7, 60_000).replaceAll("index", "índex café")}\n`;
    const bytes = Buffer.from(text, "utf8");
    // Reads of 4,099 bytes: many cut a two-byte character in two.
    const reads = function* (from: Buffer) {
      for (let start = 0; start < from.length; start += 4_099)
        yield from.subarray(start, start + 4_099);
    };
    const chunk = { maxTokens: 300, overlapTokens: 30 };
    const plan = await planSources(["-"], { cwd: folder });
    const got: DocumentChunk[] = [];
    let bytesCounted = 0;
    for await (const item of streamChunks(plan, { chunk, stdin: Readable.from(reads(bytes)) })) {
      if (item.chunk !== undefined) got.push(item.chunk);
      bytesCounted += item.bytes;
    }
    const expected = chunkDocument({ id: "stdin", text, source: "stdin" }, chunk);
    expect(expected.length).toBeGreaterThan(20);
    expect(got).toEqual(expected);
    expect(bytesCounted).toBe(bytes.length);

    const bad = Buffer.concat([Buffer.from("plain text, then "), Buffer.from([0xff, 0x41])]);
    const error = await (async () => {
      for await (const _item of streamChunks(plan, { stdin: Readable.from([bad]) })) {
        // read to the end
      }
    })().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).message).toContain("stdin: not valid UTF-8 at byte 17");
  });

  it("reads JSONL from standard input line by line, and a duplicate id there is met on the way", async () => {
    const lines = [
      JSON.stringify({ id: "x", text: "first" }),
      JSON.stringify({ id: "y", text: "second" }),
      JSON.stringify({ id: "x", text: "third" }),
    ];
    const plan = await planSources(["-"], { cwd: folder });
    const seen: string[] = [];
    const error = await (async () => {
      for await (const { chunk } of streamChunks(plan, {
        stdin: Readable.from(lines.map((line) => `${line}\n`)),
      }))
        if (chunk !== undefined) seen.push(chunk.id);
    })().catch((caught: unknown) => caught);
    expect(seen).toEqual(["x", "y"]);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).message).toContain('stdin:3: duplicate id "x"');
  });
});

describe("ingestStream into local parts", () => {
  it("keeps in-flight work bounded, writes parts, and a rerun embeds nothing", async () => {
    const documents = 3_000;
    await writeFile(
      path.join(folder, "rows.jsonl"),
      Array.from({ length: documents }, (_, index) =>
        JSON.stringify({ id: `doc-${index}`, text: prose(index, 20) }),
      ).join("\n"),
    );
    const ef = embeddingFunction({ concurrency: 2, maxTextsPerCall: 20 });
    const base = path.join(folder, "out", "rows.json");
    await import("node:fs/promises").then((fs) => fs.mkdir(path.dirname(base)));
    const run = async () => {
      const parts = await RowParts.open(
        base,
        { model: ef.modelName, dim: 128 },
        { partBytes: 200_000 },
      );
      const plan = await planSources(["rows.jsonl"], { cwd: folder });
      let pulled = 0;
      let settled = 0;
      let most = 0;
      const inner = rowPartsSink(parts);
      const sink: StreamSink = {
        ...inner,
        write: async (rows) => {
          await inner.write(rows);
          settled += rows.length;
        },
      };
      const source = (async function* () {
        for await (const item of streamChunks(plan, { cwd: folder })) {
          pulled++;
          most = Math.max(most, pulled - settled);
          yield item;
        }
      })();
      const summary = await ingestStream(source, {
        embedder: ef,
        sink,
        batchSize: 50,
        onProgress: (progress) => {
          settled = progress.written + progress.skipped;
        },
      });
      await parts.finish();
      parts.close();
      return { summary, most, parts };
    };
    const textsBefore = server.stats().texts;
    const first = await run();
    expect(first.summary).toMatchObject({
      documents,
      chunks: documents,
      embedded: documents,
      written: documents,
    });
    expect(server.stats().texts - textsBefore).toBe(documents);
    // A group being looked up (50), the queue (100), encodeStream's window (2 × 2 calls of 20),
    // the step being written (50), one chunk read ahead: never the whole corpus.
    expect(first.most).toBeLessThanOrEqual(50 + 100 + 80 + 50 + 1);

    // Parts: each whole JSON in the bulk-import format, every id once across them.
    const files = (await readdir(path.dirname(base))).filter((name) =>
      /^rows(-\d+)?\.json$/.test(name),
    );
    expect(files.length).toBeGreaterThan(3);
    const ids: string[] = [];
    for (const name of files) {
      const parsed = JSON.parse(await readFile(path.join(path.dirname(base), name), "utf8")) as {
        rows: { id: string; vector: number[] }[];
      };
      expect(parsed.rows.length).toBeGreaterThan(0);
      for (const row of parsed.rows) {
        expect(row.vector).toHaveLength(128);
        ids.push(row.id);
      }
    }
    expect(ids.length).toBe(documents);
    expect(new Set(ids).size).toBe(documents);
    const info = JSON.parse(await readFile(`${base}.gembed.json`, "utf8")) as { parts: number };
    expect(info.parts).toBe(files.length);

    // A rerun looks every id up in the index and embeds nothing.
    const textsAfterFirst = server.stats().texts;
    const second = await run();
    expect(second.summary).toMatchObject({ skipped: documents, embedded: 0, written: 0 });
    expect(server.stats().texts).toBe(textsAfterFirst);

    // Search streams the parts and finds a row of any part.
    const last = JSON.parse(
      await readFile(path.join(path.dirname(base), files.sort().at(-1)!), "utf8"),
    ) as { rows: { id: string; vector: number[] }[] };
    const target = last.rows[0]!;
    const hits = await searchRowStream(streamOutputRows(base), target.vector, { limit: 3 });
    expect(hits[0]!.id).toBe(target.id);
    expect(hits[0]!.score).toBeCloseTo(1, 5);
  });

  it("a changed, a shortened and a metadata-only document: rows replaced in place, stale chunks gone, no duplicate across parts", async () => {
    const ef = embeddingFunction();
    const base = path.join(folder, "rows.json");
    const long = prose(3, 400);
    const write = (rows: object[]) =>
      writeFile(path.join(folder, "docs.jsonl"), rows.map((row) => JSON.stringify(row)).join("\n"));
    const run = async () => {
      const parts = await RowParts.open(
        base,
        { model: ef.modelName, dim: 128 },
        { partBytes: 30_000 },
      );
      const plan = await planSources(["docs.jsonl"], { cwd: folder, chunk: { maxTokens: 64 } });
      const summary = await ingestStream(
        streamChunks(plan, { cwd: folder, chunk: { maxTokens: 64 } }),
        {
          embedder: ef,
          sink: rowPartsSink(parts),
          batchSize: 8,
        },
      );
      await parts.finish();
      parts.close();
      const rows = [];
      for await (const row of streamOutputRows(base)) rows.push(row);
      return { summary, rows };
    };
    const filler = Array.from({ length: 40 }, (_, index) => ({
      id: `f${index}`,
      text: prose(index, 30),
    }));
    await write([
      { id: "long", text: long },
      { id: "meta", text: "same text", metadata: { v: 1 } },
      ...filler,
    ]);
    const first = await run();
    const longChunks = first.rows.filter((row) => row.id.startsWith("long#")).length;
    expect(longChunks).toBeGreaterThan(3);

    await write([
      { id: "long", text: prose(3, 100) },
      { id: "meta", text: "same text", metadata: { v: 2 } },
      ...filler.map((row, index) => (index === 5 ? { ...row, text: "changed" } : row)),
    ]);
    const second = await run();
    // "meta", and the chunks of "long" whose text stayed (their `chunks` count changed).
    expect(second.summary.updated).toBeGreaterThanOrEqual(1);
    expect(second.summary.skipped + second.summary.updated + second.summary.embedded).toBe(
      second.summary.chunks,
    );
    expect(second.summary.removed).toBeGreaterThan(0);
    const ids = second.rows.map((row) => row.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => id.startsWith("long#")).length).toBeLessThan(longChunks);
    expect(second.rows.find((row) => row.id === "meta")!.metadata.v).toBe(2);
    expect(second.rows.find((row) => row.id === "f5")!.text).toBe("changed");
    // The parts hold the same rows as the stream of them: stale copies were rewritten away.
    const onDisk: string[] = [];
    for (const name of (await readdir(folder)).filter((file) => /^rows(-\d+)?\.json$/.test(file))) {
      const parsed = JSON.parse(await readFile(path.join(folder, name), "utf8")) as {
        rows: { id: string }[];
      };
      onDisk.push(...parsed.rows.map((row) => row.id));
    }
    expect(onDisk.sort()).toEqual([...ids].sort());
  });
});

describe("coalesced lookups (the first pass checks several files at once)", () => {
  it("callers that ask while a query is out share the next query, and each finds its ids", async () => {
    const queries: string[][] = [];
    let release: (() => void) | undefined;
    const lookup = coalesced(async (ids) => {
      queries.push(ids);
      // The first query stays out until released: the asks meanwhile wait for the next.
      if (queries.length === 1) await new Promise<void>((resolve) => (release = resolve));
      return new Map<string, StoredDigest>(
        ids.map((id) => [id, { contentHash: `hash-${id}`, metadataHash: "m" }]),
      );
    });
    const first = lookup(["a"]);
    const others = [lookup(["b", "c"]), lookup(["d"]), lookup(["e"])];
    release!();
    expect((await first).get("a")?.contentHash).toBe("hash-a");
    const answers = await Promise.all(others);
    expect(answers[0]!.get("c")?.contentHash).toBe("hash-c");
    expect(answers[2]!.get("e")?.contentHash).toBe("hash-e");
    expect(queries).toEqual([["a"], ["b", "c", "d", "e"]]);
  });
  it("a failed query fails every caller it carried, and the next query goes out", async () => {
    let calls = 0;
    const lookup = coalesced(async (ids) => {
      calls++;
      if (calls === 1) throw new Error("Milvus is down");
      return new Map<string, StoredDigest>(
        ids.map((id) => [id, { contentHash: id, metadataHash: "" }]),
      );
    });
    const failing = lookup(["a"]);
    await expect(failing).rejects.toThrow("Milvus is down");
    expect((await lookup(["b"])).has("b")).toBe(true);
  });
});

/** A row whose text is its id, for the RowParts tests below. */
function plainRow(id: string, vector: number[]) {
  return { id, text: id, title: "", metadata: {}, content_hash: "12".repeat(32), vector };
}

describe("StateIndex and RowParts recovery", () => {
  it("keeps every entry through rebuilds at twice the size, removals and a reopen", async () => {
    const { StateIndex } = await import("../packages/ingest/src/state-index.js");
    const file = path.join(folder, "state.index");
    const index = StateIndex.open(file);
    const hash = (value: number) => value.toString(16).padStart(64, "0");
    // 4,096 slots at first: 10,000 entries force two rebuilds.
    for (let value = 0; value < 10_000; value++)
      index.put(`id-${value}`, {
        contentHash: hash(value),
        metadataHash: "00000000000000ff",
        part: 1 + (value % 3),
        offset: value * 10,
      });
    for (let value = 0; value < 10_000; value += 2) expect(index.delete(`id-${value}`)).toBe(true);
    // A put tells the part of the entry it replaces (the parts file marks that part as holding a
    // dead row), and nothing for a new id or one removed before.
    const entry = (part: number) => ({ contentHash: hash(1), metadataHash: "00", part, offset: 0 });
    expect(index.put("replaced", entry(4))).toBeUndefined();
    expect(index.put("replaced", entry(5))).toBe(4);
    expect(index.put("id-0", entry(6))).toBeUndefined();
    expect(index.delete("id-0")).toBe(true);
    expect(index.delete("replaced")).toBe(true);
    index.setDocumentChunks("doc", 7);
    index.close();
    const reopened = StateIndex.open(file);
    for (let value = 0; value < 10_000; value++) {
      const entry = reopened.get(`id-${value}`);
      if (value % 2 === 0) expect(entry).toBeUndefined();
      else
        expect(entry).toEqual({
          contentHash: hash(value),
          metadataHash: "00000000000000ff",
          part: 1 + (value % 3),
          offset: value * 10,
        });
    }
    expect(reopened.documentChunks("doc")).toBe(7);
    expect(reopened.get("doc")).toBeUndefined();
    reopened.close();
  });

  it("reads right through a page cache smaller than the table (pages evicted and read again)", async () => {
    const { StateIndex } = await import("../packages/ingest/src/state-index.js");
    const file = path.join(folder, "small-cache.index");
    // Two cached pages of 64 slots, a table of 4,096 slots and more: nearly every probe misses.
    const index = StateIndex.open(file, { cachedPages: 2 });
    const hash = (value: number) => value.toString(16).padStart(64, "0");
    const entry = (value: number, part: number) => ({
      contentHash: hash(value),
      metadataHash: "00000000000000aa",
      part,
      offset: value,
    });
    for (let value = 0; value < 6_000; value++) index.put(`k-${value}`, entry(value, 1));
    // Replaced and removed entries, each write after its page may have left the cache.
    for (let value = 0; value < 6_000; value += 3)
      expect(index.put(`k-${value}`, entry(value, 2))).toBe(1);
    for (let value = 1; value < 6_000; value += 3) expect(index.delete(`k-${value}`)).toBe(true);
    // A second reader of the file (no shared cache) sees every write: the cache writes through.
    const other = StateIndex.open(file, { cachedPages: 1 });
    for (const reader of [index, other]) {
      for (let value = 0; value < 6_000; value++) {
        const found = reader.get(`k-${value}`);
        if (value % 3 === 1) expect(found).toBeUndefined();
        else expect(found).toEqual(entry(value, value % 3 === 0 ? 2 : 1));
      }
    }
    other.close();
    index.close();
  });

  it("appends made at once each write their own rows (the step buffer is not shared while in use)", async () => {
    const base = path.join(folder, "rows.json");
    const parts = await RowParts.open(base, { model: "m", dim: 2 });
    const row = (id: string, text: string) => ({
      id,
      text,
      title: "",
      metadata: { n: id },
      content_hash: "cd".repeat(32),
      vector: [0.25, -0.5],
    });
    // Started together: the second is encoded while the first's write is under way; then a third
    // after both, into the buffer they used (shorter rows: stale bytes past them must not show).
    const long = Array.from({ length: 50 }, (_, index) => row(`long-${index}`, "é".repeat(900)));
    const other = Array.from({ length: 50 }, (_, index) => row(`other-${index}`, "x".repeat(700)));
    await Promise.all([parts.append(long), parts.append(other)]);
    await parts.append([row("short", "s")]);
    for (const expected of [...long, ...other, row("short", "s")]) {
      const entry = parts.lookup([expected.id]).get(expected.id)!;
      expect(await parts.readRow(entry)).toEqual(expected);
    }
    await parts.finish();
    parts.close();
    const parsed = JSON.parse(await readFile(base, "utf8")) as { rows: { id: string }[] };
    expect(parsed.rows).toHaveLength(101);
  });

  it("an output empty at open skips lookups; a journal or a part left by a run makes it a rerun", async () => {
    const base = path.join(folder, "rows.json");
    const row = (id: string) => plainRow(id, [1, 0]);
    const first = await RowParts.open(base, { model: "m", dim: 2 });
    expect(first.emptyAtOpen).toBe(true);
    const sink = rowPartsSink(first);
    // As an ingest does: looked up (nothing to find), then written.
    expect((await sink.lookup(["a#0", "a#1", "a#2"])).size).toBe(0);
    await sink.write([row("a#0"), row("a#1"), row("a#2")]);
    await sink.removeStale!([{ id: "a", count: 3 }]);
    // Written this run: not looked up by an ingest (each id once, before it is written).
    expect((await sink.lookup(["a#0"])).size).toBe(0);
    expect([...first.lookup(["a#0", "a#1"]).keys()]).toEqual(["a#0", "a#1"]);
    first.close();
    // Killed before its journal was sealed: the journal's rows are there at the next open.
    const killed = await RowParts.open(base, { model: "m", dim: 2 });
    expect(killed.emptyAtOpen).toBe(false);
    expect([...(await rowPartsSink(killed).lookup(["a#0", "a#1", "b"])).keys()]).toEqual([
      "a#0",
      "a#1",
    ]);
    // The document's chunk count was recorded without a lookup: a shortened rerun removes one.
    expect(killed.removeStale("a", 2)).toBe(1);
    await killed.finish();
    killed.close();
    const sealed = await RowParts.open(base, { model: "m", dim: 2 });
    expect(sealed.emptyAtOpen).toBe(false);
    expect([...sealed.lookup(["a#0", "a#1", "a#2"]).keys()]).toEqual(["a#0", "a#1"]);
    sealed.close();

    // Killed (not closed): the index's count of entries on disk trails what was written (it is
    // saved every 256 entries), so it cannot tell; the journal's rows do.
    const other = path.join(folder, "other.json");
    const killedFirst = await RowParts.open(other, { model: "m", dim: 2 });
    await rowPartsSink(killedFirst).write([row("x"), row("y")]);
    const reopened = await RowParts.open(other, { model: "m", dim: 2 });
    expect(reopened.emptyAtOpen).toBe(false);
    expect((await rowPartsSink(reopened).lookup(["x", "y"])).size).toBe(2);
    reopened.close();
    killedFirst.close();

    // Rows written before the first lookup (an ingest --batch collecting an earlier run's jobs,
    // then planning): looked up after all.
    const collected = await RowParts.open(path.join(folder, "third.json"), { model: "m", dim: 2 });
    expect(collected.emptyAtOpen).toBe(true);
    const collectedSink = rowPartsSink(collected);
    await collectedSink.write([row("p")]);
    expect([...(await collectedSink.lookup(["p", "q"])).keys()]).toEqual(["p"]);
    collected.close();
  });

  it("a torn journal line (a kill mid-write) is cut off and not counted as written", async () => {
    const base = path.join(folder, "rows.json");
    const parts = await RowParts.open(base, { model: "m", dim: 2 });
    const row = (id: string) => ({
      id,
      text: id,
      title: "",
      metadata: {},
      content_hash: "ab".repeat(32),
      vector: [0.5, 0.5],
    });
    await parts.append([row("a"), row("b")]);
    parts.close();
    const journal = parts.journalPath;
    // Whole JSON but no newline: the write was cut after the row, before its `,\n`.
    await writeFile(journal, `${await readFile(journal, "utf8")}${JSON.stringify(row("c"))}`);
    const again = await RowParts.open(base, { model: "m", dim: 2 });
    expect([...again.lookup(["a", "b", "c"]).keys()]).toEqual(["a", "b"]);
    await again.append([row("d")]);
    await again.finish();
    again.close();
    const parsed = JSON.parse(await readFile(base, "utf8")) as { rows: { id: string }[] };
    expect(parsed.rows.map((stored) => stored.id)).toEqual(["a", "b", "d"]);
  });

  it("seals a full journal into its part by a rename (no copy): the same file, a whole rows file, offsets right", async () => {
    const base = path.join(folder, "rows.json");
    const row = (id: string) => ({
      id,
      text: `text of ${id} é`,
      title: "",
      metadata: { id },
      content_hash: "ef".repeat(32),
      vector: [0.5, -0.25],
    });
    // Rows of 170 bytes, parts of 1,200: the third append of 3 rows fills the journal past that.
    const parts = await RowParts.open(base, { model: "m", dim: 2 }, { partBytes: 1_200 });
    await parts.append([row("a"), row("b"), row("c")]);
    await parts.append([row("d"), row("e"), row("f")]);
    const journal = parts.journalPath;
    expect((await readFile(journal, "utf8")).startsWith('{"rows":[\n')).toBe(true);
    const journalInode = (await stat(journal)).ino;
    await parts.append([row("g"), row("h"), row("i")]);
    // Sealed: part 1 is the journal's file itself, and no journal is left.
    expect((await stat(base)).ino).toBe(journalInode);
    await expect(stat(journal)).rejects.toThrow(/ENOENT/);
    const sealed = JSON.parse(await readFile(base, "utf8")) as { rows: { id: string }[] };
    expect(sealed.rows.map((stored) => stored.id)).toEqual([
      "a",
      "b",
      "c",
      "d",
      "e",
      "f",
      "g",
      "h",
      "i",
    ]);
    for (const id of ["a", "e", "i"]) {
      const entry = parts.lookup([id]).get(id)!;
      expect(entry.part).toBe(1);
      expect(await parts.readRow(entry)).toEqual(row(id));
    }
    await parts.append([row("j")]);
    await parts.finish();
    parts.close();
    const ids: string[] = [];
    for await (const stored of streamOutputRows(base)) ids.push(stored.id);
    expect(ids).toEqual(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]);
  });

  it("a seal cut short after its end was written and before its rename is finished at the next open", async () => {
    const base = path.join(folder, "rows.json");
    const row = (id: string) => plainRow(id, [1, 0]);
    const parts = await RowParts.open(base, { model: "m", dim: 2 });
    await parts.append([row("a"), row("b")]);
    parts.close();
    const journal = parts.journalPath;
    // What the seal's one write leaves: the last `,\n` become the end of the rows. A kill -9
    // between that write and the rename is staged by hand (no process can be stopped there).
    const body = await readFile(journal, "utf8");
    expect(body.endsWith(",\n")).toBe(true);
    await writeFile(journal, `${body.slice(0, -2)} \n]}\n`);
    const again = await RowParts.open(base, { model: "m", dim: 2 });
    await expect(stat(journal)).rejects.toThrow(/ENOENT/);
    expect(JSON.parse(await readFile(base, "utf8"))).toMatchObject({
      rows: [{ id: "a" }, { id: "b" }],
    });
    const entry = again.lookup(["b"]).get("b")!;
    expect(entry.part).toBe(1);
    expect(await again.readRow(entry)).toEqual(row("b"));
    await again.append([row("c")]);
    await again.finish();
    again.close();
    const ids: string[] = [];
    for await (const stored of streamOutputRows(base)) ids.push(stored.id);
    expect(ids.sort()).toEqual(["a", "b", "c"]);
  });

  it("a journal an earlier version left (rows only, no header) is kept and sealed whole", async () => {
    const base = path.join(folder, "rows.json");
    const row = (id: string) => plainRow(id, [0, 1]);
    await writeFile(
      `${base}.partial.jsonl`,
      `${JSON.stringify(row("a"))},\n${JSON.stringify(row("b"))},\n`,
    );
    const parts = await RowParts.open(base, { model: "m", dim: 2 });
    expect([...parts.lookup(["a", "b"]).keys()]).toEqual(["a", "b"]);
    expect(await parts.readRow(parts.lookup(["b"]).get("b")!)).toEqual(row("b"));
    await parts.append([row("c")]);
    await parts.finish();
    parts.close();
    const parsed = JSON.parse(await readFile(base, "utf8")) as { rows: { id: string }[] };
    expect(parsed.rows.map((stored) => stored.id)).toEqual(["a", "b", "c"]);
  });

  it("a part rewrite cut short (its marker left) rebuilds the index from the parts at the next open", async () => {
    const base = path.join(folder, "rows.json");
    const parts = await RowParts.open(base, { model: "m", dim: 2 });
    const row = (id: string, hash: string) => ({
      id,
      text: id,
      title: "",
      metadata: {},
      content_hash: hash.repeat(64),
      vector: [1, 0],
    });
    await parts.append([row("a", "1"), row("b", "2")]);
    await parts.finish();
    parts.close();
    await writeFile(`${base}.index.rebuild`, "");
    await writeFile(`${base}.index`, "garbage, as a crash could leave it");
    const again = await RowParts.open(base, { model: "m", dim: 2 });
    expect(again.lookup(["a", "b"]).get("b")?.contentHash).toBe("2".repeat(64));
    expect((await again.storedVectors(["a"])).get("a")).toEqual([1, 0]);
    again.close();
    // And an index file that is not one (no marker) is made again from the parts too.
    await writeFile(`${base}.index`, "not an index");
    const third = await RowParts.open(base, { model: "m", dim: 2 });
    expect(third.lookup(["a"]).get("a")?.contentHash).toBe("1".repeat(64));
    third.close();
  });
});
