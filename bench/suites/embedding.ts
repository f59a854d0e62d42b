/**
 * GeminiEmbeddingFunction with its defaults (never told the quota, its window or a concurrency)
 * against what users pick today, side by side in one run, all pointed at `gembed serve` (in a
 * child process, one per tool and scenario) with the same settings:
 * - quota-bound: the server allows a fixed number of texts per window of 1 s, 2 s, 10 s or 60 s
 *   (with the 10 s and 60 s windows the tools run at once, each against its own server: they
 *   mostly wait, so they do not slow each other down);
 * - latency-bound: no quota, 150 ms + 1 ms per text, or 1,000 ms per call;
 * - faulty: 10% 503, 5% 500, 5% dropped connections, 3% short answers;
 * - client CPU: a 100 x 3072 answer into normalized Float32Arrays vs plain JSON.parse;
 * - memory: streaming 1,000,000 short texts at 768 dims (GEMBED_BENCH_STREAM_TEXTS to change).
 * Every vector is checked against the server's deterministic one (cosine >= 0.999).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { loadavg } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createGoogleGenerativeAI } from "@ai-sdk/google";
import { localEmbedding, type ServerOptions } from "@gembed/server";
import { GoogleGenAI } from "@google/genai";
import { GoogleGenerativeAIEmbeddings } from "@langchain/google-genai";
import { embedMany } from "ai";
import { GeminiEmbeddingFunction, type TaskType } from "gembed";
import { requestsOf } from "gembed/internal";
import { l2Norm, toFloat32Vector } from "../../packages/gembed/src/embedding/normalization.js";

const MODEL = "gemini-embedding-001";
/** Output size of the quota, faulty and memory runs. */
const DIMENSION = 768;
const TASK: TaskType = "RETRIEVAL_DOCUMENT";
const API_KEY = "bench-key";

interface Running {
  url: string;
  child: ChildProcess;
  close(): Promise<void>;
}

async function startChildServer(options: ServerOptions): Promise<Running> {
  const script = fileURLToPath(new URL("../support/embedding-server-child.ts", import.meta.url));
  const child = spawn(
    process.execPath,
    ["--conditions=@gembed/source", "--import", "tsx", script, JSON.stringify(options)],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`server child exited with ${code}`)));
    lines.once("line", (line) => resolve((JSON.parse(line) as { url: string }).url));
  });
  return {
    url,
    child,
    close: () =>
      new Promise<void>((resolve) => {
        child.removeAllListeners("exit");
        child.once("exit", () => resolve());
        child.stdin!.end();
        setTimeout(() => child.kill(), 5000).unref();
      }),
  };
}

type Tool = (
  url: string,
  texts: string[],
  dimension: number,
  /** Adds a note to the tool's row (gembed: what it learned, its concurrency). */
  report: (note: string) => void,
) => Promise<(ArrayLike<number> | undefined)[]>;

const GEMBED = "gembed (defaults)";

const tools: Record<string, Tool> = {
  [GEMBED]: async (url, texts, dimension, report) => {
    // gembed's defaults: no quota, no window, no concurrency told.
    const ef = new GeminiEmbeddingFunction({
      baseUrl: url,
      apiKey: API_KEY,
      config: { outputDimensionality: dimension },
    });
    // The 429s met before anything was learned (the first burst) and after.
    let firstBurst: number | undefined;
    try {
      return await ef.encodeDocuments(texts, {
        onProgress: () => {
          if (firstBurst === undefined && ef.limiter.learnedLimits !== undefined) {
            firstBurst = ef.limiter.rateLimitedCount;
          }
        },
      });
    } finally {
      const learned = ef.limiter.learnedLimits;
      const after = ef.limiter.rateLimitedCount - (firstBurst ?? ef.limiter.rateLimitedCount);
      report(
        `${learned ? `learned ${learned.texts} texts per ${(learned.windowMs / 1000).toFixed(2)} s; 429s after learning: ${after}; ` : ""}concurrency now ${ef.concurrencyLimiter.limit}`,
      );
    }
  },
  "@google/genai + retryOptions": async (url, texts, dimension) => {
    // Chunks of 100 one after the other, each retried by the SDK (429s and 5xx included).
    const ai = new GoogleGenAI({
      apiKey: API_KEY,
      httpOptions: { baseUrl: url, retryOptions: { attempts: 10 } },
    });
    const vectors: (number[] | undefined)[] = [];
    for (let start = 0; start < texts.length; start += 100) {
      const response = await ai.models.embedContent({
        model: MODEL,
        contents: texts.slice(start, start + 100),
        config: { taskType: TASK, outputDimensionality: dimension },
      });
      for (const embedding of response.embeddings ?? []) vectors.push(embedding.values);
    }
    return vectors;
  },
  "LangChain embedDocuments": async (url, texts, dimension) =>
    new GoogleGenerativeAIEmbeddings({
      apiKey: API_KEY,
      model: MODEL,
      baseUrl: url,
      taskType: TASK as never,
      outputDimensionality: dimension,
    }).embedDocuments(texts),
  "AI SDK embedMany": async (url, texts, dimension) => {
    const google = createGoogleGenerativeAI({ baseURL: `${url}/v1beta`, apiKey: API_KEY });
    const { embeddings } = await embedMany({
      model: google.textEmbeddingModel(MODEL),
      values: texts,
      providerOptions: { google: { taskType: TASK, outputDimensionality: dimension } },
    });
    return embeddings;
  },
};

