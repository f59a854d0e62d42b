/**
 * Each framework's own Gemini provider beside the gembed adapter for it, side by side in one run,
 * all pointed at `gembed serve` (in a child process) with the same settings, on three profiles:
 * - quota: 3,000 texts under 500 texts per 1 s window;
 * - fault: 2,000 texts, 10% 503, 5% 500, 5% dropped connections, 100 ms per call;
 * - short answer: 2,000 texts, 10% of answers (200) missing their last embedding.
 * Every vector is checked against the server's deterministic one for what the tool asked for
 * (task type, size): lost (no vector: threw, or nothing at that index), empty (a vector of
 * length 0 returned as if fine), wrong (wrong size, or another text's vector: misaligned).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createGoogleGenerativeAI } from "@ai-sdk/google";
import { createGembed } from "@gembed/ai-sdk";
import { GembedEmbeddings } from "@gembed/langchain";
import { GembedEmbedding } from "@gembed/llamaindex";
import { localEmbedding, type ServerOptions } from "@gembed/server";
import { GoogleGenerativeAIEmbeddings } from "@langchain/google-genai";
import { GeminiEmbedding } from "@llamaindex/google";
import { embedMany } from "ai";
import type { TaskType } from "gembed";

const MODEL = "gemini-embedding-001";
const DIMENSION = 768;
const API_KEY = "bench-key";
const QUOTA_TEXTS = 500;

interface Running {
  url: string;
  close(): Promise<void>;
}

async function startChildServer(options: ServerOptions): Promise<Running> {
  const script = fileURLToPath(new URL("../support/embedding-server-child.ts", import.meta.url));
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", script, JSON.stringify(options)],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`server child exited with ${code}`)));
    lines.once("line", (line) => resolve((JSON.parse(line) as { url: string }).url));
  });
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        child.removeAllListeners("exit");
        child.once("exit", () => resolve());
        child.stdin!.end();
        setTimeout(() => child.kill(), 5000).unref();
      }),
  };
}

interface Tool {
  framework: string;
  name: string;
  /** What the tool asks the server for: the vectors it must give back. */
  taskType: TaskType | undefined;
  dimension: number;
  run(url: string, texts: string[], windowMs: number | undefined): Promise<unknown[]>;
}

/** gembed's quota window is a fact of the service (a minute for Gemini); the bench server's is 1 s. */
const quotaOption = (windowMs: number | undefined) => (windowMs ? { quota: { windowMs } } : {});

const TOOLS: Tool[] = [
  {
    framework: "LangChain.js",
    name: "@langchain/google-genai GoogleGenerativeAIEmbeddings",
    taskType: "RETRIEVAL_DOCUMENT",
    dimension: DIMENSION,
    run: (url, texts) =>
      new GoogleGenerativeAIEmbeddings({
        apiKey: API_KEY,
        model: MODEL,
        baseUrl: url,
        taskType: "RETRIEVAL_DOCUMENT" as never,
        outputDimensionality: DIMENSION,
      }).embedDocuments(texts),
  },
  {
    framework: "LangChain.js",
    name: "gembed/langchain GembedEmbeddings",
    taskType: "RETRIEVAL_DOCUMENT",
    dimension: DIMENSION,
    run: (url, texts, windowMs) =>
      new GembedEmbeddings({
        apiKey: API_KEY,
        model: MODEL,
        baseUrl: url,
        outputDimensionality: DIMENSION,
        ...quotaOption(windowMs),
      }).embedDocuments(texts),
  },
  {
    framework: "AI SDK",
    name: "ai embedMany + @ai-sdk/google",
    taskType: "RETRIEVAL_DOCUMENT",
    dimension: DIMENSION,
    run: async (url, texts) => {
      const google = createGoogleGenerativeAI({ baseURL: `${url}/v1beta`, apiKey: API_KEY });
      const { embeddings } = await embedMany({
        model: google.textEmbeddingModel(MODEL),
        values: texts,
        providerOptions: {
          google: { taskType: "RETRIEVAL_DOCUMENT", outputDimensionality: DIMENSION },
        },
      });
      return embeddings;
    },
  },
  {
    framework: "AI SDK",
    name: "ai embedMany + gembed/ai-sdk",
    taskType: "RETRIEVAL_DOCUMENT",
    dimension: DIMENSION,
    run: async (url, texts, windowMs) => {
      const gembed = createGembed({ apiKey: API_KEY, baseUrl: url, ...quotaOption(windowMs) });
      const { embeddings } = await embedMany({
        model: gembed.textEmbeddingModel(MODEL),
        values: texts,
        providerOptions: {
          google: { taskType: "RETRIEVAL_DOCUMENT", outputDimensionality: DIMENSION },
        },
      });
      return embeddings;
    },
  },
  {
    framework: "LlamaIndex.TS",
    // It sends neither a task type nor a size: its vectors are checked as such (3072, none).
    name: "@llamaindex/google GeminiEmbedding",
    taskType: undefined,
    dimension: 3072,
    run: (url, texts) =>
      new GeminiEmbedding({
        apiKey: API_KEY,
        model: MODEL as never,
        httpOptions: { baseUrl: url },
      }).getTextEmbeddingsBatch(texts),
  },
  {
    framework: "LlamaIndex.TS",
    name: "gembed/llamaindex GembedEmbedding",
    taskType: "RETRIEVAL_DOCUMENT",
    dimension: DIMENSION,
    run: (url, texts, windowMs) =>
      new GembedEmbedding({
        apiKey: API_KEY,
        model: MODEL,
        baseUrl: url,
        outputDimensionality: DIMENSION,
        ...quotaOption(windowMs),
      }).getTextEmbeddingsBatch(texts),
  },
];

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

