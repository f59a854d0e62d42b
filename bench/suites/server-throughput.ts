/**
 * `gembed serve` throughput: texts per second the server embeds through `batchEmbedContents`
 * (100 texts of 30 words a call) at 768 and 3072 dimensions. The server runs alone in a child
 * process (one core: Node runs the server's JavaScript on one thread); this process is the load
 * generator, with 4 calls in flight, and checks the count of embeddings of each answer.
 * Goal: 5,000 texts/s or more at 768 dimensions.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const WORDS = (
  "vector database index embedding query document search cosine similarity cluster graph " +
  "milvus gemini model token batch quota retry latency server client dimension matryoshka " +
  "river mountain forest city music history science language memory system network storage"
).split(" ");

function text(seed: number): string {
  const words: string[] = [];
  let state = seed * 2654435761;
  for (let index = 0; index < 30; index++) {
    state = (state * 1103515245 + 12345) >>> 0;
    words.push(`${WORDS[state % WORDS.length]}${state % 7 === 0 ? String(state % 1000) : ""}`);
  }
  return words.join(" ");
}

async function startChild(): Promise<{ url: string; child: ChildProcess; folder: string }> {
  const folder = await mkdtemp(path.join(tmpdir(), "gembed-bench-serve-"));
  const entry = fileURLToPath(new URL("../../packages/server/src/index.ts", import.meta.url));
  const script = path.join(folder, "serve.mts");
  await writeFile(
    script,
    `import { startServer } from ${JSON.stringify(entry)};
const server = await startServer({ dataDir: ${JSON.stringify(path.join(folder, "data"))} });
process.stdout.write(server.url + "\\n");
process.on("SIGTERM", () => server.close().then(() => process.exit(0)));
`,
  );
  const child = spawn(
    process.execPath,
    ["--conditions=@gembed/source", "--import", "tsx", script],
    {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let seen = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes("\n")) resolve(seen.split("\n")[0]!.trim());
    });
    child.once("exit", () => reject(new Error("server child exited")));
  });
  return { url, child, folder };
}

async function measure(url: string, dimension: number, seconds: number): Promise<number> {
  const bodies = Array.from({ length: 20 }, (_, call) =>
    JSON.stringify({
      requests: Array.from({ length: 100 }, (_, index) => ({
        model: "models/gemini-embedding-001",
        content: { parts: [{ text: text(call * 100 + index + dimension) }] },
        outputDimensionality: dimension,
      })),
    }),
  );
  const endpoint = `${url}/v1beta/models/gemini-embedding-001:batchEmbedContents`;
  let texts = 0;
  let next = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  const worker = async () => {
    while (performance.now() < deadline) {
      const body = bodies[next++ % bodies.length]!;
      const response = await fetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      const answer = await response.text();
      if (response.status !== 200)
        throw new Error(`HTTP ${response.status}: ${answer.slice(0, 200)}`);
      let count = 0;
      for (let at = answer.indexOf('"values"'); at >= 0; at = answer.indexOf('"values"', at + 8)) {
        count++;
      }
      if (count !== 100) throw new Error(`expected 100 embeddings, got ${count}`);
      texts += count;
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return texts / ((performance.now() - started) / 1000);
}

export default async function (): Promise<void> {
  const { url, child, folder } = await startChild();
  try {
    await measure(url, 768, 0.5); // warm-up
    for (const dimension of [768, 3072]) {
      const rate = await measure(url, dimension, 3);
      const goal = dimension === 768 ? " (goal >= 5,000)" : "";
      console.log(
        `batchEmbedContents, 100 x 30-word texts, ${dimension} dims: ${Math.round(rate).toLocaleString("en-US")} texts/s${goal}`,
      );
    }
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    await rm(folder, { recursive: true, force: true });
  }
}
