/**
 * Issue #15: a rerun that embeds nothing reads each source once. The reads are counted below the
 * code under test: `fs.openSync` for reading, `fs.createReadStream` and `fs/promises`' `readFile`
 * (what every full read of a source goes through: synchronous reads while they are fast, else a
 * stream or a small file read whole, see AdaptiveReads; the binary sniff of a large file reads a
 * head through a file handle) are wrapped for the run, and the wrappers published to ES module
 * importers with `syncBuiltinESMExports`. A stream that starts past a file's first byte goes on
 * with a read begun synchronously (slow calls met meanwhile): not a read of its own.
 */
import fs from "node:fs";
import { appendFile, mkdir, readFile, unlink, writeFile } from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";
import path from "node:path";
import type { EmbeddingRow } from "@gembed/ingest";
import { describe, expect, it } from "vitest";
import { runCli } from "./cli-run.js";
import { env, folder, useCliFixture } from "./support/cli-fixture.js";
import { connectTestMilvus, milvusUri, uniqueCollection } from "./support/milvus.js";

useCliFixture("gembed-read-once-", "cli-test-key");

/** Runs `gembed <args>` counting the full reads (read streams) of each file of the corpus. */
async function countedRun(args: string[]) {
  const reads = new Map<string, number>();
  const original = fs.createReadStream;
  const count = (file: fs.PathLike) => {
    const name = path.relative(folder, String(file));
    if (!name.startsWith("..")) reads.set(name, (reads.get(name) ?? 0) + 1);
  };
  const counting = ((file: fs.PathLike, options?: unknown) => {
    if (!(((options as { start?: number } | undefined)?.start ?? 0) > 0)) count(file);
    return (original as (file: fs.PathLike, options?: unknown) => fs.ReadStream)(file, options);
  }) as typeof fs.createReadStream;
  const originalOpenSync = fs.openSync;
  const countingOpenSync = ((file: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
    if (flags === undefined || flags === "r") count(file);
    return (originalOpenSync as (...args: unknown[]) => number)(file, flags, mode);
  }) as typeof fs.openSync;
  const originalReadFile = fs.promises.readFile;
  const countingReadFile = ((file: fs.PathLike, options?: unknown) => {
    count(file);
    return (originalReadFile as (file: fs.PathLike, options?: unknown) => Promise<unknown>)(
      file,
      options,
    );
  }) as typeof fs.promises.readFile;
  fs.createReadStream = counting;
  fs.openSync = countingOpenSync;
  fs.promises.readFile = countingReadFile;
  syncBuiltinESMExports();
  try {
    const result = await runCli(args, { cwd: folder, env });
    return { ...result, reads };
  } finally {
    fs.createReadStream = original;
    fs.openSync = originalOpenSync;
    fs.promises.readFile = originalReadFile;
    syncBuiltinESMExports();
  }
}

const sources = ["docs/a.md", "docs/b.txt", "extra.jsonl"];

async function writeCorpus(): Promise<void> {
  await mkdir(path.join(folder, "docs"));
  await writeFile(path.join(folder, "docs", "a.md"), "# Alpha\n\nAlpha explains vectors.\n");
  await writeFile(
    path.join(folder, "docs", "b.txt"),
    Array.from({ length: 30 }, (_, index) => `Paragraph ${index} about indexes.`).join("\n\n"),
  );
  await writeFile(
    path.join(folder, "extra.jsonl"),
    `${JSON.stringify({ id: "ai", text: "Artificial intelligence began in 1956." })}\n${JSON.stringify({ id: "ml", text: "Machine learning learns from data." })}\n`,
  );
}

const summaryOf = (stdout: string) => JSON.parse(stdout) as Record<string, number | string>;

