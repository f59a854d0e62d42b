/**
 * `gembed ingest` / `search` / `embed --file` with images, PDFs and audio (gemini-embedding-2),
 * as a user runs them, against the real local server: one row per media file with its path,
 * MIME type and size, search over them by text, and text-only models refusing media by name.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { EmbeddingRow } from "@gembed/ingest";
import { type RunningServer, startServer } from "@gembed/server";
import { GeminiEmbeddingFunction } from "gembed";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cleanEnvironment, runCli } from "./cli-run.js";
import { jpeg, mp4, pdf, png, wav } from "./support/media-fixtures.js";
import { milvusUri, uniqueCollection } from "./support/milvus.js";

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
  folder = await mkdtemp(path.join(tmpdir(), "gembed-media-cli-"));
  env = cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url, GEMINI_API_KEY: "media-cli-key" });
  context.onTestFinished(() => rm(folder, { recursive: true, force: true }));
});

async function mixedFolder(): Promise<void> {
  await mkdir(path.join(folder, "shop", "photos"), { recursive: true });
  await writeFile(path.join(folder, "shop", "photos", "boot.png"), png(1));
  await writeFile(path.join(folder, "shop", "photos", "sandal.JPG"), jpeg(2));
  await writeFile(path.join(folder, "shop", "manual.pdf"), pdf(2));
  await writeFile(path.join(folder, "shop", "jingle.wav"), wav(4));
  await writeFile(
    path.join(folder, "shop", "notes.md"),
    "# Notes\n\nThe leather boots sell best in winter.\n",
  );
}

const MEDIA = ["--model", "gemini-embedding-2", "--dim", "256", "--no-progress"];

describe("gembed ingest with media files", () => {
  it("ingests a mixed folder (a row per file with path, MIME type and size), again writes nothing, and search returns the files", async () => {
    await mixedFolder();
    const first = await runCli(["ingest", "shop", ...MEDIA, "--json"], { cwd: folder, env });
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ documents: 5, chunks: 5, written: 5 });
    const rows = (
      JSON.parse(await readFile(path.join(folder, "gembed.json"), "utf8")) as {
        rows: EmbeddingRow[];
      }
    ).rows;
    const byPath = new Map(rows.map((row) => [String(row.metadata?.path ?? row.id), row]));
    expect(byPath.get("shop/photos/boot.png")?.metadata).toMatchObject({
      path: "shop/photos/boot.png",
      mimeType: "image/png",
      sizeBytes: png(1).length,
    });
    expect(byPath.get("shop/photos/sandal.JPG")?.metadata).toMatchObject({
      mimeType: "image/jpeg",
    });
    expect(byPath.get("shop/manual.pdf")?.metadata).toMatchObject({ mimeType: "application/pdf" });
    expect(byPath.get("shop/jingle.wav")?.metadata).toMatchObject({ mimeType: "audio/wav" });
    expect(rows.every((row) => row.vector.length === 256)).toBe(true);
    // Each media row holds the vector of its file's bytes, not of its text.
    const ef = new GeminiEmbeddingFunction({
      modelName: "gemini-embedding-2",
      baseUrl: server.url,
      apiKey: "media-cli-key",
      config: { outputDimensionality: 256 },
    });
    const [boot, sandal] = await ef.encodeDocuments([
      { media: { mimeType: "image/png", data: png(1) } },
      { media: { mimeType: "image/jpeg", data: jpeg(2) } },
    ]);
    const stored = (id: string) => byPath.get(id)?.vector ?? [];
    for (const [id, vector] of [
      ["shop/photos/boot.png", boot],
      ["shop/photos/sandal.JPG", sandal],
    ] as const) {
      const row = stored(id);
      let dot = 0;
      for (let index = 0; index < 256; index++) dot += (row[index] ?? 0) * (vector?.[index] ?? 0);
      expect(dot).toBeCloseTo(1, 4);
    }

    const second = await runCli(["ingest", "shop", ...MEDIA, "--json"], { cwd: folder, env });
    expect(JSON.parse(second.stdout)).toMatchObject({ unchanged: 5, embedded: 0, written: 0 });

    // A changed photo is embedded again; the rest is not.
    await writeFile(path.join(folder, "shop", "photos", "boot.png"), png(9));
    const third = await runCli(["ingest", "shop", ...MEDIA, "--json"], { cwd: folder, env });
    expect(JSON.parse(third.stdout)).toMatchObject({ embedded: 1, unchanged: 4 });

    const search = await runCli(
      [
        "search",
        "leather boot photo",
        "--model",
        "gemini-embedding-2",
        "--dim",
        "256",
        "--limit",
        "5",
        "--json",
      ],
      { cwd: folder, env },
    );
    expect(search.code).toBe(0);
    const found = JSON.stringify(JSON.parse(search.stdout));
    for (const name of ["boot.png", "sandal.JPG", "manual.pdf", "jingle.wav", "notes.md"]) {
      expect(found).toContain(name);
    }
  });

  it("with a text-only model: a named media file is refused naming gemini-embedding-2; folders leave media out and say so", async () => {
    await mixedFolder();
    const textsBefore = server.stats().texts;
    const named = await runCli(
      ["ingest", "shop/photos/boot.png", "--dim", "256", "--no-progress"],
      {
        cwd: folder,
        env,
      },
    );
    expect(named.code).toBe(2);
    expect(named.stderr).toMatch(
      /boot\.png: .*gemini-embedding-001 takes text only; use --model gemini-embedding-2/,
    );
    const globbed = await runCli(["ingest", "shop/**/*.png", "--dim", "256", "--no-progress"], {
      cwd: folder,
      env,
    });
    expect(globbed.code).toBe(2);
    expect(globbed.stderr).toMatch(/gemini-embedding-2/);
    expect(server.stats().texts).toBe(textsBefore);
    const folderRun = await runCli(["ingest", "shop", "--dim", "256", "--no-progress", "--json"], {
      cwd: folder,
      env,
    });
    expect(folderRun.code).toBe(0);
    expect(folderRun.stderr).toMatch(
      /4 image, PDF, audio or video file\(s\) in the folders left out.*gemini-embedding-2/,
    );
    expect(JSON.parse(folderRun.stdout)).toMatchObject({ documents: 1, written: 1 });
  });
});

