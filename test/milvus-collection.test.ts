import { inspect } from "node:util";
import { type EmbeddingRow, ingestDocuments } from "@gembed/ingest";
import {
  connectMilvus,
  estimateRowBytes,
  MilvusCollection,
  MilvusSchemaMismatchError,
  MilvusWriteError,
  planBatches,
} from "@gembed/milvus";
import type { MilvusClient } from "@zilliz/milvus2-sdk-node";
import { GeminiEmbeddingFunction } from "gembed";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type MilvusTestServer, startMilvusTestServer } from "./milvus-grpc-server.js";

// Only `dim` and `modelName` of the embedding function are used by these tests: no Gemini call.
const embeddingFunction = (dim: number) =>
  new GeminiEmbeddingFunction({
    apiKey: "test-key-not-used",
    config: { outputDimensionality: dim },
  });

function row(
  id: string,
  vector: number[],
  documentId = id,
  extra: Partial<EmbeddingRow> = {},
): EmbeddingRow {
  return {
    id,
    text: `text ${id} ${"é".repeat(50)}`,
    title: `title ${id}`,
    metadata: {
      document_id: documentId,
      lang: id.startsWith("fr") ? "fr" : "en",
      nested: { n: 1 },
    },
    content_hash: `hash-${id}`,
    vector,
    ...extra,
  };
}

const unit = (dim: number, hot: number) =>
  Array.from({ length: dim }, (_, index) => (index === hot ? 1 : 0));

let server: MilvusTestServer;
let client: MilvusClient;
beforeEach(async () => {
  server = await startMilvusTestServer();
  client = await connectMilvus({ uri: server.address, token: "root:secret-milvus-token" });
});
afterEach(async () => {
  await client.closeConnection();
  await server.close();
});