describe.each([
  ["local parts", () => ["--out", "rows.json"]],
  ["Milvus Lite", () => ["--milvus", milvusUri(), "--collection", uniqueCollection("read_once")]],
])("an unchanged rerun reads each source once: %s", (_name, targetArgs) => {
  it("reads each file once, still re-embeds a changed file, and --prune and duplicate ids still work", {
    timeout: 60_000,
  }, async () => {
    await writeCorpus();
    const target = targetArgs();
    const args = [
      "ingest",
      "docs",
      "extra.jsonl",
      "--dim",
      "768",
      "--chunk-tokens",
      "64",
      "--json",
    ];
    const first = await countedRun([...args, ...target]);
    expect(first.code, first.stderr).toBe(0);
    const firstSummary = summaryOf(first.stdout);
    expect(firstSummary.chunks).toBeGreaterThan(4);

    // Unchanged: every source is read once, nothing embedded or written.
    const rerun = await countedRun([...args, ...target]);
    expect(rerun.code, rerun.stderr).toBe(0);
    for (const source of sources) expect(rerun.reads.get(source), source).toBe(1);
    expect(summaryOf(rerun.stdout)).toMatchObject({
      documents: 4,
      chunks: firstSummary.chunks,
      unchanged: firstSummary.chunks,
      embedded: 0,
      written: 0,
    });

    // One file changed: it alone is read again and re-embedded.
    await writeFile(path.join(folder, "docs", "a.md"), "# Alpha\n\nAlpha now explains search.\n");
    const changed = await countedRun([...args, ...target]);
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.reads.get("docs/a.md")).toBe(2);
    expect(changed.reads.get("docs/b.txt")).toBe(1);
    expect(summaryOf(changed.stdout)).toMatchObject({ embedded: 1, written: 1 });

    // Standard input with an id of the unchanged (skipped) JSONL file: still a duplicate.
    const duplicate = await runCli([...args.slice(0, 3), "-", ...args.slice(3), ...target], {
      cwd: folder,
      env,
      input: `${JSON.stringify({ id: "ai", text: "Another text under an id already read." })}\n`,
    });
    expect(duplicate.code).not.toBe(0);
    expect(duplicate.stderr).toContain('duplicate id "ai"');

    // --prune keeps the rows of files skipped as unchanged and removes those of a deleted one.
    const before = await storedIds(target);
    const deleted = before.filter((id) => id.startsWith("docs/b.txt")).length;
    expect(deleted).toBeGreaterThan(1);
    await unlink(path.join(folder, "docs", "b.txt"));
    const pruned = await countedRun([...args, "--prune", ...target]);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.reads.get("docs/a.md")).toBe(1);
    expect(pruned.reads.get("extra.jsonl")).toBe(1);
    expect(summaryOf(pruned.stdout)).toMatchObject({ embedded: 0, pruned: deleted });
    const remaining = await storedIds(target);
    expect(remaining.filter((id) => id.startsWith("docs/b.txt"))).toEqual([]);
    expect(remaining).toEqual(expect.arrayContaining(["docs/a.md", "ai", "ml"]));
  });
});

describe.each([
  ["local parts", () => ["--out", "rows.json"]],
  [
    "Milvus Lite",
    () => ["--milvus", milvusUri(), "--collection", uniqueCollection("read_once_big")],
  ],
])("an unchanged rerun reads a large file (8 MB and more) once: %s", (_name, targetArgs) => {
  it("looks its chunks up a group at a time while the first pass reads it; a changed end is read again and re-embedded", {
    timeout: 180_000,
  }, async () => {
    await mkdir(path.join(folder, "docs"));
    await writeFile(path.join(folder, "docs", "a.md"), "# Alpha\n\nAlpha explains vectors.\n");
    // Over LARGE_FILE_BYTES (8 MiB): split as it is read, more than one lookup group of chunks.
    const paragraphs: string[] = [];
    let size = 0;
    for (let index = 0; size < 8.5 * 1024 * 1024; index++) {
      const paragraph = `Paragraph ${index} of the large corpus tells how vector indexes answer queries ${index * 7}.`;
      paragraphs.push(paragraph);
      size += paragraph.length + 2;
    }
    const big = path.join(folder, "docs", "big.md");
    await writeFile(big, `# Big\n\n${paragraphs.join("\n\n")}\n`);
    const target = targetArgs();
    const args = ["ingest", "docs", "--dim", "128", "--json", "--no-progress", ...target];
    const first = await countedRun(args);
    expect(first.code, first.stderr).toBe(0);
    const chunks = Number(summaryOf(first.stdout).chunks);
    // More than two groups of 256 chunks looked up before the count is known.
    expect(chunks).toBeGreaterThan(600);

    const rerun = await countedRun(args);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.reads.get("docs/big.md")).toBe(1);
    expect(rerun.reads.get("docs/a.md")).toBe(1);
    expect(summaryOf(rerun.stdout)).toMatchObject({
      chunks,
      unchanged: chunks,
      embedded: 0,
      written: 0,
    });

    // A changed end: the first pass finds it, the second reads the file again and embeds it.
    await appendFile(big, "\nA closing paragraph added later about search.\n");
    const changed = await countedRun(args);
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.reads.get("docs/big.md")).toBe(2);
    const changedSummary = summaryOf(changed.stdout);
    expect(Number(changedSummary.embedded)).toBeGreaterThanOrEqual(1);
    expect(Number(changedSummary.embedded)).toBeLessThan(5);

    // Unchanged again (its chunks stored with the new count in their metadata): read once.
    const again = await countedRun(args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.reads.get("docs/big.md")).toBe(1);
    expect(summaryOf(again.stdout)).toMatchObject({ embedded: 0, written: 0 });
  });
});

/** The ids stored in the target, read back without gembed's ingest code. */
async function storedIds(target: string[]): Promise<string[]> {
  if (target[0] === "--out") {
    const stored = JSON.parse(await readFile(path.join(folder, "rows.json"), "utf8")) as {
      rows: EmbeddingRow[];
    };
    return stored.rows.map((row) => row.id);
  }
  const client = await connectTestMilvus();
  try {
    const answer = await client.query({
      collection_name: target[3]!,
      filter: 'id != ""',
      output_fields: ["id"],
      limit: 1000,
    });
    return answer.data.map((row) => String(row.id));
  } finally {
    await client.closeConnection();
  }
}
