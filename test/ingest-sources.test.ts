import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { contentHash, readSources, SourceError } from "@gembed/ingest";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

let folder: string;
beforeEach(async () => {
  folder = await mkdtemp(path.join(tmpdir(), "gembed-sources-"));
  await mkdir(path.join(folder, "docs", "sub"), { recursive: true });
  await writeFile(path.join(folder, "docs", "a.md"), "# Alpha doc\n\nAlpha body.");
  await writeFile(path.join(folder, "docs", "sub", "b.txt"), "Beta body.");
  await writeFile(path.join(folder, "docs", "ignored.json"), "{}");
  await writeFile(
    path.join(folder, "rows.jsonl"),
    '{"id": 1, "text": "one", "title": "One", "metadata": {"lang": "en"}}\n\n{"id": "two", "text": "two"}\n',
  );
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe("readSources", () => {
  it("reads folders, JSONL files and globs with ids relative to the folder", async () => {
    const documents = await readSources(["docs", "rows.jsonl"], { cwd: folder });
    expect(documents.map((document) => document.id)).toEqual([
      "docs/a.md",
      "docs/sub/b.txt",
      "1",
      "two",
    ]);
    expect(documents[0]).toMatchObject({ title: "Alpha doc", source: "docs/a.md" });
    expect(documents[1]?.title).toBeUndefined();
    expect(documents[2]).toEqual({
      id: "1",
      text: "one",
      title: "One",
      metadata: { lang: "en" },
      source: "rows.jsonl:1",
    });
    expect(documents[3]?.source).toBe("rows.jsonl:3");
    const globbed = await readSources(["docs/**/*.txt"], { cwd: folder });
    expect(globbed.map((document) => document.id)).toEqual(["docs/sub/b.txt"]);
  });

  it("reads standard input as JSONL or as one text", async () => {
    const jsonl = await readSources(["-"], {
      cwd: folder,
      stdin: Readable.from(['{"id":"x","text":"from stdin"}\n']),
    });
    expect(jsonl).toEqual([{ id: "x", text: "from stdin", source: "stdin:1" }]);
    const plain = await readSources(["-"], { cwd: folder, stdin: Readable.from(["plain words"]) });
    expect(plain).toEqual([{ id: "stdin", text: "plain words", source: "stdin" }]);
  });

  it("collects every problem into one SourceError", async () => {
    await writeFile(
      path.join(folder, "bad.jsonl"),
      '{"id":"1","text":""}\nnot json\n{"text":"no id"}\n{"id":"two","text":"dup"}\n',
    );
    const error = await readSources(["rows.jsonl", "bad.jsonl", "missing.md"], {
      cwd: folder,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SourceError);
    const issues = (error as SourceError).issues;
    expect(issues.map((issue) => issue.source)).toEqual([
      "bad.jsonl:1",
      "bad.jsonl:2",
      "bad.jsonl:3",
      "missing.md",
      "bad.jsonl:4",
    ]);
    expect(issues[4]?.reason).toContain('duplicate id "two"');
  });

  it("refuses a binary file (a PDF or an image matched by a glob) instead of embedding noise", async () => {
    await writeFile(
      path.join(folder, "docs", "scan.pdf"),
      Buffer.from([0x25, 0x50, 0x44, 0x46, 0, 1, 2]),
    );
    const error = await readSources(["docs/*"], { cwd: folder }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).issues).toEqual([
      { source: "docs/scan.pdf", reason: "not a text file (binary content)" },
    ]);
  });

  it("says what is wrong with a JSONL row's text or id, and refuses an empty JSONL file", async () => {
    await writeFile(
      path.join(folder, "worse.jsonl"),
      [
        '{"id":"a"}',
        '{"id":"b","text":42}',
        '{"id":"c","text":"  "}',
        '{"id":"d","text":null}',
        '{"id":[1],"text":"x"}',
        '{"text":"no id"}',
      ].join("\n"),
    );
    await writeFile(path.join(folder, "empty.jsonl"), "\n\n");
    const error = await readSources(["worse.jsonl", "empty.jsonl"], { cwd: folder }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).issues).toEqual([
      { source: "worse.jsonl:1", reason: '"text" is missing' },
      { source: "worse.jsonl:2", reason: '"text" must be a string, got number' },
      { source: "worse.jsonl:3", reason: '"text" is empty or whitespace-only' },
      { source: "worse.jsonl:4", reason: '"text" must be a string, got null' },
      {
        source: "worse.jsonl:5",
        reason: '"id" must be a non-empty string or a number, got an array',
      },
      { source: "worse.jsonl:6", reason: '"id" is missing' },
      { source: "empty.jsonl", reason: "no rows (empty file)" },
    ]);
  });
});

describe("contentHash", () => {
  it("changes with the text, the title, the model and the dim, and only with them", () => {
    const base = { text: "t", title: "a", model: "m", dim: 8 };
    const hash = contentHash(base);
    expect(contentHash({ ...base })).toBe(hash);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    for (const changed of [
      { ...base, text: "u" },
      { ...base, title: "b" },
      { ...base, model: "n" },
      { ...base, dim: 16 },
      { ...base, title: undefined, text: "at" },
    ]) {
      expect(contentHash(changed)).not.toBe(hash);
    }
  });

  it("stays the hash every earlier output and collection holds (a new one would re-pay them all)", () => {
    // SHA-256 of the JSON array [model, dim, title, text], as `sha256sum` gives it for
    // ["gemini-embedding-001",768,"Intro","héllo \"world\"\n😀"]; not computed by the code checked.
    expect(
      contentHash({
        text: 'héllo "world"\n😀',
        title: "Intro",
        model: "gemini-embedding-001",
        dim: 768,
      }),
    ).toBe("7905bdcdb4d1091d8e8ea852a75e16b9805f3f9afd9b08c3c02d12d2f428d80f");
  });
});