describe("MilvusCollection.open", () => {
  it("creates the collection the SDK encodes: VarChar id key, fields, FloatVector of ef.dim, AUTOINDEX COSINE, loaded", async () => {
    const collection = await MilvusCollection.open({
      client,
      collectionName: "docs",
      embeddingFunction: embeddingFunction(768),
    });
    expect(collection.created).toBe(true);
    expect(collection.dim).toBe(768);
    const stored = server.collections.get("docs")!;
    const fields = stored.fields.map((field) => [
      field.name,
      field.data_type,
      field.is_primary_key,
    ]);
    expect(fields).toEqual([
      ["id", "VarChar", true],
      ["text", "VarChar", false],
      ["title", "VarChar", false],
      ["metadata", "JSON", false],
      ["content_hash", "VarChar", false],
      ["vector", "FloatVector", false],
    ]);
    const vector = stored.fields.find((field) => field.name === "vector")!;
    expect(vector.type_params).toContainEqual({ key: "dim", value: "768" });
    const id = stored.fields.find((field) => field.name === "id")!;
    expect(id.type_params).toContainEqual({ key: "max_length", value: "512" });
    expect(id.autoID).toBe(false);
    expect(stored.indexes).toHaveLength(1);
    const params = Object.fromEntries(
      stored.indexes[0]!.params.map((pair) => [pair.key, pair.value]),
    );
    expect(params).toMatchObject({ index_type: "AUTOINDEX", metric_type: "COSINE" });
    expect(stored.loaded).toBe(true);

    // Opening it again checks it and creates nothing.
    const again = await MilvusCollection.open({
      client,
      collectionName: "docs",
      embeddingFunction: embeddingFunction(768),
    });
    expect(again.created).toBe(false);
    expect(server.calls("CreateCollection")).toHaveLength(1);
  });

  it("refuses a collection of another dim or metric before writing anything", async () => {
    await MilvusCollection.open({
      client,
      collectionName: "docs",
      embeddingFunction: embeddingFunction(768),
    });
    const error = await MilvusCollection.open({
      client,
      collectionName: "docs",
      embeddingFunction: embeddingFunction(3072),
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MilvusSchemaMismatchError);
    expect((error as MilvusSchemaMismatchError).problems).toEqual([
      "vector dim is 768, the embedding function makes 3072",
    ]);

    await client.createCollection({
      collection_name: "l2",
      fields: [
        { name: "id", data_type: "VarChar", is_primary_key: true, max_length: 64 },
        { name: "vector", data_type: "FloatVector", dim: 768 },
      ],
      index_params: [{ field_name: "vector", index_type: "AUTOINDEX", metric_type: "L2" }],
    });
    const other = await MilvusCollection.open({
      client,
      collectionName: "l2",
      embeddingFunction: embeddingFunction(768),
    }).catch((caught: unknown) => caught);
    expect(other).toBeInstanceOf(MilvusSchemaMismatchError);
    expect((other as MilvusSchemaMismatchError).problems).toEqual([
      'no "text" field',
      'no "title" field',
      'no "metadata" field',
      'no "content_hash" field',
      "vector metric is L2, gembed needs COSINE",
    ]);
    expect(server.calls("Upsert")).toHaveLength(0);
    expect(server.calls("Insert")).toHaveLength(0);
  });

  it("rejects bad options with TypeError / RangeError before any call", async () => {
    const before = server.requests.length;
    const ef = embeddingFunction(128);
    await expect(
      MilvusCollection.open({ client, collectionName: "bad-name", embeddingFunction: ef }),
    ).rejects.toThrow(TypeError);
    await expect(
      MilvusCollection.open({
        client,
        collectionName: "ok",
        embeddingFunction: ef,
        maxBytes: 128 * 1024 * 1024,
      }),
    ).rejects.toThrow(RangeError);
    await expect(
      MilvusCollection.open({
        client,
        collectionName: "ok",
        embeddingFunction: ef,
        maxRetries: -1,
      }),
    ).rejects.toThrow(RangeError);
    expect(server.requests.length).toBe(before);
  });

  it("keeps the client and its token out of util.inspect and JSON", async () => {
    const collection = await MilvusCollection.open({
      client,
      collectionName: "docs",
      embeddingFunction: embeddingFunction(128),
    });
    expect(inspect(collection, { depth: 10 })).not.toContain("secret-milvus-token");
    expect(JSON.stringify(collection)).not.toContain("secret-milvus-token");
    expect(inspect(collection)).toContain("docs");
  });
});

describe("writing rows", () => {
  it("splits upserts into batches under maxBytes, as the SDK encodes them, and stores every field", async () => {
    const dim = 128;
    const collection = await MilvusCollection.open({
      client,
      collectionName: "docs",
      embeddingFunction: embeddingFunction(dim),
      maxBytes: 4000,
    });
    const rows = Array.from({ length: 25 }, (_, index) => row(`r${index}`, unit(dim, index % dim)));
    const perRow = estimateRowBytes(rows[0]!);
    expect(perRow).toBeGreaterThan(dim * 4);
    const expected = planBatches(rows, { maxBytes: 4000 });
    expect(expected.length).toBeGreaterThan(2);

    const seen: number[] = [];
    const result = await collection.upsertRows(rows, {
      onBatch: (batch) => seen.push(batch.written),
    });
    expect(result).toEqual({ written: 25, batches: expected.length });
    const upserts = server.calls("Upsert");
    expect(upserts.map((call) => Number(call.request.num_rows))).toEqual(
      expected.map((batch) => batch.length),
    );
    expect(seen.at(-1)).toBe(25);
    for (const [position, call] of upserts.entries()) {
      // The estimate bounds what the SDK actually sends.
      const estimated = expected[position]!.reduce((sum, each) => sum + estimateRowBytes(each), 0);
      expect(call.bytes).toBeLessThanOrEqual(estimated);
      expect(call.bytes).toBeLessThanOrEqual(4000);
    }
    const stored = server.collections.get("docs")!.rows.get("r3")!;
    expect(stored).toEqual({ ...rows[3], vector: rows[3]!.vector });
  });

  it("retries a failed batch, then reports its ids and keeps the batches already written", async () => {
    const dim = 128;
    const collection = await MilvusCollection.open({
      client,
      collectionName: "docs",
      embeddingFunction: embeddingFunction(dim),
      maxRows: 4,
      retryDelayMs: 1,
      maxRetries: 2,
    });
    const rows = Array.from({ length: 10 }, (_, index) => row(`r${index}`, unit(dim, index)));

    server.failWrites(2);
    await expect(collection.upsertRows(rows.slice(0, 4))).resolves.toEqual({
      written: 4,
      batches: 1,
    });
    expect(server.calls("Upsert")).toHaveLength(3);

    server.failWrites(100, 1);
    const error = await collection.upsertRows(rows).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MilvusWriteError);
    const failure = error as MilvusWriteError;
    expect(failure.ids).toEqual(["r4", "r5", "r6", "r7"]);
    expect(failure.pendingIds).toEqual(["r4", "r5", "r6", "r7", "r8", "r9"]);
    expect(failure.writtenCount).toBe(4);
    expect(failure.message).toContain("injected write failure");
    expect([...server.collections.get("docs")!.rows.keys()]).toEqual(["r0", "r1", "r2", "r3"]);
    // One good batch, then the failing one three times (a try and two retries).
    expect(server.calls("Upsert")).toHaveLength(3 + 1 + 3);
  });

  it("stops waiting for a retry when the signal aborts, keeping what was written", async () => {
    const dim = 128;
    const collection = await MilvusCollection.open({
      client,
      collectionName: "docs",
      embeddingFunction: embeddingFunction(dim),
      maxRows: 2,
      retryDelayMs: 600_000,
    });
    const rows = Array.from({ length: 4 }, (_, index) => row(`r${index}`, unit(dim, index)));
    server.failWrites(100, 1);
    const controller = new AbortController();
    const writing = collection
      .upsertRows(rows, { signal: controller.signal })
      .catch((caught: unknown) => caught);
    while (server.calls("Upsert").length < 2)
      await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    const error = await writing;
    expect((error as Error).name).toBe("AbortError");
    // The first batch went through; the second failed once and was not tried again.
    expect(server.calls("Upsert")).toHaveLength(2);
    expect([...server.collections.get("docs")!.rows.keys()]).toEqual(["r0", "r1"]);
  });

  it("checks rows against the schema before sending any", async () => {
    const collection = await MilvusCollection.open({
      client,
      collectionName: "docs",
      embeddingFunction: embeddingFunction(128),
    });
    await expect(collection.upsertRows([row("a", unit(128, 0)), row("b", [1, 0])])).rejects.toThrow(
      /2 values, the collection 128/,
    );
    await expect(
      collection.upsertRows([row("a", unit(128, 0), "a", { text: "x".repeat(70_000) })]),
    ).rejects.toThrow(RangeError);
    expect(server.calls("Upsert")).toHaveLength(0);
    expect(() => planBatches([row("big", unit(4, 0))], { maxBytes: 10 })).toThrow(RangeError);
  });
});