/** The 429s a server child answered, from its Prometheus `/metrics`. */
async function quotaRejections(url: string): Promise<number> {
  // /metrics needs the key like every other route.
  const text = await (
    await fetch(`${url}/metrics`, { headers: { "x-goog-api-key": API_KEY } })
  ).text();
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("gembed_server_quota_rejections_total")) {
      total += Number(line.split(" ").at(-1));
    }
  }
  return total;
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let index = 0; index < a.length; index++) {
    const x = a[index] as number;
    const y = b[index] as number;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  return dot / Math.sqrt(normA * normB);
}

function check(
  texts: string[],
  vectors: (ArrayLike<number> | undefined)[],
  dimension: number,
): { lost: number; wrong: number } {
  let lost = 0;
  let wrong = 0;
  for (let index = 0; index < texts.length; index++) {
    const vector = vectors[index];
    if (vector === undefined || vector.length === 0) {
      lost++;
      continue;
    }
    const expected = localEmbedding(texts[index]!, {
      model: MODEL,
      taskType: TASK,
      outputDimensionality: dimension,
    });
    if (vector.length !== dimension || !(cosine(vector, expected) >= 0.999)) wrong++;
  }
  return { lost, wrong };
}

function corpus(count: number, seed: string): string[] {
  const words = [
    "milvus",
    "vector",
    "gemini",
    "search",
    "index",
    "quota",
    "chunk",
    "query",
    "title",
    "float",
  ];
  return Array.from(
    { length: count },
    (_, index) =>
      `${seed} ${index} ${words[index % 10]} ${words[(index * 7) % 10]} ${words[(index * 3) % 10]}`,
  );
}

interface Row {
  scenario: string;
  tool: string;
  seconds: number;
  ideal: number;
  lost: number;
  wrong: number;
  /** 429s the server answered this tool. */
  rejections: number;
  /** The quota window, for 429s per window. */
  windowMs: number | undefined;
  /** The machine's 1-minute load average when the run ended (figures are noisy under load). */
  load: number;
  note: string;
}

interface Scenario {
  name: string;
  server: ServerOptions;
  count: number;
  dimension: number;
  /** Seconds at the ideal: the quota's ceiling rate, or every call at once. */
  ideal: number;
  tools: string[];
  /** Run each tool once, untimed, before the timed run. */
  warmUp?: boolean;
  /** Run the tools at once, each against its own server (quota-bound runs mostly wait). */
  parallel?: boolean;
}

