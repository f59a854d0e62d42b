/**
 * GeminiEmbeddingFunction against what users pick today, side by side in one run, all pointed at
 * `gembed serve` (in a child process) with the same settings:
 * - quota-bound: the server allows a fixed number of texts per window;
 * - latency-bound: no quota, a fixed latency per call;
 * - faulty: 10% 503, 5% 500, 5% dropped connections, 3% short answers;
 * - client CPU: a 100 x 3072 answer into normalized Float32Arrays vs plain JSON.parse;
 * - memory: streaming 1,000,000 short texts at 768 dims (GEMBED_BENCH_STREAM_TEXTS to change).
 * Every vector is checked against the server's deterministic one (cosine >= 0.999).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createGoogleGenerativeAI } from "@ai-sdk/google";
import { localEmbedding, type ServerOptions } from "@gembed/server";
import { GoogleGenAI } from "@google/genai";
import { GoogleGenerativeAIEmbeddings } from "@langchain/google-genai";
import { embedMany } from "ai";
import { GeminiEmbeddingFunction, type TaskType } from "gembed";
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
  /** Adds a note to the tool's row (gembed: its 429s and its rate after the first window). */
  report: (note: string) => void,
) => Promise<(ArrayLike<number> | undefined)[]>;

/** Runs gembed, then reports the 429s it met and its rate once the first window's burst is over. */
async function runGembed(
  ef: GeminiEmbeddingFunction,
  texts: string[],
  report: (note: string) => void,
): Promise<Float32Array[]> {
  const started = performance.now();
  let mark: { done: number; at: number } | undefined;
  try {
    return await ef.encodeDocuments(texts, {
      onProgress: ({ done }) => {
        if (mark === undefined && done >= QUOTA_TEXTS) mark = { done, at: performance.now() };
      },
    });
  } finally {
    const seconds = (performance.now() - (mark?.at ?? started)) / 1000;
    const rate = (texts.length - (mark?.done ?? 0)) / seconds;
    report(
      `429s: ${ef.limiter.rateLimitedCount}; after the first ${QUOTA_TEXTS}: ${rate.toFixed(0)} texts/s`,
    );
  }
}

const tools: Record<string, Tool> = {
  "gembed (adaptive)": async (url, texts, dimension, report) =>
    runGembed(
      new GeminiEmbeddingFunction({
        baseUrl: url,
        apiKey: API_KEY,
        config: { outputDimensionality: dimension },
        // The length of the quota window is a fact of the service (a minute for Gemini); the
        // bench server counts per second. The ceiling itself is learned from the 429s.
        quota: { windowMs: 1000 },
      }),
      texts,
      report,
    ),
  "gembed (quota set)": async (url, texts, dimension, report) =>
    runGembed(
      new GeminiEmbeddingFunction({
        baseUrl: url,
        apiKey: API_KEY,
        config: { outputDimensionality: dimension },
        quota: { textsPerMinute: QUOTA_TEXTS, windowMs: 1000 },
      }),
      texts,
      report,
    ),
  "@google/genai, chunks of 100": async (url, texts, dimension) => {
    const ai = new GoogleGenAI({ apiKey: API_KEY, httpOptions: { baseUrl: url } });
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
  "@langchain/google-genai": async (url, texts, dimension) =>
    new GoogleGenerativeAIEmbeddings({
      apiKey: API_KEY,
      model: MODEL,
      baseUrl: url,
      taskType: TASK as never,
      outputDimensionality: dimension,
    }).embedDocuments(texts),
  "reference: bare fetch, 8 in flight": async (url, texts, dimension) => {
    // What any client at the default concurrency could reach: prebuilt bodies, no checks.
    const bodies: string[] = [];
    for (let start = 0; start < texts.length; start += 100) {
      const requests = texts.slice(start, start + 100).map((text) => ({
        model: `models/${MODEL}`,
        content: { parts: [{ text }] },
        taskType: TASK,
        outputDimensionality: dimension,
      }));
      bodies.push(JSON.stringify({ requests }));
    }
    const vectors: number[][] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < bodies.length) {
        const index = next++;
        const response = await fetch(`${url}/v1beta/models/${MODEL}:batchEmbedContents`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-goog-api-key": API_KEY },
          body: bodies[index]!,
        });
        const { embeddings } = (await response.json()) as { embeddings: { values: number[] }[] };
        embeddings.forEach((embedding, position) => {
          vectors[index * 100 + position] = embedding.values;
        });
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    return vectors;
  },
  "ai embedMany + @ai-sdk/google": async (url, texts, dimension) => {
    const google = createGoogleGenerativeAI({ baseURL: `${url}/v1beta`, apiKey: API_KEY });
    const { embeddings } = await embedMany({
      model: google.textEmbeddingModel(MODEL),
      values: texts,
      providerOptions: { google: { taskType: TASK, outputDimensionality: dimension } },
    });
    return embeddings;
  },
};