interface Counts {
  lost: number;
  empty: number;
  wrong: number;
}

function check(tool: Tool, texts: string[], vectors: unknown[]): Counts {
  const counts: Counts = { lost: 0, empty: 0, wrong: 0 };
  texts.forEach((text, index) => {
    const vector = vectors[index] as ArrayLike<number> | undefined | null;
    if (vector === undefined || vector === null) {
      counts.lost++;
      return;
    }
    if (vector.length === 0) {
      counts.empty++;
      return;
    }
    const expected = localEmbedding(text, {
      model: MODEL,
      outputDimensionality: tool.dimension,
      ...(tool.taskType ? { taskType: tool.taskType } : {}),
    });
    if (vector.length !== tool.dimension || !(cosine(vector, expected) >= 0.999)) counts.wrong++;
  });
  return counts;
}

function corpus(count: number, seed: string): string[] {
  const words = ["milvus", "vector", "gemini", "search", "index", "quota", "chunk", "query"];
  return Array.from(
    { length: count },
    (_, index) => `${seed} ${index} ${words[index % 8]} ${words[(index * 5) % 8]}`,
  );
}

interface Profile {
  name: string;
  server: ServerOptions;
  count: number;
  /** gembed's quota window: the bench server's (the ceiling itself is learned from its 429s). */
  windowMs?: number;
}

const PROFILES: Profile[] = [
  {
    name: "quota",
    server: { quota: { textsPerMinute: QUOTA_TEXTS, windowMs: 1000 } },
    count: 3000,
    windowMs: 1000,
  },
  {
    name: "fault",
    server: {
      faults: { rate503: 0.1, rate500: 0.05, dropRate: 0.05, latencyMs: 100, seed: 7 },
    },
    count: 2000,
  },
  {
    name: "short answer",
    server: { faults: { shortAnswerRate: 0.1, seed: 3 } },
    count: 2000,
  },
];

export default async function (): Promise<void> {
  const only = process.env.GEMBED_BENCH_ADAPTERS?.split(",");
  console.log(
    ["profile", "framework", "tool", "texts", "wall s", "lost", "empty", "wrong", "note"].join(
      " | ",
    ),
  );
  for (const profile of PROFILES) {
    if (only && !only.includes(profile.name.replace(" ", "-"))) continue;
    for (const tool of TOOLS) {
      const running = await startChildServer({ ...profile.server, logLevel: "silent" });
      const texts = corpus(profile.count, `${profile.name} ${tool.name}`);
      const started = performance.now();
      let vectors: unknown[] = [];
      let note = "";
      try {
        vectors = await Promise.race([
          tool.run(running.url, texts, profile.windowMs),
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error("gave up after 90 s")), 90_000).unref(),
          ),
        ]);
        if (vectors.length !== texts.length) note = `returned ${vectors.length} vectors`;
      } catch (error) {
        // gembed's errors carry the vectors already done (by input index); count those as kept.
        const kept = (error as { vectors?: unknown[] }).vectors;
        vectors = kept ?? [];
        const first = (error as Error).message.split("\n")[0]!.slice(0, 70);
        note = `threw ${(error as Error).name}: ${first}${kept ? ` (kept ${kept.filter(Boolean).length} vectors)` : ""}`;
      }
      const seconds = (performance.now() - started) / 1000;
      await running.close();
      const counts = check(tool, texts, vectors);
      console.log(
        [
          profile.name,
          tool.framework,
          tool.name,
          texts.length,
          seconds.toFixed(2),
          counts.lost,
          counts.empty,
          counts.wrong,
          note,
        ].join(" | "),
      );
    }
  }
}
