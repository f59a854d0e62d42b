/**
 * GeminiClient figures, against local node:http servers (no network):
 * - files.upload of a 256 MiB file from a path in 8 MiB chunks: throughput and the peak RSS
 *   growth (the file must never sit in memory);
 * - batchEmbedContents of 100 texts answered with 100 x 3072 values: calls per second and ms per
 *   call (dominated by JSON.parse of ~6 MB).
 */
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GeminiClient } from "gembed";

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function uploadFigures(): Promise<void> {
  const size = Number(process.env.GEMBED_BENCH_UPLOAD_MIB ?? 256) * 1024 * 1024;
  const folder = await mkdtemp(join(tmpdir(), "gembed-bench-"));
  const path = join(folder, "big.jsonl");
  const block = Buffer.alloc(1024 * 1024, 0x61);
  await new Promise<void>((resolve, reject) => {
    const out = createWriteStream(path);
    out.on("error", reject);
    let written = 0;
    const write = () => {
      while (written < size) {
        written += block.length;
        if (!out.write(block)) {
          out.once("drain", write);
          return;
        }
      }
      out.end(resolve);
    };
    write();
  });
  let received = 0;
  let chunks = 0;
  const server = createServer((request, response) => {
    if (request.headers["x-goog-upload-command"] === "start") {
      request.resume();
      request.on("end", () => {
        response.writeHead(200, { "x-goog-upload-url": `${url}/session` });
        response.end("{}");
      });
      return;
    }
    request.on("data", (piece: Buffer) => {
      received += piece.length;
    });
    request.on("end", () => {
      chunks++;
      const final = String(request.headers["x-goog-upload-command"]).includes("finalize");
      response.writeHead(200, { "x-goog-upload-status": final ? "final" : "active" });
      response.end(
        final ? JSON.stringify({ file: { name: "files/big", sizeBytes: String(received) } }) : "",
      );
    });
  });
  const url = await listen(server);
  const client = new GeminiClient({ apiKey: "bench", baseUrl: url });
  (globalThis as { gc?: () => void }).gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  const started = performance.now();
  const file = await client.files.upload(path);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  server.close();
  await rm(folder, { recursive: true, force: true });
  console.log(
    `upload ${size / 1024 / 1024} MiB from a path, 8 MiB chunks: ${chunks} requests, ${(size / 1024 / 1024 / seconds).toFixed(0)} MiB/s, ` +
      `peak RSS growth ${((peak - baseline) / 1024 / 1024).toFixed(1)} MiB (file ${file.sizeBytes} bytes)`,
  );
}

async function embedFigures(): Promise<void> {
  const values = Array.from({ length: 3072 }, (_, index) => Math.sin(index) / 55);
  const answer = JSON.stringify({ embeddings: Array.from({ length: 100 }, () => ({ values })) });
  const server = createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(answer);
    });
  });
  const url = await listen(server);
  const client = new GeminiClient({ apiKey: "bench", baseUrl: url });
  const requests = Array.from({ length: 100 }, (_, index) => ({
    content: { parts: [{ text: `text number ${index} with a few words in it` }] },
  }));
  for (let index = 0; index < 3; index++)
    await client.batchEmbedContents("gemini-embedding-001", requests);
  const calls = 30;
  const started = performance.now();
  for (let index = 0; index < calls; index++) {
    await client.batchEmbedContents("gemini-embedding-001", requests);
  }
  const elapsed = performance.now() - started;
  server.close();
  console.log(
    `batchEmbedContents 100 x 3072 (${(answer.length / 1024 / 1024).toFixed(1)} MB answer), sequential: ` +
      `${(elapsed / calls).toFixed(1)} ms per call, ${((calls * 100 * 1000) / elapsed).toFixed(0)} texts/s`,
  );
}

export default async function (): Promise<void> {
  await uploadFigures();
  await embedFigures();
}
