/**
 * LangChain's own Milvus vector store (`@langchain/community`) with `GembedEmbeddings`, unchanged,
 * against the run's real Milvus (Milvus Lite from .venv/, or MILVUS_URI), as every Milvus test.
 */
import { Milvus } from "@langchain/community/vectorstores/milvus";
import { Document } from "@langchain/core/documents";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GembedEmbeddings } from "../src/adapters/langchain/index.js";
import { type RunningServer, startServer } from "../src/server/index.js";
import { milvusUri, uniqueCollection } from "./support/milvus.js";

describe("LangChain's Milvus store with GembedEmbeddings, against the run's Milvus", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ logLevel: "silent" });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("stores the documents and finds the right one for a query", async () => {
    const embeddings = new GembedEmbeddings({
      apiKey: "k",
      baseUrl: server.url,
      outputDimensionality: 768,
    });
    const documents = [
      "Alan Turing was born in Maida Vale, London.",
      "Milvus is a vector database built for similarity search.",
      "The Enigma machine was used by Germany in the Second World War.",
    ].map(
      (text, index) => new Document({ pageContent: text, metadata: { source: `doc-${index}` } }),
    );
    const store = await Milvus.fromDocuments(documents, embeddings, {
      collectionName: uniqueCollection("langchain"),
      clientConfig: { address: milvusUri() },
    });
    const [hit] = await store.similaritySearch("Where was Alan Turing born?", 1);
    expect(hit?.pageContent).toBe(documents[0]!.pageContent);
    await store.client.dropCollection({ collection_name: store.collectionName });
  });
});