async function runTool(settings: Scenario, tool: string): Promise<Row> {
  const run = tools[tool]!;
  const running = await startChildServer({ ...settings.server, logLevel: "silent" });
  if (settings.warmUp) {
    // Fresh processes compile their hot paths on the first calls: one untimed round first.
    await run(running.url, corpus(800, "warm-up"), settings.dimension, () => undefined);
  }
  if (settings.server.quota !== undefined) {
    // Warm the fresh server (its JIT, its sockets) on another model, which its quota (counted
    // per model) does not see: the first window should measure the tool, not a cold server.
    await Promise.all(
      Array.from({ length: 8 }, (_, call) =>
        fetch(`${running.url}/v1beta/models/gemini-embedding-2-preview:batchEmbedContents`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-goog-api-key": API_KEY },
          body: JSON.stringify({
            requests: corpus(100, `warm ${call}`).map((text) => ({
              model: "models/gemini-embedding-2-preview",
              content: { parts: [{ text }] },
              outputDimensionality: settings.dimension,
            })),
          }),
        }).then((response) => response.arrayBuffer()),
      ),
    );
  }
  const before = await quotaRejections(running.url);
  const texts = corpus(settings.count, `${settings.name} ${tool}`);
  const limitSeconds = Math.max(60, 2 * settings.ideal + 15);
  const started = performance.now();
  let vectors: (ArrayLike<number> | undefined)[] = [];
  let note = "";
  let toolNote = "";
  try {
    vectors = await Promise.race([
      run(running.url, texts, settings.dimension, (reported) => {
        toolNote = reported;
      }),
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error(`gave up after ${limitSeconds} s`)),
          limitSeconds * 1000,
        ).unref(),
      ),
    ]);
  } catch (error) {
    const incomplete = error as { vectors?: (Float32Array | undefined)[] };
    vectors = incomplete.vectors ?? [];
    note = `threw ${(error as Error).name}: ${(error as Error).message.split("\n")[0]!.slice(0, 60)}`;
  }
  const seconds = (performance.now() - started) / 1000;
  const rejections = (await quotaRejections(running.url)) - before;
  await running.close();
  return {
    scenario: settings.name,
    tool,
    seconds,
    ideal: settings.ideal,
    ...check(texts, vectors, settings.dimension),
    rejections,
    windowMs: settings.server.quota?.windowMs,
    load: loadavg()[0] ?? 0,
    note: [toolNote, note].filter(Boolean).join("; "),
  };
}

async function scenario(settings: Scenario): Promise<Row[]> {
  if (settings.parallel) {
    return Promise.all(settings.tools.map((tool) => runTool(settings, tool)));
  }
  const rows: Row[] = [];
  for (const tool of settings.tools) rows.push(await runTool(settings, tool));
  return rows;
}

function printRows(rows: Row[]): void {
  console.log(
    [
      "scenario",
      "tool",
      "wall s",
      "ideal s",
      "% of ideal",
      "vs fastest peer",
      "429s",
      "429s/window",
      "lost",
      "wrong",
      "load",
      "note",
    ].join(" | "),
  );
  for (const row of rows) {
    const peers = rows.filter(
      (other) =>
        other.scenario === row.scenario &&
        other.tool !== GEMBED &&
        other.lost === 0 &&
        other.wrong === 0,
    );
    const fastest = Math.min(...peers.map((peer) => peer.seconds));
    const windows =
      row.windowMs === undefined ? undefined : Math.max(1, (row.seconds * 1000) / row.windowMs);
    console.log(
      [
        row.scenario,
        row.tool,
        row.seconds.toFixed(2),
        row.ideal.toFixed(2),
        `${((row.ideal / row.seconds) * 100).toFixed(0)}%`,
        row.tool === GEMBED && Number.isFinite(fastest)
          ? `${(row.seconds / fastest).toFixed(3)}x`
          : "",
        row.rejections,
        windows === undefined ? "" : (row.rejections / windows).toFixed(1),
        row.lost,
        row.wrong,
        row.load.toFixed(1),
        row.note,
      ].join(" | "),
    );
  }
}

