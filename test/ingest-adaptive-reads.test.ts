/**
 * The first pass's (and the second pass's) reads of small files: synchronous while calls are
 * fast, asynchronous once slow calls are not rare, and the same plan and chunks either way.
 * Against real files in a temporary folder (a slow file system cannot be staged here: the
 * threshold is lowered instead, so every call counts as slow).
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { SourceError } from "@gembed/ingest";
import { beforeEach, describe, expect, it } from "vitest";
import { AdaptiveReads, SLOW_CALLS, TURN_MS } from "../packages/ingest/src/adaptive-reads.js";
import { FingerprintSet } from "../packages/ingest/src/fingerprint-set.js";
import { planSources, streamChunks } from "../packages/ingest/src/stream-sources.js";

let folder: string;

beforeEach(async (context) => {
  folder = await mkdtemp(path.join(tmpdir(), "gembed-adaptive-reads-"));
  context.onTestFinished(() => rm(folder, { recursive: true, force: true }));
});

describe("AdaptiveReads", () => {
  it("stays synchronous on a fast disk and reads what the file holds", async () => {
    const file = path.join(folder, "a.txt");
    await writeFile(file, "hello");
    const reads = new AdaptiveReads();
    for (let round = 0; round < 50; round++) {
      expect(await reads.readWith(file, (bytes) => bytes.toString())).toBe("hello");
      expect((await reads.stat(file)).size).toBe(5);
      expect((await reads.lstat(file)).isSymbolicLink()).toBe(false);
    }
    expect(reads.sync).toBe(true);
    // One buffer for every file: each sees its own bytes, whatever the size before it.
    const sizes = [3, 200_000, 10, 0, 70_000, 5];
    for (const [index, size] of sizes.entries()) {
      await writeFile(path.join(folder, `f${index}`), Buffer.alloc(size, 97 + index));
    }
    for (const [index, size] of sizes.entries()) {
      const seen = await reads.readWith(path.join(folder, `f${index}`), (bytes) =>
        Buffer.from(bytes),
      );
      expect(seen.equals(Buffer.alloc(size, 97 + index))).toBe(true);
    }
  });

  it("turns asynchronous at the SLOW_CALLS-th slow call, and reads the same after", async () => {
    const file = path.join(folder, "a.txt");
    await writeFile(file, "hello");
    const reads = new AdaptiveReads({ slowMs: Number.NEGATIVE_INFINITY });
    for (let call = 1; call < SLOW_CALLS; call++) {
      await reads.stat(file);
      expect(reads.sync).toBe(true);
    }
    await reads.stat(file);
    expect(reads.sync).toBe(false);
    expect(await reads.readWith(file, (bytes) => bytes.toString())).toBe("hello");
  });

  it("a failing synchronous call is a rejected promise with the system's error, not a throw", async () => {
    const reads = new AdaptiveReads();
    const missing = path.join(folder, "missing.txt");
    let pending: Promise<unknown> | undefined;
    expect(() => {
      pending = reads.readWith(missing, (bytes) => bytes.length);
    }).not.toThrow();
    await expect(pending).rejects.toMatchObject({ code: "ENOENT", path: missing });
    await expect(reads.stat(missing)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("pieces: a file's bytes in order, two files read at once each whole, and the rest as a stream once calls turn slow", async () => {
    const big = Buffer.alloc(2_500_000);
    for (let index = 0; index < big.length; index++)
      big[index] = (index * 7 + (index >> 12)) & 0xff;
    const other = Buffer.alloc(1_300_000, 0x41);
    await writeFile(path.join(folder, "big.bin"), big);
    await writeFile(path.join(folder, "other.bin"), other);
    const collect = async (pieces: AsyncIterable<Uint8Array>) => {
      const copies: Buffer[] = [];
      // Copied at once: a piece is valid until the next is asked for.
      for await (const piece of pieces) copies.push(Buffer.from(piece));
      return Buffer.concat(copies);
    };
    const reads = new AdaptiveReads();
    expect((await collect(reads.pieces(path.join(folder, "big.bin")))).equals(big)).toBe(true);
    // Interleaved: each generator reads into a buffer of its own.
    const first = reads.pieces(path.join(folder, "big.bin"));
    const second = reads.pieces(path.join(folder, "other.bin"));
    const parts: [Buffer[], Buffer[]] = [[], []];
    for (let done = [false, false]; !done[0] || !done[1]; ) {
      for (const [which, generator] of [first, second].entries()) {
        if (done[which]) continue;
        const next = await generator.next();
        if (next.done) done[which] = true;
        else parts[which]!.push(Buffer.from(next.value));
      }
    }
    expect(Buffer.concat(parts[0]).equals(big)).toBe(true);
    expect(Buffer.concat(parts[1]).equals(other)).toBe(true);
    expect(reads.sync).toBe(true);
    // Every call slow: after SLOW_CALLS pieces the rest of the file comes from a stream.
    const slow = new AdaptiveReads({ slowMs: Number.NEGATIVE_INFINITY });
    expect((await collect(slow.pieces(path.join(folder, "big.bin")))).equals(big)).toBe(true);
    expect(slow.sync).toBe(false);
    expect((await collect(slow.pieces(path.join(folder, "other.bin")))).equals(other)).toBe(true);
  });

  it("gives the event loop a turn once TURN_MS have passed, and none before", async () => {
    const reads = new AdaptiveReads();
    let ran = false;
    setImmediate(() => {
      ran = true;
    });
    await reads.turn();
    expect(ran).toBe(false);
    const until = performance.now() + TURN_MS + 5;
    while (performance.now() < until) {
      // Busy, as a run of synchronous reads is.
    }
    await reads.turn();
    expect(ran).toBe(true);
  });
});

describe("planSources and streamChunks with synchronous, asynchronous and switching reads", () => {
  it("find the same files, problems, links not followed and chunks", async () => {
    const corpus = path.join(folder, "corpus");
    await mkdir(path.join(corpus, "sub"), { recursive: true });
    for (let index = 0; index < 40; index++) {
      await writeFile(
        path.join(corpus, index % 2 === 0 ? "sub" : "", `doc-${index}.md`),
        `# Doc ${index}\n\n${"Words of the document. ".repeat(20 + index)}`,
      );
    }
    await writeFile(path.join(corpus, "binary.txt"), Buffer.from([1, 2, 0, 3]));
    await writeFile(path.join(corpus, "latin.txt"), Buffer.from("caf\xe9", "latin1"));
    await writeFile(path.join(corpus, "blank.txt"), "\u00a0\u2003 \n");
    await writeFile(path.join(corpus, "empty.md"), "");
    await mkdir(path.join(folder, "outside"));
    await writeFile(path.join(folder, "outside", "secret.md"), "not in the corpus");
    await symlink(path.join(folder, "outside"), path.join(corpus, "link"));

    const run = async (reads: { sync?: boolean; slowMs?: number }) => {
      const skipped: string[] = [];
      const plan = await planSources(["corpus"], {
        cwd: folder,
        reads,
        onSkip: (issue) => skipped.push(`${issue.source}: ${issue.reason}`),
      });
      const chunks: string[] = [];
      for await (const item of streamChunks(plan, { reads })) {
        if (item.unchanged === undefined) chunks.push(`${item.chunk.id} ${item.chunk.text}`);
      }
      const failed = await planSources(["corpus"], { cwd: folder, reads }).catch(
        (error: unknown) => error,
      );
      expect(failed).toBeInstanceOf(SourceError);
      return {
        files: plan.files.map((file) => file.id),
        bytes: plan.bytes,
        skipped,
        issues: (failed as SourceError).issues.map((issue) => `${issue.source}: ${issue.reason}`),
        chunks,
      };
    };
    const synchronous = await run({});
    expect(synchronous.files).toHaveLength(40);
    expect(synchronous.skipped).toEqual([
      expect.stringMatching(/^corpus\/link: a symbolic link to .*outside/),
      "corpus/binary.txt: not a text file (binary content)",
      "corpus/blank.txt: empty file",
      "corpus/empty.md: empty file",
      "corpus/latin.txt: not valid UTF-8 at byte 3 (--encoding latin1 reads Latin-1 files)",
    ]);
    expect(synchronous.chunks.some((chunk) => chunk.includes("not in the corpus"))).toBe(false);
    expect(await run({ sync: false })).toEqual(synchronous);
    expect(await run({ slowMs: Number.NEGATIVE_INFINITY })).toEqual(synchronous);
  });
});

describe("a first pass stopped by its signal (Ctrl-C during a rerun's first pass)", () => {
  it("rejects with the abort at its next read, and reads no further", async () => {
    const corpus = path.join(folder, "corpus");
    await mkdir(corpus);
    for (let index = 0; index < 40; index++) {
      await writeFile(path.join(corpus, `doc-${index}.md`), `# Doc ${index}\n\nText ${index}.`);
    }
    const aborted = new AbortController();
    aborted.abort();
    await expect(
      planSources(["corpus"], { cwd: folder, signal: aborted.signal }),
    ).rejects.toMatchObject({ name: "AbortError" });

    // Aborted by the first lookup of a rerun's check: the files after it are not checked.
    const controller = new AbortController();
    let checks = 0;
    const error = await planSources(["corpus"], {
      cwd: folder,
      signal: controller.signal,
      unchanged: {
        read: new FingerprintSet(),
        check: async () => {
          checks++;
          controller.abort();
          return true;
        },
      },
    }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: "AbortError" });
    // The files inspected ahead when it came, at most, not the 40.
    expect(checks).toBeGreaterThan(0);
    expect(checks).toBeLessThan(12);
  });
});
