/**
 * A row whose metadata alone changed reaches Milvus without a new embedding: `gembed ingest
 * --milvus` against the real Milvus of the test run (Milvus Lite, or MILVUS_URI), through a
 * recording proxy, and the local Gemini server.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ingestDocuments, type SourceDocument } from "@gembed/ingest";
import { MilvusCollection } from "@gembed/milvus";
import { type RunningServer, startServer } from "@gembed/server";
import type { MilvusClient } from "@zilliz/milvus2-sdk-node";
import { GeminiEmbeddingFunction } from "gembed";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cleanEnvironment, runCli } from "./cli-run.js";
import {
  type MilvusFaultProxy,
  type RecordedRequest,
  startMilvusFaultProxy,
} from "./milvus-fault-proxy.js";
import { connectTestMilvus, milvusUri, uniqueCollection } from "./support/milvus.js";

let gemini: RunningServer;
let milvus: MilvusFaultProxy;
let reader: MilvusClient;
let folder: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  gemini = await startServer();
  milvus = await startMilvusFaultProxy(milvusUri());
  reader = await connectTestMilvus();
});
afterAll(async () => {
  await reader?.closeConnection();
  await milvus?.close();
  await gemini.close();
});
beforeEach(async (context) => {
  folder = await mkdtemp(path.join(tmpdir(), "gembed-milvus-metadata-"));
  env = cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: gemini.url, GEMINI_API_KEY: "metadata-key" });
  context.onTestFinished(() => rm(folder, { recursive: true, force: true }));
});

/** The rows one recorded Upsert carried, decoded from its columns as the server received them. */
function upsertedRows(call: RecordedRequest): Map<string, Record<string, unknown>> {
  const count = Number(call.request.num_rows);
  const rows = Array.from({ length: count }, () => ({}) as Record<string, unknown>);
  for (const column of call.request.fields_data as Record<string, unknown>[]) {
    const name = String(column.field_name);
    const vectors = column.vectors as { dim: string; float_vector: { data: number[] } } | undefined;
    if (vectors !== undefined) {
      const dim = Number(vectors.dim);
      rows.forEach((row, index) => {
        row[name] = vectors.float_vector.data.slice(index * dim, (index + 1) * dim);
      });
      continue;
    }
    const scalars = column.scalars as Record<string, { data: unknown[] }> & { data: string };
    const values = scalars[scalars.data]!.data;
    rows.forEach((row, index) => {
      const value = values[index];
      row[name] =
        scalars.data === "json_data"
          ? JSON.parse(Buffer.from(value as Uint8Array).toString("utf8"))
          : value;
    });
  }
  return new Map(rows.map((row) => [String(row.id), row]));
}

/** The stored rows of a collection, by id, as the server answers them. */
async function stored(name: string): Promise<Map<string, Record<string, unknown>>> {
  const result = await reader.query({
    collection_name: name,
    filter: 'id != ""',
    output_fields: ["*"],
    consistency_level: "Strong" as never,
    limit: 100,
  });
  expect(result.status.error_code).toBe("Success");
  return new Map(
    result.data.map((row) => [
      String(row.id),
      { ...row, vector: (row.vector as number[]).map(Number) } as Record<string, unknown>,
    ]),
  );
}

const ai = "Artificial intelligence was founded as an academic discipline in 1956.";
const turing = "Born in Maida Vale, London, Turing was raised in southern England.";

