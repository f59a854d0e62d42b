/**
 * Issue #15 leftovers, as users meet them: a rows part or journal line that is not a row, a full
 * disk while the state index is written, the progress unit of a small corpus, and `.gitignore`
 * for media globs and folders. Real CLI runs against the local server, in real folders; the full
 * disk is a real tmpfs (mounted for the test: root on Linux, skipped elsewhere).
 */
import { execFileSync } from "node:child_process";
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type EmbeddingRow, RowParts, RowsFileWriteError, StateIndex } from "@gembed/ingest";
import { describe, expect, it } from "vitest";
import { byteScale } from "../packages/cli/src/progress.js";
import { folder, run, server, useCliFixture } from "./support/cli-fixture.js";
import { png, wav } from "./support/media-fixtures.js";
import { canMount } from "./support/mount.js";

useCliFixture("gembed-leftovers-", "leftovers-key");

const ingestArgs = ["--out", "rows.json", "--dim", "128", "--chunk-tokens", "64", "--json"];

/** Two Markdown files of several chunks each (64-token chunks). */
async function writeCorpus(): Promise<void> {
  await mkdir(path.join(folder, "docs"));
  const paragraphs = (name: string) =>
    Array.from(
      { length: 12 },
      (_, index) => `${name} paragraph ${index} tells about vectors and indexes.`,
    ).join("\n\n");
  await writeFile(path.join(folder, "docs", "a.md"), `# Alpha\n\n${paragraphs("Alpha")}\n`);
  await writeFile(path.join(folder, "docs", "b.md"), `# Beta\n\n${paragraphs("Beta")}\n`);
}

const summaryOf = (stdout: string) => JSON.parse(stdout) as Record<string, number | string>;

