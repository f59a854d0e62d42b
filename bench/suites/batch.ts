/**
 * Batch API figures, against the local Gemini-compatible server run in a child process (so the
 * memory figures are the client's alone):
 * - API calls and bytes sent for 100,000 texts through the Batch API (inline and JSONL file) and
 *   through the synchronous path (`batchEmbedContents` by 100);
 * - peak memory (RSS) while collecting a 100,000-line responses file, streamed line by line
 *   (goal: flat, under 200 MB whatever the file's size).
 *
 * `GEMBED_BENCH_BATCH_TEXTS` changes the number of texts (default 100000).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath, pathToFileURL } from "node:url";
import { GeminiClient, GeminiEmbeddingFunction } from "gembed";
import { requestsOf } from "gembed/internal";
import { BatchJob } from "../../packages/gembed/src/batch/batch-job.js";
import { encodeWithBatchApiDetailed } from "../../packages/gembed/src/batch/encode-batch.js";
import { planBatchJobs } from "../../packages/gembed/src/batch/input.js";

const COUNT = Number(process.env.GEMBED_BENCH_BATCH_TEXTS ?? 100_000);
const MiB = 1024 * 1024;

async function startChildServer(): Promise<{ url: string; child: ChildProcess }> {
  const server = pathToFileURL(
    fileURLToPath(new URL("../../packages/server/src/index.ts", import.meta.url)),
  ).href;
  const code = `const { startServer } = await import(${JSON.stringify(server)});
const running = await startServer({ batch: { delayPerItemMs: 0 } });
console.log(running.url);
process.on("SIGTERM", async () => { await running.close(); process.exit(0); });`;
  const child = spawn(
    process.execPath,
    ["--conditions=@gembed/source", "--import", "tsx", "--input-type=module", "--eval", code],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const [first] = (await once(child.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
  return { url: first.toString("utf8").trim(), child };
}

/** A fetch that counts calls and request body bytes, passing everything to the real fetch. */
function countingFetch() {
  const counts = { calls: 0, bytesSent: 0 };
  const counted: typeof fetch = async (input, init) => {
    counts.calls++;
    const body = init?.body;
    if (typeof body === "string") counts.bytesSent += Buffer.byteLength(body);
    else if (body instanceof Uint8Array) counts.bytesSent += body.byteLength;
    else if (body instanceof ArrayBuffer) counts.bytesSent += body.byteLength;
    else if (body instanceof Blob) counts.bytesSent += body.size;
    return fetch(input, init);
  };
  return { counts, fetch: counted };
}

function texts(count: number): string[] {
  return Array.from(
    { length: count },
    (_, index) =>
      `document ${index}: a short text about topic ${index % 97} and word ${index % 1013}`,
  );
}

function row(name: string, calls: number, bytes: number, seconds: number): string {
  return `${name.padEnd(34)} ${String(calls).padStart(7)} ${(bytes / MiB).toFixed(1).padStart(10)} ${seconds.toFixed(1).padStart(8)}`;
}

/** Peak RSS while streaming the results of a COUNT-line responses file (256 values a line). */
async function collectFigures(url: string, docs: string[]): Promise<void> {
  const client = new GeminiClient({ baseUrl: url, apiKey: "bench" });
  const ef = new GeminiEmbeddingFunction({
    client,
    config: { outputDimensionality: 256 },
    quota: false,
  });
  const job = await BatchJob.create(client, {
    model: ef.modelName,
    requests: docs.map((text) => requestsOf(ef).buildRequest(text, "RETRIEVAL_DOCUMENT")),
    mode: "file",
  });
  await job.wait({ pollInterval: 200, maxPollInterval: 1_000 });
  const file = await client.files.get(job.output?.responsesFile as string);
  globalThis.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const heapBaseline = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  let heapPeak = heapBaseline;
  const started = performance.now();
  let lines = 0;
  let checksum = 0;
  for await (const result of job.results()) {
    if (result.values) checksum += requestsOf(ef).toVector(result.values)[0] as number;
    lines++;
    if (lines % 100 === 0) {
      const usage = process.memoryUsage();
      peak = Math.max(peak, usage.rss);
      heapPeak = Math.max(heapPeak, usage.heapUsed + usage.arrayBuffers);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `collect: ${lines} lines, responses file ${(Number(file.sizeBytes ?? 0) / MiB).toFixed(0)} MiB, ${seconds.toFixed(1)} s (${(lines / seconds).toFixed(0)} lines/s)`,
  );
  console.log(
    `collect: peak RSS ${(peak / MiB).toFixed(0)} MiB (before: ${(baseline / MiB).toFixed(0)} MiB, growth ${((peak - baseline) / MiB).toFixed(0)} MiB); JS heap + buffers peak growth ${((heapPeak - heapBaseline) / MiB).toFixed(0)} MiB; goal: flat, < 200 MiB (checksum ${checksum.toFixed(3)})`,
  );
}

export default async function (): Promise<void> {
  const { url, child } = await startChildServer();
  try {
    const docs = texts(COUNT);
    // Memory first, while the process is small.
    await collectFigures(url, docs);
    console.log(`\n${COUNT} texts, outputDimensionality 128, local server in a child process`);
    console.log(
      `${"path".padEnd(34)} ${"calls".padStart(7)} ${"MiB sent".padStart(10)} ${"seconds".padStart(8)}`,
    );
    const paths = [
      ["sync (batchEmbedContents by 100)", docs],
      ["batch API, auto", docs],
      ["batch API, auto, 1/4 of the texts", docs.slice(0, Math.floor(docs.length / 4))],
    ] as const;
    for (const [path, input] of paths) {
      const meter = countingFetch();
      const client = new GeminiClient({ baseUrl: url, apiKey: "bench", fetch: meter.fetch });
      const ef = new GeminiEmbeddingFunction({
        client,
        config: { outputDimensionality: 128 },
        quota: false,
      });
      const started = performance.now();
      let name: string = path;
      if (path.startsWith("sync")) {
        await ef.encodeDocuments([...input]);
      } else {
        // Over 20 MB inline, "auto" uploads a JSONL file.
        const mode = planBatchJobs(
          input.map((text) => requestsOf(ef).buildRequest(text, "RETRIEVAL_DOCUMENT")),
        )[0]?.mode;
        name = `${path} (${mode})`;
        await encodeWithBatchApiDetailed(ef, [...input], {
          taskType: "RETRIEVAL_DOCUMENT",
          pollInterval: 200,
          maxPollInterval: 1_000,
        });
      }
      console.log(
        row(name, meter.counts.calls, meter.counts.bytesSent, (performance.now() - started) / 1000),
      );
    }
  } finally {
    child.kill("SIGTERM");
    await once(child, "exit");
  }
}