describe("metadata-only changes into Milvus", () => {
  it("gembed ingest --milvus upserts the stored vector with the new metadata and embeds nothing", async () => {
    const name = uniqueCollection("meta_cli");
    const args = [
      "ingest",
      "-",
      "--milvus",
      milvus.address,
      "--collection",
      name,
      "--dim",
      "256",
      "--json",
      "--no-progress",
    ];
    const jsonl = (aiMetadata: Record<string, unknown>) =>
      [
        { id: "ai", text: ai, title: "AI", metadata: aiMetadata },
        { id: "turing", text: turing, metadata: { topic: "people" } },
      ]
        .map((row) => JSON.stringify(row))
        .join("\n");

    const first = await runCli(args, { cwd: folder, env, input: jsonl({ topic: "ai" }) });
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ embedded: 2, updated: 0, written: 2 });
    const before = await stored(name);
    const oldVector = before.get("ai")!.vector as number[];
    const oldTuring = before.get("turing");
    expect(oldVector).toHaveLength(256);

    const textsBefore = gemini.stats().texts;
    const upsertsBefore = milvus.calls("Upsert").length;
    const queriesBefore = milvus.calls("Query").length;
    const second = await runCli(args, {
      cwd: folder,
      env,
      input: jsonl({ topic: "history", year: 1956 }),
    });
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({
      chunks: 2,
      unchanged: 1,
      embedded: 0,
      updated: 1,
      written: 1,
    });
    // No text went to the embedding API.
    expect(gemini.stats().texts - textsBefore).toBe(0);

    // The vector was read back by id, then upserted with the new metadata.
    const vectorQueries = milvus
      .calls("Query")
      .slice(queriesBefore)
      .filter((call) => (call.request.output_fields as string[]).includes("vector"));
    expect(vectorQueries).toHaveLength(1);
    expect(String(vectorQueries[0]!.request.expr)).toBe('id in ["ai"]');
    const upserts = milvus.calls("Upsert").slice(upsertsBefore);
    expect(upserts).toHaveLength(1);
    const sent = upsertedRows(upserts[0]!);
    expect([...sent.keys()]).toEqual(["ai"]);
    const row = sent.get("ai")!;
    expect(row.vector).toEqual(oldVector);
    expect(row.metadata).toEqual({
      topic: "history",
      year: 1956,
      source: "stdin:1",
      document_id: "ai",
      chunk: 0,
      chunks: 1,
    });
    expect(row).toMatchObject({ text: ai, title: "AI" });
    const after = await stored(name);
    expect(after.get("ai")!.metadata).toEqual(row.metadata);
    expect(after.get("ai")!.vector).toEqual(oldVector);
    expect(after.get("turing")).toEqual(oldTuring);

    // Run again with the same input: the collection now equals it, nothing is written.
    const third = await runCli(args, {
      cwd: folder,
      env,
      input: jsonl({ year: 1956, topic: "history" }),
    });
    expect(JSON.parse(third.stdout)).toMatchObject({ unchanged: 2, updated: 0, written: 0 });
    expect(milvus.calls("Upsert").length - upsertsBefore).toBe(1);
    expect(gemini.stats().texts - textsBefore).toBe(0);
  });

  it("a row that vanished between the check and the rewrite is embedded after all", async () => {
    const client: MilvusClient = await connectTestMilvus({ uri: milvus.address });
    const name = uniqueCollection("meta_lib");
    try {
      const ef = new GeminiEmbeddingFunction({
        baseUrl: gemini.url,
        apiKey: "metadata-key",
        config: { outputDimensionality: 128 },
      });
      const collection = await MilvusCollection.open({
        client,
        collectionName: name,
        embeddingFunction: ef,
      });
      const documents = (lang: string): SourceDocument[] => [
        { id: "a", text: ai, metadata: { lang }, source: "rows.jsonl:1" },
        { id: "b", text: turing, metadata: { lang }, source: "rows.jsonl:2" },
      ];
      const sink = collection.asSink();
      expect(await ingestDocuments(documents("en"), { embedder: ef, sink })).toMatchObject({
        embedded: 2,
        updated: 0,
      });
      // Row "b" is read as present (metadata differs) but gone when its vector is asked for.
      const racing = {
        ...sink,
        storedVectors: async (ids: string[]) => {
          const deleted = await reader.delete({ collection_name: name, filter: 'id in ["b"]' });
          expect(deleted.status.error_code).toBe("Success");
          return collection.storedVectors(ids);
        },
      };
      const textsBefore = gemini.stats().texts;
      const summary = await ingestDocuments(documents("fr"), { embedder: ef, sink: racing });
      expect(summary).toMatchObject({ skipped: 0, updated: 1, embedded: 1, written: 2 });
      expect(gemini.stats().texts - textsBefore).toBe(1);
      const rows = await stored(name);
      expect(rows.get("a")!.metadata).toMatchObject({ lang: "fr" });
      expect(rows.get("b")!.metadata).toMatchObject({ lang: "fr" });
      expect(rows.get("b")!.vector as number[]).toHaveLength(128);
    } finally {
      await client.closeConnection();
    }
  });
});