describe("reading back", () => {
  it("reads content hashes, removes stale chunks and searches with filters and output fields", async () => {
    const dim = 128;
    const collection = await MilvusCollection.open({
      client,
      collectionName: "docs",
      embeddingFunction: embeddingFunction(dim),
    });
    await collection.upsertRows([
      row("doc#0", unit(dim, 0), "doc"),
      row("doc#1", unit(dim, 1), "doc"),
      row("doc#2", unit(dim, 2), "doc"),
      row("fr-1", [0.9, 0.1, ...unit(126, -1)]),
      row('odd "id"', unit(dim, 3)),
    ]);
    const hashes = await collection.contentHashes(["doc#0", "fr-1", "missing", 'odd "id"']);
    expect(hashes).toEqual(
      new Map([
        ["doc#0", "hash-doc#0"],
        ["fr-1", "hash-fr-1"],
        ['odd "id"', 'hash-odd "id"'],
      ]),
    );

    const removed = await collection.removeStale(["doc"], new Set(["doc#0", "doc#1"]));
    expect(removed).toBe(1);
    expect([...server.collections.get("docs")!.rows.keys()].sort()).toEqual([
      "doc#0",
      "doc#1",
      "fr-1",
      'odd "id"',
    ]);

    const hits = await collection.searchVector(unit(dim, 0), { limit: 2 });
    expect(hits.map((hit) => hit.id)).toEqual(["doc#0", "fr-1"]);
    expect(hits[0]!.score).toBeCloseTo(1, 5);
    expect(hits[1]!.score).toBeCloseTo(0.9 / Math.hypot(0.9, 0.1), 5);
    expect(hits[0]!.fields).toEqual({
      text: expect.stringContaining("text doc#0"),
      title: "title doc#0",
      metadata: { document_id: "doc", lang: "en", nested: { n: 1 } },
    });
    const french = await collection.searchVector(unit(dim, 0), {
      filter: 'metadata["lang"] == "fr"',
      outputFields: ["title"],
    });
    expect(french).toEqual([
      { id: "fr-1", score: expect.any(Number), fields: { title: "title fr-1" } },
    ]);
    await expect(collection.searchVector(unit(dim, 0), { limit: 0 })).rejects.toThrow(RangeError);
    await expect(collection.searchVector([1, 2], {})).rejects.toThrow(RangeError);
  });
});

