/**
 * LangChain's own Milvus vector store (`@langchain/community`) with `GembedEmbeddings`, unchanged,
 * against a real Milvus: runs only when MILVUS_URI is set (as milvus-integration.test.ts). The
 * in-repo gRPC stand-in cannot serve it (LangChain's store polls `GetFlushState` until the
 * segments it names are flushed); the type-level fit is checked in adapters-langchain.test.ts.
 */
import { Milvus } from "@langchain/community/vectorstores/milvus";
import { Document } from "@langchain/core/documents";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GembedEmbeddings } from "../src/adapters/langchain/index.js";
import { type RunningServer, startServer } from "../src/server/index.js";

const uri = process.env.MILVUS_URI;
if (!uri) {
  console.log("adapters-langchain-milvus: skipped, MILVUS_URI is not set (see docs/milvus.md)");
}

describe.skipIf(!uri)("LangChain's Milvus store with GembedEmbeddings, at MILVUS_URI", () => {
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
      collectionName: `gembed_langchain_${process.pid}`,
      clientConfig: { address: uri! },
    });
    const [hit] = await store.similaritySearch("Where was Alan Turing born?", 1);
    expect(hit?.pageContent).toBe(documents[0]!.pageContent);
    await store.client.dropCollection({ collection_name: store.collectionName });
  });
});
