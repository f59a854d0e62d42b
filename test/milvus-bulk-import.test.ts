import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type EmbeddingRow, LocalRowsFile } from "@gembed/ingest";
import { collectionFields, loadMilvusSdk } from "@gembed/milvus";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

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
    const rows: EmbeddingRow[] = Array.from({ length: 5 }, (_, index) => ({
      id: `doc-${index}#0`,
      text: `Text ${index} with "quotes", ünïcödé and a newline\n.`,
      title: index % 2 === 0 ? `Title ${index}` : "",
      metadata: { source: `doc-${index}.md`, document_id: `doc-${index}`, chunk: 0, chunks: 1 },
      content_hash: "a".repeat(64),
      vector: Array.from(
        Float32Array.from({ length: dim }, (_, position) => Math.sin(index + position)),
      ),
    }));

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
