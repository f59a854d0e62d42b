import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readLines, writeAtomicStream } from "./storage.js";

const folders: string[] = [];
afterEach(async () => {
  await Promise.all(
    folders.splice(0).map((folder) => rm(folder, { recursive: true, force: true })),
  );
});

async function folder(): Promise<string> {
  const made = await mkdtemp(path.join(tmpdir(), "gembed-storage-"));
  folders.push(made);
  return made;
}

async function collect(file: string, skip?: number): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of readLines(file, skip)) lines.push(line);
  return lines;
}

describe("readLines", () => {
  it("reads lines lazily, skips the first ones, keeps a last line without newline", async () => {
    const dir = await folder();
    const file = path.join(dir, "lines.txt");
    await writeFile(file, "zero\none\n\nthree\r\nfour");
    expect(await collect(file)).toEqual(["zero", "one", "", "three\r", "four"]);
    expect(await collect(file, 2)).toEqual(["", "three\r", "four"]);
    expect(await collect(file, 5)).toEqual([]);
    expect(await collect(file, 9)).toEqual([]);
    await writeFile(file, "");
    expect(await collect(file)).toEqual([]);
  });

  it("joins lines longer than a read chunk and multi-byte characters split across chunks", async () => {
    const dir = await folder();
    const file = path.join(dir, "long.txt");
    // 1 MiB chunks: "é" (2 bytes) lands across the boundary at 1 MiB with a 1-byte prefix.
    const long = `x${"é".repeat(1_500_000)}`;
    const skipped = "s".repeat(3_000_000);
    await writeFile(file, `${skipped}\n${long}\nend\n`);
    const lines = await collect(file, 1);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(long);
    expect(lines[1]).toBe("end");
  });
});

describe("writeAtomicStream", () => {
  it("writes every chunk, and on a failing source leaves the old file and no temporary", async () => {
    const dir = await folder();
    const file = path.join(dir, "out.jsonl");
    await writeAtomicStream(
      file,
      (async function* () {
        yield "a\n";
        yield Buffer.from("b\n");
      })(),
    );
    expect(await readFile(file, "utf8")).toBe("a\nb\n");
    await expect(
      writeAtomicStream(
        file,
        (async function* () {
          yield "partial\n";
          throw new Error("source broke");
        })(),
      ),
    ).rejects.toThrow("source broke");
    expect(await readFile(file, "utf8")).toBe("a\nb\n");
    expect(await readdir(dir)).toEqual(["out.jsonl"]);
  });
});