const QUOTA_TEXTS = 500;

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
  note: string;
}

interface Scenario {
  name: string;
  server: ServerOptions;
  count: number;
  dimension: number;
  /** Seconds at the ideal: the quota's ceiling rate, or calls / concurrency x latency. */
  ideal: number;
  tools: string[];
  /** Run each tool once, untimed, before the timed run. */
  warmUp?: boolean;
}

async function scenario(settings: Scenario): Promise<Row[]> {
  const rows: Row[] = [];
  for (const tool of settings.tools) {
    const run = tools[tool]!;
    const running = await startChildServer({ ...settings.server, logLevel: "silent" });
    if (settings.warmUp) {
      // Fresh processes compile their hot paths on the first calls: one untimed round first.
      await run(running.url, corpus(800, "warm-up"), settings.dimension, () => undefined);
    }
    const texts = corpus(settings.count, `${settings.name} ${tool}`);
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
          setTimeout(() => reject(new Error("gave up after 60 s")), 60_000).unref(),
        ),
      ]);
    } catch (error) {
      const incomplete = error as { vectors?: (Float32Array | undefined)[] };
      vectors = incomplete.vectors ?? [];
      note = `threw ${(error as Error).name}: ${(error as Error).message.split("\n")[0]!.slice(0, 60)}`;
    }
    const seconds = (performance.now() - started) / 1000;
    await running.close();
    rows.push({
      scenario: settings.name,
      tool,
      seconds,
      ideal: settings.ideal,
      ...check(texts, vectors, settings.dimension),
      note: [toolNote, note].filter(Boolean).join("; "),
    });
  }
  return rows;
}

function printRows(rows: Row[]): void {
  console.log(
    ["scenario", "tool", "wall s", "ideal s", "% of ideal", "lost", "wrong", "note"].join(" | "),
  );
  for (const row of rows) {
    console.log(
      [
        row.scenario,
        row.tool,
        row.seconds.toFixed(2),
        row.ideal.toFixed(2),
        `${((row.ideal / row.seconds) * 100).toFixed(0)}%`,
        row.lost,
        row.wrong,
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
  const asSent = (): void => {
    const parsed = JSON.parse(body) as { embeddings: { values: number[] }[] };
    for (const embedding of parsed.embeddings) ef.toVector(embedding.values);
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
  for (let round = 0; round < 100; round++) {
    variants.forEach((variant, index) => {
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

const PEERS = [
  "@google/genai, chunks of 100",
  "@langchain/google-genai",
  "ai embedMany + @ai-sdk/google",
];

export default async function (): Promise<void> {
  const parts = (process.env.GEMBED_BENCH_EMBEDDING ?? "quota,latency,faulty,cpu,memory").split(
    ",",
  );
  const rows: Row[] = [];
  if (parts.includes("quota")) {
    // 3,000 texts under 500 texts per 1 s (sliding) window: the first 500 may go at once, then
    // 500 a second, so the strict minimum (the ideal) is 5 s.
    rows.push(
      ...(await scenario({
        name: "quota-bound",
        server: { quota: { textsPerMinute: QUOTA_TEXTS, windowMs: 1000 } },
        count: 3000,
        dimension: DIMENSION,
        ideal: (3000 - QUOTA_TEXTS) / QUOTA_TEXTS,
        tools: ["gembed (adaptive)", "gembed (quota set)", ...PEERS],
      })),
    );
  }
  if (parts.includes("latency")) {
    // 2,400 texts = 24 calls of 100: 3 rounds of 8 calls at the default concurrency. 128 dims
    // keep the server's own CPU per call small beside the latency. Two latencies: the local
    // server's CPU per call (shared cores) weighs more against the shorter one.
    for (const latencyMs of [1000, 500]) {
      rows.push(
        ...(await scenario({
          name: `latency-bound ${latencyMs} ms`,
          server: { faults: { latencyMs } },
          count: 2400,
          dimension: 128,
          ideal: (3 * latencyMs) / 1000,
          tools: ["gembed (adaptive)", "reference: bare fetch, 8 in flight", ...PEERS],
          warmUp: true,
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
        ideal: 0.3,
        tools: ["gembed (adaptive)", ...PEERS],
      })),
    );
  }
  if (rows.length > 0) printRows(rows);
  if (parts.includes("cpu")) await cpu();
  if (parts.includes("memory")) await memory();
}
