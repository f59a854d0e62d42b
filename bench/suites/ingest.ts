/**
 * `npm run bench -- ingest`: the ingest path without a Milvus server.
 * - local ingest: documents -> chunks -> local server embeddings -> journaled rows file, rows/s;
 * - a second, unchanged run (hash check only), ms;
 * - exact cosine search over the rows file, ms per query;
 * - Milvus writes through the SDK to Milvus Lite (from .venv/, started in a temporary folder;
 *   a recording proxy in front counts the bytes sent), rows/s.
 */
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type EmbeddingRow, ingestDocuments, LocalRowsFile, localRowsSink } from "@gembed/ingest";
import { connectMilvus, MilvusCollection, startMilvusLite } from "@gembed/milvus";
import { startServer } from "@gembed/server";
import { GeminiEmbeddingFunction } from "gembed";
import { startMilvusFaultProxy } from "../../test/milvus-fault-proxy.js";

const DIM = 768;
const DOCUMENTS = 2000;

export default async function (): Promise<void> {
  const folder = await mkdtemp(path.join(tmpdir(), "gembed-bench-ingest-"));
  const server = await startServer();
  try {
    const ef = new GeminiEmbeddingFunction({
      baseUrl: server.url,
      apiKey: "bench",
      config: { outputDimensionality: DIM },
      quota: false,
    });
    const documents = Array.from({ length: DOCUMENTS }, (_, index) => ({
      id: `doc-${index}`,
      text: `Document ${index} is about topic ${index % 37} and mentions vector search, Milvus and Gemini ${index}.`,
      source: "bench",
    }));
    const file = await LocalRowsFile.open(path.join(folder, "rows.json"), {
      model: ef.modelName,
      dim: DIM,
    });
    let started = performance.now();
    const summary = await ingestDocuments(documents, { embedder: ef, sink: localRowsSink(file) });
    const ingestMs = performance.now() - started;
    started = performance.now();
    await file.commit();
    const commitMs = performance.now() - started;
    const size = (await stat(file.path)).size;
    console.log(
      `local ingest: ${summary.written} rows of dim ${DIM} in ${ingestMs.toFixed(0)} ms (${((summary.written / ingestMs) * 1000).toFixed(0)} rows/s, embedding included); commit ${commitMs.toFixed(0)} ms, ${(size / 1e6).toFixed(1)} MB`,
    );

    const reopened = await LocalRowsFile.open(file.path, { model: ef.modelName, dim: DIM });
    started = performance.now();
    const again = await ingestDocuments(documents, { embedder: ef, sink: localRowsSink(reopened) });
    console.log(
      `unchanged second run: ${again.skipped} skipped, ${again.embedded} embedded, ${(performance.now() - started).toFixed(0)} ms (open took part of it before)`,
    );

    const [query] = await ef.encodeQueries(["vector search with Milvus"]);
    const rounds = 50;
    started = performance.now();
    for (let round = 0; round < rounds; round++) reopened.search(query!, { limit: 10 });
    console.log(
      `exact cosine search over ${reopened.size} rows: ${((performance.now() - started) / rounds).toFixed(2)} ms per query`,
    );

    const lite = await startMilvusLite({ dataDir: path.join(folder, "milvus.db") });
    const milvus = await startMilvusFaultProxy(lite.uri);
    const client = await connectMilvus({ uri: milvus.address });
    try {
      const collection = await MilvusCollection.open({
        client,
        collectionName: "bench",
        embeddingFunction: ef,
        maxBytes: 8 * 1024 * 1024,
      });
      const rows: EmbeddingRow[] = reopened.rows();
      started = performance.now();
      const written = await collection.upsertRows(rows);
      const milvusMs = performance.now() - started;
      const requestBytes = milvus.calls("Upsert").reduce((sum, call) => sum + call.bytes, 0);
      console.log(
        `Milvus upsert via the SDK into Milvus Lite: ${written.written} rows in ${written.batches} batch(es) of <= 8 MiB, ${milvusMs.toFixed(0)} ms (${((written.written / milvusMs) * 1000).toFixed(0)} rows/s), ${(requestBytes / 1e6).toFixed(1)} MB sent`,
      );
    } finally {
      await client.closeConnection();
      await milvus.close();
      await lite.stop();
    }
  } finally {
    await server.close();
    await rm(folder, { recursive: true, force: true });
  }
}
