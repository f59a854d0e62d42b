/**
 * `npm run bench -- multimodal`: media inputs of gemini-embedding-2 against the local server.
 * - image ingest throughput, inline (base64 in batchEmbedContents) versus through the Files API
 *   (every image uploaded, then referenced by fileData), images/s and MB/s;
 * - memory of `gembed ingest`'s media path (find, hash, read per step, upload, embed, rows file)
 *   over a folder of large video files: peak RSS and heap above the start, sampled every 10 ms.
 * The local server runs in this process, so its work (decoding, hashing, storing uploads) is in
 * both the time and the memory figures.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ingestDocuments, LocalRowsFile, localRowsSink } from "@gembed/ingest";
import { startServer } from "@gembed/server";
import { GeminiEmbeddingFunction } from "gembed";
import { mediaAwareEmbedder, splitMediaInputs } from "../../packages/cli/src/media-sources.js";
import { mp4, png } from "../../test/support/media-fixtures.js";

const DIM = 768;
const IMAGES = 400;
const IMAGE_BYTES = 100_000;
const VIDEOS = 12;
const VIDEO_BYTES = 24 * 1024 * 1024;

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export default async function (): Promise<void> {
  const folder = await mkdtemp(path.join(tmpdir(), "gembed-bench-media-"));
  const server = await startServer({ dataDir: path.join(folder, "server") });
  try {
    const images = Array.from({ length: IMAGES }, (_, index) => ({
      media: { mimeType: "image/png", data: png(index, IMAGE_BYTES) },
    }));
    const megabytes = (IMAGES * IMAGE_BYTES) / 1e6;
    for (const [label, maxBytesPerCall] of [
      ["inline", undefined],
      ["via files", 2048],
    ] as const) {
      const ef = new GeminiEmbeddingFunction({
        modelName: "gemini-embedding-2",
        baseUrl: server.url,
        apiKey: "bench",
        config: { outputDimensionality: DIM },
        quota: false,
        ...(maxBytesPerCall ? { maxBytesPerCall } : {}),
      });
      const before = server.stats();
      const started = performance.now();
      const vectors = await ef.encodeDocuments(images);
      const ms = performance.now() - started;
      const after = server.stats();
      console.log(
        `image ingest ${label}: ${vectors.length} images of ${IMAGE_BYTES / 1000} kB in ${ms.toFixed(0)} ms (${((vectors.length / ms) * 1000).toFixed(0)} images/s, ${((megabytes / ms) * 1000).toFixed(1)} MB/s); ${after.byEndpoint.batchEmbedContents! - (before.byEndpoint.batchEmbedContents ?? 0)} embedding calls, ${after.filesUploaded - before.filesUploaded} uploads`,
      );
    }

    const videos = path.join(folder, "videos");
    await mkdir(videos);
    for (let index = 0; index < VIDEOS; index++) {
      await writeFile(path.join(videos, `clip-${index}.mp4`), mp4(30, false, index, VIDEO_BYTES));
    }
    gc();
    const base = process.memoryUsage();
    let peakRss = base.rss;
    let peakHeap = base.heapUsed;
    const sampler = setInterval(() => {
      const now = process.memoryUsage();
      peakRss = Math.max(peakRss, now.rss);
      peakHeap = Math.max(peakHeap, now.heapUsed);
    }, 10);
    const started = performance.now();
    const ef = new GeminiEmbeddingFunction({
      modelName: "gemini-embedding-2",
      baseUrl: server.url,
      apiKey: "bench",
      config: { outputDimensionality: DIM },
      quota: false,
    });
    const split = await splitMediaInputs([videos], ef.modelName);
    const file = await LocalRowsFile.open(path.join(folder, "rows.json"), {
      model: ef.modelName,
      dim: DIM,
    });
    const summary = await ingestDocuments(split.documents, {
      embedder: mediaAwareEmbedder(ef, split.files),
      sink: localRowsSink(file),
    });
    await file.commit();
    clearInterval(sampler);
    const total = (VIDEOS * VIDEO_BYTES) / 1024 / 1024;
    console.log(
      `folder of ${VIDEOS} videos of ${VIDEO_BYTES / 1024 / 1024} MiB (${total} MiB): ${summary.written} rows in ${(performance.now() - started).toFixed(0)} ms, ${ef.uploads.uploads} uploads; peak RSS +${((peakRss - base.rss) / 1024 / 1024).toFixed(0)} MiB, peak heap +${((peakHeap - base.heapUsed) / 1024 / 1024).toFixed(0)} MiB above the start`,
    );
  } finally {
    await server.close();
    await rm(folder, { recursive: true, force: true });
  }
}
