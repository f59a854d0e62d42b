/**
 * Bulk-import files: the local rows file, and the JSON and Parquet files the SDK's BulkWriter
 * writes through `writeBulkImportFiles` and `gembed ingest --out x.parquet`, read back with
 * JSON.parse and with pyarrow (the Parquet reader of the project's .venv/, beside pymilvus).
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { type EmbeddingRow, LocalRowsFile } from "@gembed/ingest";
import {
  collectionFields,
  findMilvusLiteBin,
  loadMilvusSdk,
  writeBulkImportFiles,
} from "@gembed/milvus";
import { type RunningServer, startServer } from "@gembed/server";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cleanEnvironment, runCli } from "./cli-run.js";

/** Rows of Parquet files as pyarrow reads them (the venv's python, next to milvus-lite). */
async function readParquet(...files: string[]): Promise<Record<string, unknown>[]> {
  const python = path.join(path.dirname(findMilvusLiteBin()), "python");
  const script =
    "import json, sys, pyarrow.parquet as pq\n" +
    "tables = [pq.read_table(file) for file in sys.argv[1:]]\n" +
    "schema = [[field.name, str(field.type)] for field in tables[0].schema]\n" +
    "print(json.dumps({'schema': schema, 'rows': [row for table in tables for row in table.to_pylist()]}))";
  const { stdout } = await promisify(execFile)(python, ["-c", script, ...files], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const parsed = JSON.parse(stdout) as { schema: string[][]; rows: Record<string, unknown>[] };
  expect(parsed.schema).toEqual([
    ["id", "string"],
    ["text", "string"],
    ["title", "string"],
    ["metadata", "string"],
    ["content_hash", "string"],
    ["vector", expect.stringMatching(/^list<.*float.*>$/)],
  ]);
  return parsed.rows;
}

function sampleRows(count: number, dim: number): EmbeddingRow[] {
  return Array.from({ length: count }, (_, index) => ({
    id: `doc-${index}#0`,
    text: `Text ${index} with "quotes", ünïcödé and a newline\n.`,
    title: index % 2 === 0 ? `Title ${index}` : "",
    metadata: { source: `doc-${index}.md`, document_id: `doc-${index}`, chunk: 0, chunks: 1 },
    content_hash: "a".repeat(64),
    vector: Array.from(
      Float32Array.from({ length: dim }, (_, position) => Math.sin(index + position)),
    ),
  }));
}

let folder: string;
beforeEach(async () => {
  folder = await mkdtemp(path.join(tmpdir(), "gembed-bulk-"));
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe("the local rows file", () => {
  it("holds exactly what the SDK's own BulkWriter writes for the gembed schema", async () => {
    const dim = 128;
    const rows = sampleRows(5, dim);

    const file = await LocalRowsFile.open(path.join(folder, "ours.json"), {
      model: "gemini-embedding-001",
      dim,
    });
    await file.append(rows);
    await file.commit();
    const ours = JSON.parse(await readFile(file.path, "utf8")) as { rows: EmbeddingRow[] };

    const sdk = await loadMilvusSdk();
    const writer = new sdk.BulkWriter({
      schema: { fields: collectionFields(dim), enable_dynamic_field: false },
      format: "json",
      localPath: path.join(folder, "sdk"),
    });
    for (const row of rows) await writer.append({ ...row });
    const batches = await writer.close();
    const written = batches.flat();
    expect(written).toHaveLength(1);
    const theirs = JSON.parse(await readFile(written[0]!, "utf8")) as { rows: EmbeddingRow[] };

    expect(Object.keys(ours)).toEqual(Object.keys(theirs));
    expect(ours.rows).toHaveLength(theirs.rows.length);
    ours.rows.forEach((row, index) => {
      expect(row).toEqual(theirs.rows[index]);
    });
  });
});

describe("writeBulkImportFiles: the SDK's BulkWriter", () => {
  it("writes JSON rows that read back as the rows given", async () => {
    const rows = sampleRows(7, 64);
    const files = await writeBulkImportFiles(rows, {
      out: path.join(folder, "rows.json"),
      dim: 64,
    });
    expect(files).toEqual([path.join(folder, "rows.json")]);
    const read = JSON.parse(await readFile(files[0]!, "utf8")) as { rows: EmbeddingRow[] };
    expect(read.rows).toEqual(rows);
    // Only the file is left: the staging folder is gone.
    expect(await readdir(folder)).toEqual(["rows.json"]);
  });

  it("writes Parquet that pyarrow reads back: every field, vectors as float32 lists, metadata as JSON text", async () => {
    const rows = sampleRows(9, 96);
    const out = path.join(folder, "rows.parquet");
    const files = await writeBulkImportFiles(rows, { out, dim: 96 });
    expect(files).toEqual([out]);
    const read = await readParquet(out);
    expect(read).toHaveLength(rows.length);
    read.forEach((each, index) => {
      const { metadata, ...rest } = each;
      expect({ ...rest, metadata: JSON.parse(String(metadata)) }).toEqual(rows[index]);
    });
  });

  it("splits into numbered files past chunkSize, and refuses a row the schema does not fit", async () => {
    const rows = sampleRows(40, 256);
    const files = await writeBulkImportFiles(rows, {
      out: path.join(folder, "many.parquet"),
      dim: 256,
      chunkSize: 8 * 1024,
    });
    expect(files.length).toBeGreaterThan(1);
    expect(files[0]).toBe(path.join(folder, "many-1.parquet"));
    const all = await readParquet(...files);
    expect(all.map((each) => each.id)).toEqual(rows.map((row) => row.id));

    await expect(
      writeBulkImportFiles([{ ...rows[0]!, vector: [1, 2, 3] }], {
        out: path.join(folder, "bad.json"),
        dim: 256,
      }),
    ).rejects.toThrow(/dim|vector|256/i);
  });
});

describe("gembed ingest --out x.parquet", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it("writes a Parquet bulk-import file through the BulkWriter, and keeps the rows file search reads", async () => {
    const env = cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url, GEMINI_API_KEY: "key" });
    const input = [
      { id: "ai", text: "Artificial intelligence was founded as an academic discipline in 1956." },
      { id: "turing", text: "Born in Maida Vale, London, Turing was raised in southern England." },
    ]
      .map((row) => JSON.stringify(row))
      .join("\n");
    const ingest = await runCli(
      ["ingest", "-", "--out", "docs.parquet", "--dim", "128", "--json", "--no-progress"],
      { cwd: folder, env, input },
    );
    expect(ingest.code).toBe(0);
    expect(JSON.parse(ingest.stdout)).toMatchObject({ written: 2, target: "docs.parquet" });
    const read = await readParquet(path.join(folder, "docs.parquet"));
    expect(read.map((each) => each.id)).toEqual(["ai", "turing"]);
    expect((read[0]!.vector as number[]).length).toBe(128);
    expect(JSON.parse(String(read[1]!.metadata))).toMatchObject({ document_id: "turing" });

    const search = await runCli(
      ["search", "Where was Turing born?", "--file", "docs.parquet.rows.json", "--json"],
      { cwd: folder, env },
    );
    expect(search.code).toBe(0);
    const hits = (JSON.parse(search.stdout) as { hits: { id: string }[] }).hits;
    expect(hits[0]!.id).toBe("turing");
  });
});
