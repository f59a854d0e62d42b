import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { EmbeddingRow } from "@gembed/ingest";
import { type RunningServer, startServer } from "@gembed/server";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cleanEnvironment, runCli, spawnCli } from "./cli-run.js";

let server: RunningServer;
let folder: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.close();
});
beforeEach(async (context) => {
  folder = await mkdtemp(path.join(tmpdir(), "gembed-cli-"));
  env = cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url, GEMINI_API_KEY: "cli-test-key" });
  context.onTestFinished(() => rm(folder, { recursive: true, force: true }));
});

async function readRows(file: string): Promise<EmbeddingRow[]> {
  return (JSON.parse(await readFile(path.join(folder, file), "utf8")) as { rows: EmbeddingRow[] })
    .rows;
}

const paragraph = (index: number) =>
  `Paragraph ${index} explains how vector databases index embeddings for retrieval number ${index}.`;

describe("gembed ingest and search over the local rows file", () => {
  it("ingests a folder and JSONL, splits long documents, then writes nothing new on a second run", async () => {
    await mkdir(path.join(folder, "docs"));
    await writeFile(
      path.join(folder, "docs", "turing.md"),
      "# Alan Turing\n\nBorn in Maida Vale, London, Turing was raised in southern England.\n",
    );
    await writeFile(
      path.join(folder, "docs", "long.txt"),
      Array.from({ length: 40 }, (_, index) => paragraph(index)).join("\n\n"),
    );
    await writeFile(
      path.join(folder, "extra.jsonl"),
      `${JSON.stringify({ id: "ai", text: "Artificial intelligence was founded as an academic discipline in 1956.", metadata: { lang: "en" } })}\n`,
    );
    const first = await runCli(
      ["ingest", "docs", "extra.jsonl", "--dim", "768", "--chunk-tokens", "200", "--json"],
      { cwd: folder, env },
    );
    expect(first.stderr).not.toContain("cli-test-key");
    expect(first.code).toBe(0);
    const summary = JSON.parse(first.stdout) as Record<string, number | string>;
    expect(summary).toMatchObject({ documents: 3, unchanged: 0, removed: 0 });
    expect(summary.chunks).toBeGreaterThan(4);
    expect(summary.written).toBe(summary.chunks);
    // Progress over the stream: source kilobytes read (a corpus under 1 MB) of the first pass's
    // total, and counts.
    expect(first.stderr).toMatch(/ingest: [\d.]+\/[\d.]+ KB \(\d+ documents, \d+ chunks, /);

    const rows = await readRows("gembed.json");
    expect(rows).toHaveLength(Number(summary.chunks));
    const ids = rows.map((row) => row.id);
    expect(ids).toContain("docs/turing.md");
    expect(ids).toContain("ai");
    expect(ids).toContain("docs/long.txt#0");
    expect(ids.filter((id) => id.startsWith("docs/long.txt#"))).toHaveLength(
      Number(summary.chunks) - 2,
    );
    for (const row of rows) expect(row.vector).toHaveLength(768);
    const turing = rows.find((row) => row.id === "docs/turing.md")!;
    expect(turing.title).toBe("Alan Turing");
    expect(rows.find((row) => row.id === "ai")!.metadata).toMatchObject({
      lang: "en",
      source: "extra.jsonl:1",
    });
    // The vector is the normalized Matryoshka cut of gemini-embedding-001: unit length.
    expect(Math.hypot(...turing.vector)).toBeCloseTo(1, 4);

    const textsBefore = server.stats().texts;
    const fileBefore = await stat(path.join(folder, "gembed.json"));
    const second = await runCli(
      ["ingest", "docs", "extra.jsonl", "--dim", "768", "--chunk-tokens", "200", "--json"],
      { cwd: folder, env },
    );
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({
      unchanged: summary.chunks,
      embedded: 0,
      written: 0,
    });
    expect(server.stats().texts).toBe(textsBefore);
    // Nothing written means the file itself is left alone (not rewritten through a rename).
    const fileAfter = await stat(path.join(folder, "gembed.json"));
    expect(fileAfter.ino).toBe(fileBefore.ino);
    expect(fileAfter.mtimeMs).toBe(fileBefore.mtimeMs);

    // A changed document is embedded again, alone; a shorter one loses its stale chunks.
    await writeFile(
      path.join(folder, "docs", "turing.md"),
      "# Alan Turing\n\nTuring was born in Maida Vale, London.\n",
    );
    await writeFile(
      path.join(folder, "docs", "long.txt"),
      [paragraph(0), paragraph(1)].join("\n\n"),
    );
    const third = await runCli(
      ["ingest", "docs", "extra.jsonl", "--dim", "768", "--chunk-tokens", "200", "--json"],
      { cwd: folder, env },
    );
    expect(third.code).toBe(0);
    const thirdSummary = JSON.parse(third.stdout) as Record<string, number>;
    expect(thirdSummary).toMatchObject({ chunks: 3, unchanged: 1, embedded: 2, written: 2 });
    expect(thirdSummary.removed).toBe(Number(summary.chunks) - 2);
    expect((await readRows("gembed.json")).map((row) => row.id).sort()).toEqual([
      "ai",
      "docs/long.txt",
      "docs/turing.md",
    ]);
  });

  it("a JSONL row whose metadata alone changed is written again with its vector, without an embedding", async () => {
    const jsonl = (rows: Record<string, unknown>[]) =>
      writeFile(
        path.join(folder, "rows.jsonl"),
        `${rows.map((row) => JSON.stringify(row)).join("\n")}\n`,
      );
    const ai = "Artificial intelligence was founded as an academic discipline in 1956.";
    const turing = "Alan Turing was the first person to conduct substantial research in AI.";
    await jsonl([
      { id: "ai", text: ai, title: "AI", metadata: { lang: "en", year: 1956, tags: ["history"] } },
      { id: "turing", text: turing, metadata: { lang: "en" } },
    ]);
    const ingest = () =>
      runCli(["ingest", "rows.jsonl", "--dim", "256", "--json", "--no-progress"], {
        cwd: folder,
        env,
      });
    const first = await ingest();
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ embedded: 2, updated: 0, written: 2 });
    const before = new Map((await readRows("gembed.json")).map((row) => [row.id, row]));

    // The same data with its keys in another order is no change.
    await jsonl([
      { id: "ai", title: "AI", text: ai, metadata: { tags: ["history"], year: 1956, lang: "en" } },
      { id: "turing", text: turing, metadata: { lang: "en" } },
    ]);
    const reordered = await ingest();
    expect(JSON.parse(reordered.stdout)).toMatchObject({ unchanged: 2, updated: 0, written: 0 });

    // Only the metadata of "ai" changes: no text is embedded, the file holds the new metadata.
    await jsonl([
      {
        id: "ai",
        text: ai,
        title: "AI",
        metadata: { lang: "en", year: 1956, tags: ["history", "dartmouth"], reviewed: true },
      },
      { id: "turing", text: turing, metadata: { lang: "en" } },
    ]);
    const textsBefore = server.stats().texts;
    const second = await ingest();
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({
      chunks: 2,
      unchanged: 1,
      embedded: 0,
      updated: 1,
      written: 1,
    });
    expect(server.stats().texts - textsBefore).toBe(0);
    const after = new Map((await readRows("gembed.json")).map((row) => [row.id, row]));
    expect(after.get("ai")!.metadata).toEqual({
      lang: "en",
      year: 1956,
      tags: ["history", "dartmouth"],
      reviewed: true,
      source: "rows.jsonl:1",
      document_id: "ai",
      chunk: 0,
      chunks: 1,
    });
    expect(after.get("ai")!.vector).toEqual(before.get("ai")!.vector);
    expect(after.get("ai")!.content_hash).toBe(before.get("ai")!.content_hash);
    expect(after.get("turing")).toEqual(before.get("turing"));

    // The human summary says so too; a third run finds everything as the input says.
    const third = await runCli(["ingest", "rows.jsonl", "--dim", "256", "--no-progress"], {
      cwd: folder,
      env,
    });
    expect(third.stdout).toContain("2 unchanged, 0 embedded, 0 written");
    await jsonl([{ id: "ai", text: ai, title: "AI", metadata: {} }]);
    const fourth = await runCli(["ingest", "rows.jsonl", "--dim", "256", "--no-progress"], {
      cwd: folder,
      env,
    });
    expect(fourth.stdout).toContain("0 embedded, 1 metadata-only (not embedded), 1 written");
    expect(server.stats().texts - textsBefore).toBe(0);
  });

  it("a run that embeds nothing (no API key) leaves no rows file behind", async () => {
    await writeFile(path.join(folder, "a.txt"), "Some text to embed.\n");
    const noKey = await runCli(["ingest", "a.txt", "--no-progress"], {
      cwd: folder,
      env: cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url }),
    });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain("No Gemini API key");
    await expect(stat(path.join(folder, "gembed.json"))).rejects.toThrow(/ENOENT/);
    await expect(stat(path.join(folder, "gembed.json.gembed.json"))).rejects.toThrow(/ENOENT/);
  });

  it("searches the file by exact cosine, with --limit, --filter and --json", async () => {
    const rows = [
      {
        id: "ai",
        text: "Artificial intelligence was founded as an academic discipline in 1956.",
        metadata: { lang: "en" },
      },
      {
        id: "turing-ai",
        text: "Alan Turing was the first person to conduct substantial research in AI.",
        metadata: { lang: "en" },
      },
      {
        id: "turing-born",
        text: "Born in Maida Vale, London, Turing was raised in southern England.",
        metadata: { lang: "fr" },
      },
    ];
    const ingest = await runCli(["ingest", "-", "--collection", "seed"], {
      cwd: folder,
      env,
      input: rows.map((row) => JSON.stringify(row)).join("\n"),
    });
    expect(ingest.code).toBe(0);
    expect(ingest.stdout).toContain("3 written");

    const search = await runCli(
      [
        "search",
        "When was artificial intelligence founded",
        "--collection",
        "seed",
        "--limit",
        "2",
      ],
      { cwd: folder, env },
    );
    expect(search.code).toBe(0);
    const lines = search.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^1\. \d\.\d{4} {2}ai$/);
    expect(lines[2]).toMatch(/^2\. /);
    expect(lines).toHaveLength(4);

    const json = await runCli(
      [
        "search",
        "Where was Alan Turing born?",
        "--file",
        "seed.json",
        "--filter",
        'metadata["lang"] == "en"',
        "--json",
      ],
      { cwd: folder, env },
    );
    expect(json.code).toBe(0);
    const result = JSON.parse(json.stdout) as {
      hits: { id: string; score: number; rank: number }[];
    };
    expect(result.hits.map((hit) => hit.id).sort()).toEqual(["ai", "turing-ai"]);
    expect(result.hits[0]!.score).toBeGreaterThanOrEqual(result.hits[1]!.score);

    // Vectors of another model or dim cannot be compared with the file's: refused, exit 2,
    // before any query is embedded (same dim 3072, another model, would give scores of noise).
    const textsBefore = server.stats().texts;
    for (const mismatch of [
      ["--model", "gemini-embedding-2"],
      ["--dim", "768"],
    ]) {
      const refused = await runCli(["search", "Turing", "--file", "seed.json", ...mismatch], {
        cwd: folder,
        env,
      });
      expect(refused.code, mismatch.join(" ")).toBe(2);
      expect(refused.stderr).toMatch(
        /^gembed: RowsFileError: .*seed\.json holds gemini-embedding-001 vectors of dim 3072; a query embedded with .* cannot be compared with them/,
      );
    }
    expect(server.stats().texts).toBe(textsBefore);
    const sameModel = await runCli(
      ["search", "Turing", "--file", "seed.json", "--model", "models/gemini-embedding-001"],
      { cwd: folder, env },
    );
    expect(sameModel.code).toBe(0);
    // Ingesting into the file at another dim is bad usage too (exit 2), not a run-time failure.
    const otherDim = await runCli(["ingest", "-", "--collection", "seed", "--dim", "768"], {
      cwd: folder,
      env,
      input: JSON.stringify(rows[0]),
    });
    expect(otherDim.code).toBe(2);
    expect(otherDim.stderr).toContain("RowsFileError: ");
  });

  it("--batch embeds through the Batch API and gives the rows the synchronous path gives", async () => {
    await writeFile(
      path.join(folder, "rows.jsonl"),
      Array.from({ length: 5 }, (_, index) =>
        JSON.stringify({ id: `r${index}`, text: paragraph(index), title: `T${index}` }),
      ).join("\n"),
    );
    const batchesBefore = server.stats().batchesCreated;
    const batch = await runCli(
      [
        "ingest",
        "rows.jsonl",
        "--batch",
        "--poll-interval",
        "20",
        "--max-poll-interval",
        "200",
        "--out",
        "batch.json",
        "--dim",
        "768",
        "--json",
      ],
      {
        cwd: folder,
        env,
      },
    );
    expect(batch.code).toBe(0);
    expect(JSON.parse(batch.stdout)).toMatchObject({ embedded: 5, written: 5 });
    expect(server.stats().batchesCreated).toBe(batchesBefore + 1);
    const sync = await runCli(["ingest", "rows.jsonl", "--out", "sync.json", "--dim", "768"], {
      cwd: folder,
      env,
    });
    expect(sync.code).toBe(0);
    expect(server.stats().batchesCreated).toBe(batchesBefore + 1);
    const batchRows = await readRows("batch.json");
    const syncRows = await readRows("sync.json");
    expect(batchRows.map((row) => row.id)).toEqual(syncRows.map((row) => row.id));
    batchRows.forEach((row, index) => {
      expect(row.content_hash).toBe(syncRows[index]!.content_hash);
      expect(row.vector).toEqual(syncRows[index]!.vector);
    });
  });

  it("stops on Ctrl-C after the current step, keeps what was written and exits 130", async () => {
    const slow = await startServer({ faults: { latencyMs: 150 } });
    try {
      await writeFile(
        path.join(folder, "rows.jsonl"),
        // Three calls of 100 texts (what one embedding call takes), one at a time.
        Array.from({ length: 300 }, (_, index) =>
          JSON.stringify({ id: `row-${index}`, text: paragraph(index) }),
        ).join("\n"),
      );
      const { child, done } = spawnCli(
        ["ingest", "rows.jsonl", "--dim", "256", "--batch-size", "10", "--concurrency", "1"],
        {
          cwd: folder,
          env: { ...env, GOOGLE_GEMINI_BASE_URL: slow.url },
        },
      );
      const journal = path.join(folder, "gembed.json.partial.jsonl");
      for (let tries = 0; tries < 400; tries++) {
        if (
          await stat(journal).then(
            () => true,
            () => false,
          )
        )
          break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      child.kill("SIGINT");
      const result = await done;
      expect(result.code).toBe(130);
      expect(result.stderr).toContain("interrupted");
      expect(result.stderr).not.toMatch(/\n\s+at /);
      // The journal was merged into the file on the way out.
      await expect(stat(journal)).rejects.toThrow();
      const rows = await readRows("gembed.json");
      expect(rows.length).toBeGreaterThanOrEqual(10);
      expect(rows.length).toBeLessThan(300);
      expect(rows.length % 10).toBe(0);
    } finally {
      await slow.close();
    }
  });

  it("finishes an interrupted ingest with a second run that embeds only what is missing", async () => {
    const slow = await startServer({ faults: { latencyMs: 150 } });
    try {
      const slowEnv = { ...env, GOOGLE_GEMINI_BASE_URL: slow.url };
      const count = 120;
      await writeFile(
        path.join(folder, "rows.jsonl"),
        Array.from({ length: count }, (_, index) =>
          JSON.stringify({ id: `row-${index}`, text: paragraph(index) }),
        ).join("\n"),
      );
      const args = [
        "ingest",
        "rows.jsonl",
        "--dim",
        "256",
        "--batch-size",
        "10",
        "--concurrency",
        "1",
        "--json",
      ];
      const { child, done } = spawnCli(args, { cwd: folder, env: slowEnv });
      const journal = path.join(folder, "gembed.json.partial.jsonl");
      // Kill it hard once some steps are on disk, so nothing gets a chance to tidy up.
      for (let tries = 0; tries < 400; tries++) {
        const size = await stat(journal).then(
          (info) => info.size,
          () => 0,
        );
        if (size > 0 && (await readFile(journal, "utf8")).split("\n").length > 30) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      child.kill("SIGKILL");
      const killed = await done;
      expect(killed.signal).toBe("SIGKILL");
      // Row lines (the journal starts with the part's `{"rows":[` header).
      const journaled = (await readFile(journal, "utf8"))
        .split("\n")
        .filter((line) => line.startsWith('{"id"')).length;
      expect(journaled).toBeGreaterThanOrEqual(30);
      expect(journaled).toBeLessThan(count);

      // The killed run's last request may still be in the server's latency wait: let it land.
      await new Promise((resolve) => setTimeout(resolve, 600));
      const textsBefore = slow.stats().texts;
      const again = await runCli(args, { cwd: folder, env: slowEnv });
      expect(again.code).toBe(0);
      const summary = JSON.parse(again.stdout) as Record<string, number>;
      expect(summary.unchanged).toBe(journaled);
      expect(summary.embedded).toBe(count - journaled);
      expect(slow.stats().texts - textsBefore).toBe(count - journaled);
      const rows = await readRows("gembed.json");
      expect(new Set(rows.map((row) => row.id)).size).toBe(count);
      await expect(stat(journal)).rejects.toThrow();
    } finally {
      await slow.close();
    }
  });
});
