/**
 * `MilvusCollection` against the real Milvus of the test run (Milvus Lite from .venv/, or
 * MILVUS_URI), through a recording proxy where a test needs to see or fail the requests.
 */
import { inspect } from "node:util";
import { type EmbeddingRow, ingestDocuments } from "@gembed/ingest";
import {
  collectionModel,
  estimateRowBytes,
  MilvusCollection,
  MilvusOperationError,
  MilvusSchemaMismatchError,
  MilvusWriteError,
  planBatches,
  QUERY_WINDOW_ROWS,
} from "@gembed/milvus";
import type { MilvusClient } from "@zilliz/milvus2-sdk-node";
import { GeminiEmbeddingFunction } from "gembed";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type MilvusFaultProxy, startMilvusFaultProxy } from "./milvus-fault-proxy.js";
import { connectTestMilvus, milvusUri, uniqueCollection } from "./support/milvus.js";

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

let server: MilvusFaultProxy;
let client: MilvusClient;
const created: string[] = [];
/** A collection name of this run, dropped at the end. */
const fresh = (stem: string) => {
  const name = uniqueCollection(stem);
  created.push(name);
  return name;
};

/** Every stored row of a collection, by id, read back from the server. */
async function storedRows(name: string): Promise<Map<string, Record<string, unknown>>> {
  const result = await client.query({
    collection_name: name,
    filter: 'id != ""',
    output_fields: ["*"],
    consistency_level: "Strong" as never,
    limit: 1000,
  });
  expect(result.status.error_code).toBe("Success");
  return new Map(result.data.map((row) => [String(row.id), row]));
}

beforeAll(() => {
  milvusUri();
});
beforeEach(async () => {
  server = await startMilvusFaultProxy(milvusUri());
  client = await connectTestMilvus({ uri: server.address, token: "root:secret-milvus-token" });
});
afterEach(async () => {
  await client.closeConnection();
  await server.close();
});
afterAll(async () => {
  const cleanup = await connectTestMilvus();
  for (const name of created) await cleanup.dropCollection({ collection_name: name });
  await cleanup.closeConnection();
});