describe("the test server is as strict as Milvus's proxy", () => {
  it("refuses rows of another dim, a VarChar over max_length and a search with another metric", async () => {
    const dim = 128;
    const collection = await MilvusCollection.open({
      client,
      collectionName: "strict",
      embeddingFunction: embeddingFunction(dim),
    });
    // Straight through the SDK, past MilvusCollection's own checks.
    const good = row("a", unit(dim, 0));
    const shortVector = await client.upsert({
      collection_name: "strict",
      data: [{ ...good, id: "b", vector: unit(dim - 1, 0) }],
    });
    const longHash = await client.upsert({
      collection_name: "strict",
      data: [{ ...good, id: "c", content_hash: "x".repeat(65) }],
    });
    for (const result of [shortVector, longHash]) {
      expect(result.status.error_code).not.toBe("Success");
    }
    expect(shortVector.status.reason).toContain("floats for 1 rows of dim 128");
    expect(longHash.status.reason).toContain("max_length 64");
    expect(server.collections.get("strict")!.rows.size).toBe(0);

    await collection.upsertRows([good]);
    const l2 = await client.search({
      collection_name: "strict",
      anns_field: "vector",
      data: unit(dim, 0),
      limit: 1,
      metric_type: "L2",
    });
    expect(l2.status.reason).toContain("metric type not match");
    await expect(collection.searchVector(unit(dim, 0))).resolves.toHaveLength(1);
  });
});

describe("limits checked before anything is embedded", () => {
  it("refuses an id, text or title over the schema's limits without an embedding call", async () => {
    let embedCalls = 0;
    const dim = 128;
    const counting = {
      modelName: "gemini-embedding-001",
      dim,
      encodeDocuments: async (documents: unknown[]) => {
        embedCalls++;
        return documents.map((_, index) => Float32Array.from(unit(dim, index % dim)));
      },
      encodeQueries: async (queries: string[]) =>
        queries.map(() => Float32Array.from(unit(dim, 0))),
    };
    const collection = await MilvusCollection.open({
      client,
      collectionName: "limits",
      embeddingFunction: counting,
    });
    await expect(
      collection.addDocuments([{ id: "x".repeat(513), text: "some text" }]),
    ).rejects.toThrow(/id must be 1 to 512 bytes/);
    await expect(
      collection.addDocuments([{ id: "a", text: "some text", title: "é".repeat(2049) }]),
    ).rejects.toThrow(/title is over 4096 bytes/);
    await expect(
      ingestDocuments(
        [
          { id: "fine", text: "a fine document", source: "rows.jsonl:1" },
          { id: "y".repeat(600), text: "an id too long", source: "rows.jsonl:2" },
        ],
        { embedder: counting, sink: collection.asSink() },
      ),
    ).rejects.toThrow(RangeError);
    expect(embedCalls).toBe(0);
    expect(server.calls("Upsert")).toHaveLength(0);

    await collection.addDocuments([{ id: "a", text: "some text", title: "A title" }]);
    expect(embedCalls).toBe(1);
    expect(server.collections.get("limits")!.rows.get("a")).toMatchObject({ title: "A title" });
  });
});
