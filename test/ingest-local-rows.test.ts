import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { compileFilter, type EmbeddingRow, LocalRowsFile, RowsFileError } from "@gembed/ingest";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

let folder: string;
let file: string;
beforeEach(async () => {
  folder = await mkdtemp(path.join(tmpdir(), "gembed-rows-"));
  file = path.join(folder, "out", "rows.json");
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

const info = { model: "gemini-embedding-001", dim: 3 };
function row(id: string, vector: number[], metadata: EmbeddingRow["metadata"] = {}): EmbeddingRow {
  return { id, text: `text of ${id}`, title: "", metadata, content_hash: `hash-${id}`, vector };
}

describe("LocalRowsFile", () => {
  it("journals appended rows, commits them into a bulk-import file and reads them back", async () => {
    const rows = await LocalRowsFile.open(file, info);
    await rows.append([row("a", [1, 0, 0]), row("b", [0, 1, 0])]);
    expect(rows.pendingRows).toBe(2);
    expect((await readFile(rows.journalPath, "utf8")).trim().split("\n")).toHaveLength(2);
    await rows.commit();
    await expect(stat(rows.journalPath)).rejects.toThrow();
    const parsed = JSON.parse(await readFile(file, "utf8")) as { rows: EmbeddingRow[] };
    expect(Object.keys(parsed)).toEqual(["rows"]);
    expect(parsed.rows.map((each) => each.id)).toEqual(["a", "b"]);
    expect(parsed.rows[0]).toEqual(row("a", [1, 0, 0]));
    expect(JSON.parse(await readFile(rows.infoPath, "utf8"))).toEqual(info);

    const again = await LocalRowsFile.open(file);
    expect(again.info).toEqual(info);
    expect(again.contentHashes(["a", "b", "c"])).toEqual(
      new Map([
        ["a", "hash-a"],
        ["b", "hash-b"],
      ]),
    );
  });

  it("commit writes nothing when nothing changed, and merges a leftover journal", async () => {
    const fresh = await LocalRowsFile.open(file, info);
    await fresh.commit();
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
    await fresh.append([row("a", [1, 0, 0])]);
    await fresh.commit();
    const written = await stat(file);

    const unchanged = await LocalRowsFile.open(file, info);
    expect(unchanged.remove(["not-there"])).toBe(0);
    await unchanged.commit();
    const after = await stat(file);
    expect(after.ino).toBe(written.ino);
    expect(after.mtimeMs).toBe(written.mtimeMs);

    // A journal left by a crashed run is merged by the next commit, even with nothing new.
    await appendFile(`${file}.partial.jsonl`, `${JSON.stringify(row("b", [0, 1, 0]))}\n`);
    const leftover = await LocalRowsFile.open(file, info);
    await leftover.commit();
    const merged = JSON.parse(await readFile(file, "utf8")) as { rows: EmbeddingRow[] };
    expect(merged.rows.map((each) => each.id)).toEqual(["a", "b"]);
    await expect(stat(leftover.journalPath)).rejects.toThrow(/ENOENT/);

    // A removal is written.
    const shrinking = await LocalRowsFile.open(file, info);
    expect(shrinking.remove(["a"])).toBe(1);
    await shrinking.commit();
    const shrunk = JSON.parse(await readFile(file, "utf8")) as { rows: EmbeddingRow[] };
    expect(shrunk.rows.map((each) => each.id)).toEqual(["b"]);
  });

  it("recovers the whole lines of a journal torn by a crash", async () => {
    const rows = await LocalRowsFile.open(file, info);
    await rows.append([row("a", [1, 0, 0])]);
    await rows.commit();
    await rows.append([row("b", [0, 1, 0])]);
    // A crash in the middle of the next write leaves half a line.
    await writeFile(rows.journalPath, `${await readFile(rows.journalPath, "utf8")}{"id":"c","te`);
    const reopened = await LocalRowsFile.open(file, info);
    expect(reopened.size).toBe(2);
    expect(reopened.pendingRows).toBe(1);
    expect(reopened.get("b")?.vector).toEqual([0, 1, 0]);
    expect(reopened.get("c")).toBeUndefined();

    // The run after the crash appends, then crashes too before its commit: its rows must not be
    // glued to the torn line and lost.
    await reopened.append([row("d", [0, 0, 1])]);
    const third = await LocalRowsFile.open(file, info);
    expect(third.get("d")?.vector).toEqual([0, 0, 1]);
    expect(third.size).toBe(3);
  });

  it("refuses to extend a file made for another model or dim", async () => {
    const rows = await LocalRowsFile.open(file, info);
    await rows.append([row("a", [1, 0, 0])]);
    await rows.commit();
    await expect(LocalRowsFile.open(file, { ...info, dim: 4 })).rejects.toThrow(RowsFileError);
    await expect(
      LocalRowsFile.open(file, { ...info, model: "gemini-embedding-2" }),
    ).rejects.toThrow(/gemini-embedding-001 vectors of dim 3/);
    await expect(rows.append([row("x", [1, 2])])).rejects.toThrow(RangeError);
  });

  it("ranks by exact cosine similarity, applies filters and limits", async () => {
    const rows = await LocalRowsFile.open(file, info);
    await rows.append([
      row("x", [1, 0, 0], { lang: "en" }),
      row("xy", [1, 1, 0], { lang: "fr" }),
      row("y", [0, 2, 0], { lang: "en" }),
      row("neg", [-1, 0, 0], { lang: "en" }),
    ]);
    const hits = rows.search([2, 0, 0], { limit: 3 });
    expect(hits.map((hit) => hit.id)).toEqual(["x", "xy", "y"]);
    expect(hits[0]?.score).toBeCloseTo(1, 6);
    expect(hits[1]?.score).toBeCloseTo(Math.SQRT1_2, 6);
    expect(hits[2]?.score).toBeCloseTo(0, 6);
    const english = rows.search([2, 0, 0], { where: compileFilter('metadata["lang"] == "en"') });
    expect(english.map((hit) => hit.id)).toEqual(["x", "y", "neg"]);
    expect(english[2]?.score).toBeCloseTo(-1, 6);
    expect(() => rows.search([1, 0])).toThrow(RangeError);
    expect(() => rows.search([1, 0, 0], { limit: 0 })).toThrow(RangeError);
  });
});

describe("compileFilter", () => {
  const sample = row("docs/a.md#2", [1, 0, 0], { lang: "en", chunk: 2, nested: { tag: "x" } });
  it.each([
    ['id == "docs/a.md#2"', true],
    ['id != "docs/a.md#2"', false],
    ['id like "docs/%"', true],
    ['id like "doc_/a.md#_"', true],
    ['id like "other%"', false],
    ['metadata["lang"] in ["fr", "en"]', true],
    ['metadata["lang"] not in ["fr", "en"]', false],
    ['metadata["chunk"] >= 2 and metadata["chunk"] < 3', true],
    ['metadata["chunk"] > 2 || metadata["nested"]["tag"] == "x"', true],
    ['not (metadata["lang"] == "en")', false],
    ["metadata[\"missing\"] == 'x'", false],
  ])("%s is %s", (expression, expected) => {
    expect(compileFilter(expression)(sample)).toBe(expected);
  });

  it("rejects what it cannot read", () => {
    expect(() => compileFilter('id == "a" and')).toThrow(SyntaxError);
    expect(() => compileFilter("id ~ 3")).toThrow(SyntaxError);
    expect(() => compileFilter('id == "a" )')).toThrow(SyntaxError);
  });

  it("names an unknown field, and where it cannot read", () => {
    // Milvus refuses a field the collection does not have; a local filter must not match nothing.
    expect(() => compileFilter("lang == 'en'")).toThrow(
      /unknown field "lang" \(the fields are id, text, title, content_hash, metadata\["key"\]\)/,
    );
    expect(() => compileFilter('metadata["lang"] == "en" or source == "x"')).toThrow(
      /unknown field "source"/,
    );
    expect(() => compileFilter("id ~ 3")).toThrow('cannot read "~ 3" at character 4 of "id ~ 3"');
  });
});