describe("gembed ingest with media files into Milvus Lite", () => {
  it("writes a row per file with its metadata, and search returns them", async () => {
    await mixedFolder();
    const name = uniqueCollection("media");
    const milvus = ["--milvus", milvusUri(), "--collection", name];
    const ingest = await runCli(["ingest", "shop", ...MEDIA, ...milvus, "--json"], {
      cwd: folder,
      env,
    });
    expect(ingest.stderr).toBe("");
    expect(ingest.code).toBe(0);
    expect(JSON.parse(ingest.stdout)).toMatchObject({ documents: 5, written: 5 });
    const search = await runCli(["search", "leather boot", ...milvus, "--limit", "10", "--json"], {
      cwd: folder,
      env,
    });
    expect(search.code).toBe(0);
    const hits = (
      JSON.parse(search.stdout) as { hits: { id: string; metadata: Record<string, unknown> }[] }
    ).hits;
    const boot = hits.find((hit) => hit.id.startsWith("shop/photos/boot.png"));
    expect(boot?.metadata).toMatchObject({
      path: "shop/photos/boot.png",
      mimeType: "image/png",
      sizeBytes: png(1).length,
    });
    expect(hits.map((hit) => hit.id.split("#")[0]).sort()).toEqual([
      "shop/jingle.wav",
      "shop/manual.pdf",
      "shop/notes.md",
      "shop/photos/boot.png",
      "shop/photos/sandal.JPG",
    ]);
  });
});

describe("gembed ingest with large media files", () => {
  it("streams a large video to the Files API after checking its header, and refuses one over the limit", async () => {
    await mkdir(path.join(folder, "clips"));
    // 3 MiB: over the size sent inline; the moov box (the length) comes after the mdat.
    await writeFile(path.join(folder, "clips", "ok.mp4"), mp4(60, false, 1, 3 * 1024 * 1024));
    const uploadsBefore = server.stats().filesUploaded;
    const ok = await runCli(["ingest", "clips", ...MEDIA, "--json"], { cwd: folder, env });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ documents: 1, written: 1 });
    expect(server.stats().filesUploaded).toBe(uploadsBefore + 1);
    await writeFile(path.join(folder, "clips", "long.mp4"), mp4(95, true, 2, 3 * 1024 * 1024));
    const refused = await runCli(["ingest", "clips", ...MEDIA], { cwd: folder, env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /clips\/long\.mp4: video of 95\.0 s is over the limit of 80 s with an audio track/,
    );
    expect(server.stats().filesUploaded).toBe(uploadsBefore + 1);
  });
});

describe("gembed embed --file", () => {
  it("prints one vector per file with its MIME type and size", async () => {
    await writeFile(path.join(folder, "photo.jpg"), jpeg(7));
    const result = await runCli(
      [
        "embed",
        "a caption",
        "--file",
        "photo.jpg",
        "--model",
        "gemini-embedding-2",
        "--dim",
        "128",
        "--json",
      ],
      { cwd: folder, env },
    );
    expect(result.code).toBe(0);
    const answer = JSON.parse(result.stdout) as {
      embeddings: {
        text?: string;
        file?: string;
        mimeType?: string;
        sizeBytes?: number;
        values: number[];
      }[];
    };
    expect(answer.embeddings).toHaveLength(2);
    expect(answer.embeddings[1]).toMatchObject({
      file: "photo.jpg",
      mimeType: "image/jpeg",
      sizeBytes: jpeg(7).length,
    });
    expect(answer.embeddings[1]?.values).toHaveLength(128);
    const refused = await runCli(["embed", "--file", "photo.jpg", "--dim", "128"], {
      cwd: folder,
      env,
    });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/gemini-embedding-2/);
  });
});
