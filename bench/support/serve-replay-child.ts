/**
 * What `gembed serve` sustains alone with an ingest's own requests, for the ingest-scale
 * benchmark: reads the first `count` rows of an ingest's output (argv[3], its base file) into
 * memory, untimed, then streams their texts with their titles through `encodeStream` as the
 * ingest sent them (`RETRIEVAL_DOCUMENT`, the title when the chunk had one) to the server at
 * argv[2], reading and writing nothing while timed, and prints one JSON line
 * {texts, bytes, seconds} (bytes: the texts' UTF-8 bytes).
 *
 * The same requests as the ingest's, so the server does the same work: synthetic texts of the
 * same count and average size (serve-baseline-child.ts) cost the server 6-10% less CPU (no
 * titles, no line breaks to unescape; 4.1-4.5 s against 4.6-4.9 s for the 200 MB corpus's
 * 41,398 chunks, session 6).
 */
import { type DocumentInput, GeminiEmbeddingFunction } from "gembed";
import { streamOutputRows } from "../../packages/ingest/src/row-parts.js";

const url = process.argv[2] ?? "";
const base = process.argv[3] ?? "";
const count = Number(process.argv[4] ?? 50_000);
const dimension = Number(process.argv[5] ?? 128);

const inputs: DocumentInput[] = [];
let bytes = 0;
for await (const row of streamOutputRows(base)) {
  if (inputs.length >= count) break;
  // The ingest sends a title only when the chunk has one (its row's title is then not empty).
  inputs.push(row.title === "" ? row.text : { text: row.text, title: row.title });
  bytes += Buffer.byteLength(row.text);
}
const ef = new GeminiEmbeddingFunction({
  baseUrl: url,
  apiKey: "bench-key",
  config: { outputDimensionality: dimension },
  quota: false,
});
async function* all(): AsyncGenerator<DocumentInput> {
  yield* inputs;
}
const started = performance.now();
let received = 0;
for await (const _vector of ef.encodeStream(all(), { taskType: "RETRIEVAL_DOCUMENT" })) received++;
process.stdout.write(
  `${JSON.stringify({ texts: received, bytes, seconds: (performance.now() - started) / 1000 })}\n`,
);