async function cpu(): Promise<void> {
  const running = await startChildServer({ logLevel: "silent" });
  const requests = corpus(100, "cpu").map((text) => ({
    model: `models/${MODEL}`,
    content: { parts: [{ text }] },
  }));
  const response = await fetch(`${running.url}/v1beta/models/${MODEL}:batchEmbedContents`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-goog-api-key": API_KEY },
    body: JSON.stringify({ requests }),
  });
  const body = await response.text();
  await running.close();
  // The local server's 3072 output is unit-length, like the model's: gembed then only copies
  // and checks it. To measure the scaling pass too, the same answer with every value x 0.9,
  // written with the same 9 decimals, so each vector must be L2-normalized.
  const scaledBody = JSON.stringify({
    embeddings: (JSON.parse(body) as { embeddings: { values: number[] }[] }).embeddings.map(
      (embedding) => ({
        values: embedding.values.map((value) => Number((value * 0.9).toFixed(9))),
      }),
    ),
  });
  const ef = new GeminiEmbeddingFunction({ apiKey: API_KEY, baseUrl: running.url });
  const parseOnly = (): void => {
    JSON.parse(body);
  };
  const vectors = requestsOf(ef);
  const asSent = (): void => {
    const parsed = JSON.parse(body) as { embeddings: { values: number[] }[] };
    for (const embedding of parsed.embeddings) vectors.toVector(embedding.values);
  };
  const parseScaled = (): void => {
    JSON.parse(scaledBody);
  };
  let lastVector: Float32Array = new Float32Array(0);
  const normalized = (): void => {
    const parsed = JSON.parse(scaledBody) as { embeddings: { values: number[] }[] };
    for (const embedding of parsed.embeddings) {
      lastVector = toFloat32Vector(embedding.values, 3072, true);
    }
  };
  // Interleaved rounds, median per variant: fair to each against GC and CPU frequency drift.
  const variants = [parseOnly, asSent, parseScaled, normalized];
  const samples: number[][] = variants.map(() => []);
  for (let round = 0; round < 10; round++) {
    for (const variant of variants) variant();
  }
  // A full collection before each sample (the run has --expose-gc): otherwise the garbage of
  // one variant (3.8 MB of parsed JSON, 1.2 MB of vectors) is collected during the next one and
  // charged to it, which swung the ratios between 0.83 and 1.24 from run to run.
  const collect = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  for (let round = 0; round < 100; round++) {
    variants.forEach((variant, index) => {
      collect();
      const started = performance.now();
      variant();
      samples[index]!.push(performance.now() - started);
    });
  }
  // Medians, and the best of 100 (the least disturbed by other processes on shared cores).
  const median = (values: number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  };
  const [parseMs, asSentMs, parseScaledMs, normalizedMs] = samples.map(median) as [
    number,
    number,
    number,
    number,
  ];
  const [parseBest, asSentBest, parseScaledBest, normalizedBest] = samples.map((values) =>
    Math.min(...values),
  ) as [number, number, number, number];
  // The scaling pass did run: the answer's vectors have norm 0.9, the results norm 1.
  const lastValues = (
    JSON.parse(scaledBody) as { embeddings: { values: number[] }[] }
  ).embeddings.at(-1)!.values;
  if (Math.abs(l2Norm(lastValues) - 0.9) > 1e-3 || Math.abs(l2Norm(lastVector) - 1) > 1e-5) {
    throw new Error("the scaled answer was not L2-normalized");
  }
  console.log(`\nclient CPU, 100 x 3072 answer (${(body.length / 1e6).toFixed(1)} MB of JSON):`);
  console.log(`  JSON.parse alone:                               ${parseMs.toFixed(2)} ms`);
  console.log(
    `  parse + toVector as sent (unit norm: copy, check): ${asSentMs.toFixed(2)} ms  ratio ${(asSentMs / parseMs).toFixed(3)} (best of 100: ${(asSentBest / parseBest).toFixed(3)}; goal <= 1.15)`,
  );
  console.log(`  JSON.parse alone, answer not unit-length:       ${parseScaledMs.toFixed(2)} ms`);
  console.log(
    `  parse + copy, check and L2-normalize every vector: ${normalizedMs.toFixed(2)} ms  ratio ${(normalizedMs / parseScaledMs).toFixed(3)} (best of 100: ${(normalizedBest / parseScaledBest).toFixed(3)}; goal <= 1.15)`,
  );
}

async function memory(): Promise<void> {
  const count = Number(process.env.GEMBED_BENCH_STREAM_TEXTS ?? 1_000_000);
  const running = await startChildServer({ logLevel: "silent" });
  const script = fileURLToPath(new URL("../support/embedding-stream-child.ts", import.meta.url));
  const child = spawn(
    process.execPath,
    [
      "--conditions=@gembed/source",
      "--import",
      "tsx",
      script,
      running.url,
      String(count),
      String(DIMENSION),
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`stream child exited with ${code}`)));
  });
  await running.close();
  const figures = JSON.parse(line) as {
    received: number;
    checked: number;
    wrong: number;
    seconds: number;
    baselineRss: number;
    peakRss: number;
  };
  const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MB`;
  console.log(
    `\nmemory: streamed ${figures.received.toLocaleString("en")} texts at ${DIMENSION} dims in ${figures.seconds.toFixed(1)} s (${Math.round(figures.received / figures.seconds).toLocaleString("en")} texts/s, bound by the local server's CPU); client process peak RSS ${mb(figures.peakRss)} (at start ${mb(figures.baselineRss)}; goal < 300 MB); ${figures.checked} sampled vectors checked, ${figures.wrong} wrong`,
  );
}