describe("rows parts and journals: lines that are not rows", { timeout: 90_000 }, () => {
  it("a damaged line in a sealed part is a RowsFileError naming file:line (ingest before paying, search too), not a row lost in silence", async () => {
    await writeCorpus();
    const first = await run(["ingest", "docs", ...ingestArgs]);
    expect(first.code, first.stderr).toBe(0);
    const out = path.join(folder, "rows.json");
    const lines = (await readFile(out, "utf8")).split("\n");
    // Line 3 (the second row) torn in the middle, as a disk error or a hand edit leaves it.
    lines[2] = lines[2]!.slice(0, 40);
    await writeFile(out, lines.join("\n"));
    // The index is rebuilt from the parts (as after a crash mid-update): the parts are read.
    await rm(`${out}.index`);
    const textsBefore = server.stats().texts;
    const rerun = await run(["ingest", "docs", ...ingestArgs]);
    expect(rerun.code).toBe(2);
    expect(rerun.stderr).toContain(`RowsFileError: ${out}:3: not valid JSON`);
    expect(rerun.stderr).toContain("delete that line and the .index file");
    expect(server.stats().texts).toBe(textsBefore);
    // Nothing was rewritten: the other rows are still there for the user to repair.
    expect((await readFile(out, "utf8")).split("\n")).toEqual(lines);

    const search = await run(["search", "vectors", "--file", "rows.json", "--dim", "128"]);
    expect(search.code).toBe(2);
    expect(search.stderr).toContain(`${out}:3: not valid JSON`);
  });

  it("a journal's torn last line is dropped without a word; a line before it that is not a row is dropped with a warning naming file:line, and the rows after it are kept", async () => {
    await writeCorpus();
    const first = await run(["ingest", "docs", ...ingestArgs]);
    expect(first.code, first.stderr).toBe(0);
    const chunks = Number(summaryOf(first.stdout).chunks);
    const out = path.join(folder, "rows.json");
    const rowLines = (await readFile(out, "utf8"))
      .split("\n")
      .slice(1, -2)
      .map((line) => line.trim().replace(/,$/, ""));
    expect(rowLines).toHaveLength(chunks);
    // What an unfinished run left in the journal of part 2: two rows paid for, a write torn by a
    // crash that a later run appended after (line 2), and a torn last line (line 4).
    const journal = path.join(folder, "rows-2.json.partial.jsonl");
    await writeFile(
      journal,
      `${rowLines[0]},\n{"id":"docs/a.md#5","text":"Alph\n${rowLines[1]},\n${rowLines[2]!.slice(0, 30)}`,
    );
    const textsBefore = server.stats().texts;
    const rerun = await run(["ingest", "docs", ...ingestArgs]);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).toContain(
      `gembed: warning: ${journal}:2: 1 line(s) dropped that are not rows (not valid JSON`,
    );
    expect(rerun.stderr).not.toContain(`${journal}:4`);
    expect(summaryOf(rerun.stdout)).toMatchObject({ chunks, unchanged: chunks, embedded: 0 });
    expect(server.stats().texts).toBe(textsBefore);
    // The journal went into part 1, without the dropped lines: one whole, readable rows file.
    const rows = (JSON.parse(await readFile(out, "utf8")) as { rows: EmbeddingRow[] }).rows;
    expect(rows).toHaveLength(chunks);
    expect(new Set(rows.map((row) => row.id)).size).toBe(chunks);
    await expect(readFile(journal)).rejects.toThrow(/ENOENT/);
    const again = await run(["ingest", "docs", ...ingestArgs]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain("warning");
  });

  it("a file that is not a rows file at --out is refused, not overwritten", async () => {
    await writeCorpus();
    const out = path.join(folder, "rows.json");
    const pretty = `${JSON.stringify({ rows: [] }, null, 2)}\n`;
    await writeFile(out, pretty);
    const result = await run(["ingest", "docs", ...ingestArgs]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${out} is not a rows file of gembed ingest`);
    expect(await readFile(out, "utf8")).toBe(pretty);
  });
});

describe.runIf(canMount())("a full disk while the state index is written", () => {
  it("names the index file in a RowsFileWriteError; the rows written before are kept", async (context) => {
    const mountPoint = await mkdtemp(path.join(tmpdir(), "gembed-index-full-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mountPoint]);
    context.onTestFinished(async () => {
      // Lazy: a file a failed assertion left open does not keep the mount.
      execFileSync("umount", ["-l", mountPoint]);
      await rm(mountPoint, { recursive: true, force: true });
    });
    const out = path.join(mountPoint, "rows.json");
    const row = (id: string): EmbeddingRow => ({
      id,
      text: `text of ${id}`,
      title: "",
      metadata: { document_id: id },
      content_hash: "0".repeat(64),
      vector: [0.6, 0.8],
    });
    const parts = await RowParts.open(out, { model: "m", dim: 2 });
    await parts.append([row("first")]);
    // Every block of the disk taken: a write that needs a new page of the disk fails.
    const filler = path.join(mountPoint, "filler");
    for (const size of [65_536, 4096]) {
      for (;;) {
        try {
          await appendFile(filler, Buffer.alloc(size, 1));
        } catch {
          break;
        }
      }
    }
    // Five rows fit in the journal's page already on disk; their index slots (spread over the
    // sparse index file by their ids' hashes) need pages of their own.
    const rows = ["b", "c", "d", "e", "f"].map(row);
    const error = await parts.append(rows).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RowsFileWriteError);
    expect((error as RowsFileWriteError).code).toBe("ENOSPC");
    expect((error as Error).message).toBe(
      `cannot write ${out}.index: no space left on the device (ENOSPC); the rows written before are kept`,
    );
    parts.close();
    // With room again, the rows appended before are all there.
    await rm(filler);
    const reopened = await RowParts.open(out, { model: "m", dim: 2 });
    expect([...reopened.lookup(["first", "b", "f"]).keys()]).toEqual(["first", "b", "f"]);
    reopened.close();
  });

  it("a new index on a full disk names its file too", async (context) => {
    const mountPoint = await mkdtemp(path.join(tmpdir(), "gembed-index-full-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mountPoint]);
    context.onTestFinished(async () => {
      // Lazy: a file a failed assertion left open does not keep the mount.
      execFileSync("umount", ["-l", mountPoint]);
      await rm(mountPoint, { recursive: true, force: true });
    });
    for (;;) {
      try {
        await appendFile(path.join(mountPoint, "filler"), Buffer.alloc(4096, 1));
      } catch {
        break;
      }
    }
    const file = path.join(mountPoint, "rows.json.index");
    const error = (() => {
      try {
        StateIndex.open(file);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(RowsFileWriteError);
    expect((error as Error).message).toContain(`cannot write ${file}: no space left on the device`);
  });
});

describe("progress of a small corpus", { timeout: 90_000 }, () => {
  it("counts bytes under 1 KB and KB under 1 MB, never 0/0 MB", async () => {
    await mkdir(path.join(folder, "tiny"));
    await writeFile(path.join(folder, "tiny", "a.txt"), "A short note about vectors.\n");
    const tiny = await run(["ingest", "tiny", "--out", "tiny.json", "--dim", "128"]);
    expect(tiny.code, tiny.stderr).toBe(0);
    expect(tiny.stderr).toMatch(/ingest: 28\/28 bytes \(1 documents, 1 chunks, /);
    expect(tiny.stderr).not.toContain(" MB ");

    await writeCorpus();
    const small = await run(["ingest", "docs", "--out", "small.json", "--dim", "128"]);
    expect(small.code, small.stderr).toBe(0);
    const [, done, total] = /ingest: ([\d.]+)\/([\d.]+) KB \(2 documents/.exec(small.stderr) ?? [];
    expect(Number(total)).toBeGreaterThan(1);
    expect(done).toBe(total);
  });

  it("keeps MB from 1 MB up, and KB for standard input (its size is not known beforehand)", () => {
    expect(byteScale(3 * 1024 * 1024, false).unit).toBe("MB");
    expect(byteScale(3 * 1024 * 1024, false).of(1.5 * 1024 * 1024)).toBe(1.5);
    expect(byteScale(0, true).unit).toBe("KB");
    expect(byteScale(2048, false).of(1536)).toBe(1.5);
  });
});

describe("media globs and folders honour .gitignore as text ones do", { timeout: 90_000 }, () => {
  async function shop(): Promise<void> {
    await mkdir(path.join(folder, "shop", "photos"), { recursive: true });
    await mkdir(path.join(folder, "shop", "private"));
    await writeFile(path.join(folder, "shop", ".gitignore"), "private/\n*.wav\n");
    await writeFile(path.join(folder, "shop", "photos", "boot.png"), png(1));
    await writeFile(path.join(folder, "shop", "private", "secret.png"), png(2));
    await writeFile(path.join(folder, "shop", "private", "secret.md"), "# Secret\n\nHidden.\n");
    await writeFile(path.join(folder, "shop", "jingle.wav"), wav(1));
    await writeFile(path.join(folder, "shop", "notes.md"), "# Notes\n\nBoots sell in winter.\n");
  }
  const media = ["--model", "gemini-embedding-2", "--dim", "256", "--no-progress", "--json"];
  const storedIds = async (file: string) =>
    (JSON.parse(await readFile(path.join(folder, file), "utf8")) as { rows: EmbeddingRow[] }).rows
      .map((row) => row.id)
      .sort();

  it("a glob leaves out what the .gitignore files of its fixed part ignore", async () => {
    await shop();
    const globbed = await run(["ingest", "shop/**/*.{png,wav,md}", "--out", "g.json", ...media]);
    expect(globbed.code, globbed.stderr).toBe(0);
    expect(await storedIds("g.json")).toEqual(["shop/notes.md", "shop/photos/boot.png"]);
  });

  it("a folder leaves out the media its .gitignore files ignore", async () => {
    await shop();
    const whole = await run(["ingest", "shop", "--out", "f.json", ...media]);
    expect(whole.code, whole.stderr).toBe(0);
    expect(await storedIds("f.json")).toEqual(["shop/notes.md", "shop/photos/boot.png"]);
  });

  it("a glob whose every match is ignored matches no file, as a text glob does", async () => {
    await shop();
    const ignored = await run(["ingest", "shop/*.wav", "--out", "i.json", ...media]);
    expect(ignored.code).toBe(2);
    expect(ignored.stderr).toContain("shop/*.wav: the pattern matches no file");
  });
});
