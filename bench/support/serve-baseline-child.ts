/**
 * What `gembed serve` sustains alone, for the ingest-scale benchmark: streams `count` texts of
 * `bytes` bytes each (the size of an ingest chunk) through `encodeStream` to the server at
 * argv[2], reading and writing nothing, and prints one JSON line {texts, bytes, seconds}.
 */
import { GeminiEmbeddingFunction } from "gembed";

const url = process.argv[2] ?? "";
const count = Number(process.argv[3] ?? 10_000);
const dimension = Number(process.argv[4] ?? 128);
const size = Number(process.argv[5] ?? 8_000);

const ef = new GeminiEmbeddingFunction({
  baseUrl: url,
  apiKey: "bench-key",
  config: { outputDimensionality: dimension },
  quota: false,
});
const words = ["milvus", "vector", "gemini", "search", "index", "chunk", "stream", "row"];
function* texts(): Generator<string> {
  for (let index = 0; index < count; index++) {
    let text = `text ${index}`;
    for (let word = 0; text.length < size; word++) text += ` ${words[(index + word * 7) % 8]}`;
    yield text;
  }
}
const started = performance.now();
let received = 0;
for await (const _vector of ef.encodeStream(texts())) received++;
process.stdout.write(
  `${JSON.stringify({ texts: received, bytes: received * size, seconds: (performance.now() - started) / 1000 })}\n`,
);