const PEERS = ["@google/genai + retryOptions", "LangChain embedDocuments", "AI SDK embedMany"];

/** Quota scenarios: ceiling per window, texts (the 60 s one with fewer, to keep the run short). */
const QUOTAS = [
  { windowMs: 1000, ceiling: 500, count: 3000 },
  { windowMs: 2000, ceiling: 500, count: 3000 },
  { windowMs: 10_000, ceiling: 1000, count: 3000 },
  { windowMs: 60_000, ceiling: 1000, count: 2000 },
];

export default async function (): Promise<void> {
  const parts = (process.env.GEMBED_BENCH_EMBEDDING ?? "latency,quota,faulty,cpu,memory").split(
    ",",
  );
  const only = process.env.GEMBED_BENCH_TOOLS?.split(",");
  const pick = (names: string[]): string[] =>
    only === undefined ? names : names.filter((name) => only.includes(name));
  const rows: Row[] = [];
  if (parts.includes("latency")) {
    // 3,000 texts = 30 calls of 100; 128 dims keep the server's own CPU per call small beside
    // the latency. The ideal: every call at once.
    for (const faults of [
      { latencyMs: 150, latencyPerTextMs: 1 },
      { latencyMs: 1000, latencyPerTextMs: 0 },
    ]) {
      rows.push(
        ...(await scenario({
          name: `no quota, ${faults.latencyMs} ms${faults.latencyPerTextMs ? " + 1 ms/text" : ""} per call`,
          server: { faults },
          count: 3000,
          dimension: 128,
          ideal: (faults.latencyMs + 100 * faults.latencyPerTextMs) / 1000,
          tools: pick([GEMBED, ...PEERS]),
          warmUp: true,
        })),
      );
    }
  }
  if (parts.includes("quota")) {
    // The first `ceiling` texts may go at once, then `ceiling` per window: the strict minimum
    // (the ideal) is (count - ceiling) / ceiling windows. gembed is told none of it.
    // GEMBED_BENCH_WINDOWS=1,2 runs only the windows of 1 s and 2 s (the bench's choice of
    // cases; gembed is still told nothing).
    const windows = process.env.GEMBED_BENCH_WINDOWS?.split(",").map(Number);
    for (const quota of QUOTAS.filter(
      (candidate) => windows === undefined || windows.includes(candidate.windowMs / 1000),
    )) {
      rows.push(
        ...(await scenario({
          name: `quota ${quota.ceiling} texts / ${quota.windowMs / 1000} s`,
          server: { quota: { textsPerMinute: quota.ceiling, windowMs: quota.windowMs } },
          count: quota.count,
          dimension: DIMENSION,
          ideal: ((quota.count - quota.ceiling) / quota.ceiling) * (quota.windowMs / 1000),
          tools: pick([GEMBED, ...PEERS]),
          // Long windows: the tools mostly wait, so they run at once; short ones one by one
          // (the servers' CPU per call weighs against a 1 s window).
          parallel: quota.windowMs >= 10_000,
        })),
      );
    }
  }
  if (parts.includes("faulty")) {
    // 2,000 texts = 20 calls at 100 ms; the ideal is the time without faults.
    rows.push(
      ...(await scenario({
        name: "faulty",
        server: {
          faults: {
            rate503: 0.1,
            rate500: 0.05,
            dropRate: 0.05,
            shortAnswerRate: 0.03,
            latencyMs: 100,
            seed: 7,
          },
        },
        count: 2000,
        dimension: DIMENSION,
        ideal: 0.1,
        tools: pick([GEMBED, ...PEERS]),
      })),
    );
  }
  if (rows.length > 0) printRows(rows);
  if (parts.includes("cpu")) await cpu();
  if (parts.includes("memory")) await memory();
}
