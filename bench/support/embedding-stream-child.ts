/**
 * The client side of the embedding memory benchmark, alone in its process so its resident
 * memory is gembed's only: streams `count` short texts through `encodeStream` to the server at
 * argv[2], samples RSS every 50 ms, checks sampled vectors against the local model, and prints
 * one JSON line of figures.
 */
import { GeminiEmbeddingFunction } from "gembed";
import { localEmbedding } from "../../packages/server/src/local-model.js";

const url = process.argv[2] ?? "";
const count = Number(process.argv[3] ?? 1_000_000);
const dimension = Number(process.argv[4] ?? 768);

const ef = new GeminiEmbeddingFunction({
  baseUrl: url,
  apiKey: "bench-key",
  config: { outputDimensionality: dimension },
});
const text = (index: number): string => `short text ${index} ${index % 97}`;
function* texts(): Generator<string> {
  for (let index = 0; index < count; index++) yield text(index);
}
const baseline = process.memoryUsage().rss;
let peak = baseline;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 50);
const started = performance.now();
let received = 0;
let checked = 0;
let wrong = 0;
for await (const vector of ef.encodeStream(texts())) {
  if (received % 10_000 === 0) {
    const expected = localEmbedding(text(received), {
      model: "gemini-embedding-001",
      taskType: "RETRIEVAL_DOCUMENT",
      outputDimensionality: dimension,
    });
    let dot = 0;
    let norm = 0;
    for (let index = 0; index < dimension; index++) {
      dot += (vector[index] as number) * (expected[index] as number);
      norm += (expected[index] as number) ** 2;
    }
    if (!(dot / Math.sqrt(norm) >= 0.999)) wrong++;
    checked++;
  }
  received++;
}
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().rss);
process.stdout.write(
  `${JSON.stringify({ received, checked, wrong, seconds: (performance.now() - started) / 1000, baselineRss: baseline, peakRss: peak })}\n`,
);
