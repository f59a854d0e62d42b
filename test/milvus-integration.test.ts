/**
 * The seed's example end to end against the real Milvus of the test run: Milvus Lite (started
 * once per run by test/support/milvus-lite-setup.ts), or the Milvus standalone at MILVUS_URI when
 * set (see docs/milvus.md). Never skipped.
 */

import { MilvusCollection, MilvusSchemaMismatchError } from "@gembed/milvus";
import { type RunningServer, startServer } from "@gembed/server";
import type { MilvusClient } from "@zilliz/milvus2-sdk-node";
import { GeminiEmbeddingFunction } from "gembed";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_DOCUMENTS, DEMO_QUERIES } from "../packages/cli/src/commands/demo.js";
import { connectTestMilvus, uniqueCollection } from "./support/milvus.js";

describe("a real Milvus (Milvus Lite, or MILVUS_URI)", () => {
  let server: RunningServer;
  let client: MilvusClient;
  const name = uniqueCollection("it");

  beforeAll(async () => {
    server = await startServer();
    client = await connectTestMilvus();
  });
  afterAll(async () => {
    await client?.dropCollection({ collection_name: name }).catch(() => undefined);
    await client?.dropCollection({ collection_name: `${name}_other` }).catch(() => undefined);
    await client?.closeConnection();
    await server?.close();
  });

  it("creates the collection, upserts, finds each query's document first, and refuses another dim", async () => {
    const embeddingFunction = new GeminiEmbeddingFunction({
      baseUrl: server.url,
      apiKey: "local",
      config: { outputDimensionality: 768 },
    });
    const collection = await MilvusCollection.open({
      client,
      collectionName: name,
      embeddingFunction,
    });
    expect(collection.created).toBe(true);
    const written = await collection.addDocuments(
      DEMO_DOCUMENTS.map((text, index) => ({ id: `doc-${index}`, text, metadata: { index } })),
    );
    expect(written.written).toBe(3);
    // Upserting again replaces by id: still three rows.
    await collection.addDocuments(
      DEMO_DOCUMENTS.map((text, index) => ({ id: `doc-${index}`, text, metadata: { index } })),
    );
    for (const { query, expected } of DEMO_QUERIES) {
      const hits = await collection.search(query, { limit: 3, strong: true });
      expect(hits).toHaveLength(3);
      expect(hits[0]!.id).toBe(`doc-${expected}`);
      expect(hits[0]!.fields.metadata).toEqual({ index: expected });
    }
    const hashes = await collection.contentHashes(["doc-0", "doc-1", "nope"]);
    expect([...hashes.keys()].sort()).toEqual(["doc-0", "doc-1"]);
    const filtered = await collection.search("Turing", {
      filter: 'metadata["index"] == 1',
      strong: true,
    });
    expect(filtered.map((hit) => hit.id)).toEqual(["doc-1"]);

    const other = new GeminiEmbeddingFunction({
      baseUrl: server.url,
      apiKey: "local",
      config: { outputDimensionality: 1536 },
    });
    await expect(
      MilvusCollection.open({ client, collectionName: name, embeddingFunction: other }),
    ).rejects.toThrow(MilvusSchemaMismatchError);
  });
});