describe("MilvusCollection.open", () => {
  it("creates the collection: VarChar id key, fields, FloatVector of ef.dim, AUTOINDEX COSINE, loaded", async () => {
    const name = fresh("docs");
    const collection = await MilvusCollection.open({
      client,
      collectionName: name,
      embeddingFunction: embeddingFunction(768),
    });
    expect(collection.created).toBe(true);
    expect(collection.dim).toBe(768);
    // What the server says it holds.
    const described = await client.describeCollection({ collection_name: name });
    // Milvus Lite drops the description; the model is also kept as a collection property.
    expect(collectionModel(described)).toBe("gemini-embedding-001");
    const fields = described.schema.fields.map((field) => [
      field.name,
      field.data_type,
      Boolean(field.is_primary_key),
    ]);
    expect(fields).toEqual([
      ["id", "VarChar", true],
      ["text", "VarChar", false],
      ["title", "VarChar", false],
      ["metadata", "JSON", false],
      ["content_hash", "VarChar", false],
      ["vector", "FloatVector", false],
    ]);
    const vector = described.schema.fields.find((field) => field.name === "vector")!;
    expect(Number(vector.dim)).toBe(768);
    const id = described.schema.fields.find((field) => field.name === "id")!;
    expect(Number(id.max_length)).toBe(512);
    expect(Boolean(id.autoID)).toBe(false);
    const indexes = await client.describeIndex({ collection_name: name, field_name: "vector" });
    expect(indexes.index_descriptions).toHaveLength(1);
    const params = Object.fromEntries(
      indexes.index_descriptions[0]!.params.map((pair) => [pair.key, pair.value]),
    );
    expect(params).toMatchObject({ index_type: "AUTOINDEX", metric_type: "COSINE" });
    const load = await client.getLoadState({ collection_name: name });
    expect(String(load.state)).toBe("LoadStateLoaded");

    // Opening it again checks it and creates nothing.
    const again = await MilvusCollection.open({
      client,
      collectionName: name,
      embeddingFunction: embeddingFunction(768),
    });
    expect(again.created).toBe(false);
    expect(server.calls("CreateCollection")).toHaveLength(1);
  });

  it("loads a released collection, also on a server without the loading-progress poll", async () => {
    const name = fresh("released");
    const ef = embeddingFunction(128);
    await MilvusCollection.open({ client, collectionName: name, embeddingFunction: ef });
    for (const withoutPoll of [false, true]) {
      await client.releaseCollection({ collection_name: name });
      expect(String((await client.getLoadState({ collection_name: name })).state)).toBe(
        "LoadStateNotLoad",
      );
      if (withoutPoll) server.unimplemented.add("GetLoadingProgress");
      const before = server.calls("GetLoadingProgress").length;
      const opened = await MilvusCollection.open({
        client,
        collectionName: name,
        embeddingFunction: ef,
      });
      expect(opened.created).toBe(false);
      expect(String((await client.getLoadState({ collection_name: name })).state)).toBe(
        "LoadStateLoaded",
      );
      // The progress was polled; without that RPC, the load state was polled instead.
      expect(server.calls("GetLoadingProgress").length).toBeGreaterThan(before);
      if (withoutPoll) expect(server.calls("GetLoadState").length).toBeGreaterThan(2);
      await expect(opened.searchVector(unit(128, 0))).resolves.toEqual([]);
    }
  });

  it("refuses a collection of another dim or metric before writing anything", async () => {
    const name = fresh("dims");
    await MilvusCollection.open({
      client,
      collectionName: name,
      embeddingFunction: embeddingFunction(768),
    });
    const error = await MilvusCollection.open({
      client,
      collectionName: name,
      embeddingFunction: embeddingFunction(3072),
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MilvusSchemaMismatchError);
    expect((error as MilvusSchemaMismatchError).problems).toEqual([
      "vector dim is 768, the embedding function makes 3072",
    ]);

    const l2 = fresh("l2");
    const made = await client.createCollection({
      collection_name: l2,
      fields: [
        { name: "id", data_type: "VarChar", is_primary_key: true, max_length: 64 },
        { name: "vector", data_type: "FloatVector", dim: 768 },
      ],
      index_params: [{ field_name: "vector", index_type: "AUTOINDEX", metric_type: "L2" }],
    });
    expect(made.error_code).toBe("Success");
    const other = await MilvusCollection.open({
      client,
      collectionName: l2,
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
    const ok = fresh("ok");
    await expect(
      MilvusCollection.open({
        client,
        collectionName: ok,
        embeddingFunction: ef,
        maxBytes: 128 * 1024 * 1024,
      }),
    ).rejects.toThrow(RangeError);
    await expect(
      MilvusCollection.open({
        client,
        collectionName: ok,
        embeddingFunction: ef,
        maxRetries: -1,
      }),
    ).rejects.toThrow(RangeError);
    expect(server.requests.length).toBe(before);
    expect((await client.hasCollection({ collection_name: ok })).value).toBe(false);
  });

  it("keeps the client and its token out of util.inspect and JSON", async () => {
    const name = fresh("token");
    const collection = await MilvusCollection.open({
      client,
      collectionName: name,
      embeddingFunction: embeddingFunction(128),
    });
    expect(inspect(collection, { depth: 10 })).not.toContain("secret-milvus-token");
    expect(JSON.stringify(collection)).not.toContain("secret-milvus-token");
    expect(inspect(collection)).toContain(name);
  });
});

describe("writing rows", () => {
  it("splits upserts into batches under maxBytes, as the SDK encodes them, and stores every field", async () => {
    const dim = 128;
    const name = fresh("batches");
    const collection = await MilvusCollection.open({
      client,
      collectionName: name,
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
    const stored = await storedRows(name);
    expect(stored.size).toBe(25);
    const third = stored.get("r3")!;
    expect({ ...third, vector: (third.vector as number[]).map(Number) }).toEqual(rows[3]);
  });

  it("retries a failed batch, then reports its ids and keeps the batches already written", async () => {
    const dim = 128;
    const name = fresh("retries");
    const collection = await MilvusCollection.open({
      client,
      collectionName: name,
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
    expect([...(await storedRows(name)).keys()].sort()).toEqual(["r0", "r1", "r2", "r3"]);
    // One good batch, then the failing one three times (a try and two retries).
    expect(server.calls("Upsert")).toHaveLength(3 + 1 + 3);
  });

  it("does not retry a schema error (over max_length, dim mismatch, wrong field, no collection), but does a server failure", async () => {
    const dim = 128;
    const name = fresh("schema");
    const collection = await MilvusCollection.open({
      client,
      collectionName: name,
      embeddingFunction: embeddingFunction(dim),
      maxRetries: 3,
      retryDelayMs: 1,
    });
    const upserts = () => server.calls("Upsert").length;
    /** Writes through `collection`; the cause of the MilvusWriteError and the Upserts sent. */
    async function refused(rows: EmbeddingRow[]) {
      const before = upserts();
      const error = await collection.upsertRows(rows).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(MilvusWriteError);
      const cause = (error as MilvusWriteError).cause as MilvusOperationError;
      expect(cause).toBeInstanceOf(MilvusOperationError);
      expect(cause.isRetryable).toBe(false);
      return { cause, sent: upserts() - before };
    }

    // A value over a field's max_length (content_hash holds 64): Milvus refuses it, once.
    const long = await refused([row("a", unit(dim, 0), "a", { content_hash: "x".repeat(65) })]);
    expect(long.sent).toBe(1);
    expect(long.cause.reason).toMatch(/length|64/i);

    // The collection was replaced behind this object's back by one of another dim.
    await client.dropCollection({ collection_name: name });
    await MilvusCollection.open({
      client,
      collectionName: name,
      embeddingFunction: embeddingFunction(256),
    });
    const wrongDim = await refused([row("b", unit(dim, 1))]);
    expect(wrongDim.sent).toBe(1);
    expect(wrongDim.cause.reason).toMatch(/dim|128|256/);

    // ... then by one with a required field the rows lack.
    await client.dropCollection({ collection_name: name });
    const made = await client.createCollection({
      collection_name: name,
      fields: [
        { name: "id", data_type: "VarChar", is_primary_key: true, max_length: 512 },
        { name: "text", data_type: "VarChar", max_length: 65_535 },
        { name: "title", data_type: "VarChar", max_length: 1_024 },
        { name: "metadata", data_type: "JSON" },
        { name: "content_hash", data_type: "VarChar", max_length: 64 },
        { name: "source", data_type: "VarChar", max_length: 64 },
        { name: "vector", data_type: "FloatVector", dim },
      ],
      index_params: [{ field_name: "vector", index_type: "AUTOINDEX", metric_type: "COSINE" }],
    });
    expect(made.error_code).toBe("Success");
    const wrongField = await refused([row("c", unit(dim, 2))]);
    expect(wrongField.sent).toBe(1);
    expect(wrongField.cause.reason).toMatch(/source/);

    // ... then dropped: the SDK asks DescribeCollection first, and Milvus says it does not exist.
    await client.dropCollection({ collection_name: name });
    const describes = () =>
      server.calls("DescribeCollection").filter((call) => call.request.collection_name === name)
        .length;
    const describedBefore = describes();
    const gone = await refused([row("d", unit(dim, 3))]);
    expect(gone.sent).toBe(0);
    expect(describes() - describedBefore).toBe(1);
    expect(gone.cause.code).toBe("CollectionNotExists");

    // A failure of the server itself is still retried, with the same settings.
    await MilvusCollection.open({
      client,
      collectionName: name,
      embeddingFunction: embeddingFunction(dim),
    });
    server.failWrites(2);
    const before = upserts();
    await expect(collection.upsertRows([row("e", unit(dim, 4))])).resolves.toEqual({
      written: 1,
      batches: 1,
    });
    expect(upserts() - before).toBe(3);
  });

  it("stops waiting for a retry when the signal aborts, keeping what was written", async () => {
    const dim = 128;
    const name = fresh("abort");
    const collection = await MilvusCollection.open({
      client,
      collectionName: name,
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
    expect([...(await storedRows(name)).keys()].sort()).toEqual(["r0", "r1"]);
  });

  it("checks rows against the schema before sending any", async () => {
    const collection = await MilvusCollection.open({
      client,
      collectionName: fresh("checks"),
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
      collectionName: fresh("read"),
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
    expect([...(await storedRows(collection.name)).keys()].sort()).toEqual([
      "doc#0",
      "doc#1",
      "fr-1",
      'odd "id"',
    ]);

    const hits = await collection.searchVector(unit(dim, 0), { limit: 2, strong: true });
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
      strong: true,
    });
    expect(french).toEqual([
      { id: "fr-1", score: expect.any(Number), fields: { title: "title fr-1" } },
    ]);
    const prefixed = await collection.searchVector(unit(dim, 0), {
      filter: 'id like "doc#%" and metadata["nested"]["n"] == 1',
      outputFields: [],
      strong: true,
    });
    expect(prefixed.map((hit) => hit.id)).toEqual(["doc#0", "doc#1"]);
    await expect(collection.searchVector(unit(dim, 0), { limit: 0 })).rejects.toThrow(RangeError);
    await expect(collection.searchVector([1, 2], {})).rejects.toThrow(RangeError);
  });

  it("pages past Milvus's 16,384-row query window: stale-chunk removal over 20,500 rows", async () => {
    const dim = 4;
    const small = {
      modelName: "gemini-embedding-001",
      dim,
      encodeDocuments: async () => [],
      encodeQueries: async () => [],
    };
    const collection = await MilvusCollection.open({
      client,
      collectionName: fresh("many"),
      embeddingFunction: small,
    });
    const total = 20_500;
    const many = Array.from({ length: total }, (_, index) => ({
      id: `big#${index}`,
      text: `chunk ${index}`,
      title: "",
      metadata: { document_id: index < total - 3 ? "big" : "small", chunk: index },
      content_hash: "h",
      vector: unit(dim, index % dim),
    }));
    await collection.upsertRows(many);
    expect(total).toBeGreaterThan(QUERY_WINDOW_ROWS);

    // Every row is reached, page by page, none twice.
    const seen = new Set<string>();
    let pages = 0;
    for await (const page of collection.queryPages('id like "big#%"', [])) {
      pages++;
      for (const each of page) seen.add(String(each.id));
    }
    expect(seen.size).toBe(total);
    expect(pages).toBeGreaterThan(1);
    for (const call of server.calls("Query")) {
      const limit = (call.request.query_params as { key: string; value: string }[]).find(
        (pair) => pair.key === "limit",
      );
      expect(Number(limit?.value)).toBeLessThanOrEqual(QUERY_WINDOW_ROWS);
    }

    // The document "big" shrank to its chunks 0 and 20,000: every other chunk of it goes.
    const removed = await collection.removeStale(
      ["big", "small"],
      new Set(["big#0", "big#20000", `big#${total - 1}`]),
    );
    expect(removed).toBe(total - 3 - 2 + 2);
    const left = await storedRows(collection.name);
    expect([...left.keys()].sort()).toEqual(["big#0", "big#20000", `big#${total - 1}`]);
  });
});

describe("stale chunks by primary key", () => {
  it("removeStaleChunks deletes what a document no longer has, asking only by id", async () => {
    const dim = 4;
    const small = {
      modelName: "gemini-embedding-001",
      dim,
      encodeDocuments: async () => [],
      encodeQueries: async () => [],
    };
    const collection = await MilvusCollection.open({
      client,
      collectionName: fresh("stale"),
      embeddingFunction: small,
    });
    const chunk = (documentId: string, index: number, count: number): EmbeddingRow => ({
      id: count === 1 ? documentId : `${documentId}#${index}`,
      text: `chunk ${index}`,
      title: "",
      metadata: { document_id: documentId, chunk: index, chunks: count },
      content_hash: "h",
      vector: unit(dim, index % dim),
    });
    const document = (documentId: string, count: number) =>
      Array.from({ length: count }, (_, index) => chunk(documentId, index, count));
    await collection.upsertRows([
      ...document("shrunk", 300), // to 2 chunks: 298 go, found through `chunks` past the first
      ...document("was-one", 1), // now 3 chunks: the row "was-one" goes
      ...document("now-one", 4), // now 1 chunk: now-one#0..#3 go
      ...document("same", 3), // unchanged
      ...document("gone", 2), // 0 chunks: both go
      ...document("grew", 2), // now 5: nothing goes
      // An earlier run of 70 chunks that stopped after #40: its rows say 70, the next 5 say 5.
      ...document("partial", 5),
      ...document("partial", 70).slice(5, 41),
      // A row whose id looks like a chunk of "other" but belongs to another document: kept.
      { ...chunk("other#1", 0, 1), id: "other#1" },
    ]);
    const before = server.calls("Query").length;
    const removed = await collection.removeStaleChunks([
      { id: "shrunk", count: 2 },
      { id: "was-one", count: 3 },
      { id: "now-one", count: 1 },
      { id: "same", count: 3 },
      { id: "gone", count: 0 },
      { id: "grew", count: 5 },
      { id: "partial", count: 2 },
      { id: "other", count: 1 },
    ]);
    const queries = server.calls("Query").slice(before);
    expect(removed).toBe(298 + 1 + 4 + 2 + 39);
    const left = [...(await storedRows(collection.name)).keys()].sort();
    expect(left).toEqual(
      [
        "shrunk#0",
        "shrunk#1",
        "same#0",
        "same#1",
        "same#2",
        "grew#0",
        "grew#1",
        "partial#0",
        "partial#1",
        "other#1",
      ].sort(),
    );
    // Every query asked by primary key (never a scan of the metadata), a few rounds in all.
    for (const call of queries) expect(String(call.request.expr)).toMatch(/^id in \[/);
    expect(queries.length).toBeLessThanOrEqual(6);
    for (const call of server.calls("Delete"))
      expect(String(call.request.expr)).toMatch(/^id in \[/);
  });

  it("asSink's removeStale (ingestDocuments, gembed ingest --batch) asks only by id too", async () => {
    const dim = 4;
    const counting = {
      modelName: "gemini-embedding-001",
      dim,
      encodeDocuments: async (documents: unknown[]) =>
        documents.map((_, index) => Float32Array.from(unit(dim, index % dim))),
      encodeQueries: async () => [],
    };
    const collection = await MilvusCollection.open({
      client,
      collectionName: fresh("sinkstale"),
      embeddingFunction: counting,
    });
    const long = (words: number) =>
      Array.from({ length: words }, (_, index) => `word${index}`).join(" ");
    const sink = collection.asSink();
    const options = { embedder: counting, sink, chunk: { maxTokens: 50 } } as const;
    await ingestDocuments(
      [
        { id: "a", text: long(400), source: "test" },
        { id: "b", text: "short", source: "test" },
      ],
      options,
    );
    const chunksOfA = [...(await storedRows(collection.name)).keys()].filter((id) =>
      id.startsWith("a#"),
    ).length;
    expect(chunksOfA).toBeGreaterThan(2);
    const before = server.calls("Query").length;
    const second = await ingestDocuments(
      [
        { id: "a", text: long(80), source: "test" },
        { id: "b", text: long(400), source: "test" },
      ],
      options,
    );
    const queries = server.calls("Query").slice(before);
    expect(second.removed).toBeGreaterThan(0);
    const left = [...(await storedRows(collection.name)).keys()];
    expect(left).not.toContain("b");
    expect(left.filter((id) => id.startsWith("a#")).length).toBeLessThan(chunksOfA);
    expect(queries.length).toBeGreaterThan(0);
    for (const call of queries) expect(String(call.request.expr)).toMatch(/^id in \[/);
  });
});

describe("Milvus itself refuses what gembed's checks catch first", () => {
  it("refuses rows of another dim and a VarChar over max_length sent straight through the SDK", async () => {
    const dim = 128;
    const name = fresh("strict");
    const collection = await MilvusCollection.open({
      client,
      collectionName: name,
      embeddingFunction: embeddingFunction(dim),
    });
    const good = row("a", unit(dim, 0));
    const shortVector = await client
      .upsert({ collection_name: name, data: [{ ...good, id: "b", vector: unit(dim - 1, 0) }] })
      .catch((caught: unknown) => caught);
    const longHash = await client.upsert({
      collection_name: name,
      data: [{ ...good, id: "c", content_hash: "x".repeat(65) }],
    });
    // The SDK itself may refuse the short vector before sending it; else Milvus does.
    if (!(shortVector instanceof Error)) {
      expect((shortVector as { status: { error_code: string } }).status.error_code).not.toBe(
        "Success",
      );
    }
    expect(longHash.status.error_code).not.toBe("Success");
    expect(longHash.status.reason).toMatch(/length|64/i);
    expect((await storedRows(name)).size).toBe(0);

    await collection.upsertRows([good]);
    await expect(collection.searchVector(unit(dim, 0), { strong: true })).resolves.toHaveLength(1);
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
    const name = fresh("limits");
    const collection = await MilvusCollection.open({
      client,
      collectionName: name,
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
    expect((await storedRows(name)).get("a")).toMatchObject({ title: "A title" });
  });
});
