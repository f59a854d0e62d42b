import { describe, expect, it } from "vitest";
import {
  ChunkBuilder,
  type ChunkItem,
  chunkItems,
  MAX_BYTES_PER_CALL,
  requestBytes,
  splitChunk,
} from "./chunking.js";

function item(index: number, text: string): ChunkItem {
  const request = { model: "models/gemini-embedding-001", content: { parts: [{ text }] } };
  return { index, request, bytes: requestBytes(request), tokens: Math.ceil(text.length / 4) };
}

describe("chunking", () => {
  it("cuts at 100 texts", () => {
    const chunks = chunkItems(Array.from({ length: 250 }, (_, index) => item(index, `t${index}`)));
    expect(chunks.map((chunk) => chunk.items.length)).toEqual([100, 100, 50]);
    expect(chunks.flatMap((chunk) => chunk.items.map((entry) => entry.index))).toEqual(
      Array.from({ length: 250 }, (_, index) => index),
    );
  });

  it("cuts by bytes so each body stays under the limit, counting the real JSON", () => {
    const text = "é".repeat(30_000); // 60,000 UTF-8 bytes each
    const items = Array.from({ length: 100 }, (_, index) => item(index, text));
    const chunks = chunkItems(items);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) {
      const body = JSON.stringify({ requests: chunk.items.map((entry) => entry.request) });
      expect(Buffer.byteLength(body)).toBe(chunk.bytes);
      expect(chunk.bytes).toBeLessThanOrEqual(MAX_BYTES_PER_CALL);
    }
    // Full chunks: adding one more text would have gone over.
    expect(chunks[0]!.bytes + 1 + items[0]!.bytes!).toBeGreaterThan(MAX_BYTES_PER_CALL);
  });

  it("cuts where counting every text cuts, counting only near the limit (texts given uncounted)", () => {
    // Texts of every kind JSON escapes, of sizes around the limit's hundredth: each chunk must
    // hold as many texts as exact counting allows, and its body stay under the limit.
    const kinds = [
      "plain words ",
      'quote " and \\ ',
      "line\nfeed\t",
      "\u0001ctl ",
      "é日本",
      "😀",
      "\ud800",
    ];
    const texts = Array.from({ length: 700 }, (_, index) =>
      kinds[index % kinds.length]!.repeat(1 + ((index * 7919) % 9000)),
    );
    const counted = chunkItems(texts.map((text, index) => item(index, text)));
    const uncounted = chunkItems(
      texts.map((text, index) => {
        const request = { model: "models/gemini-embedding-001", content: { parts: [{ text }] } };
        return { index, request, tokens: 1 };
      }),
    );
    expect(uncounted.map((chunk) => chunk.items.length)).toEqual(
      counted.map((chunk) => chunk.items.length),
    );
    for (const chunk of uncounted) {
      const body = JSON.stringify({ requests: chunk.items.map((entry) => entry.request) });
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(chunk.bytes);
      expect(chunk.bytes).toBeLessThanOrEqual(MAX_BYTES_PER_CALL);
    }
    // Some chunks were cut by bytes (not only by count), so the counting path ran.
    expect(counted.some((chunk) => chunk.items.length < 100)).toBe(true);
  });

  it("gives an oversized text a chunk of its own", () => {
    const chunks = chunkItems([item(0, "a"), item(1, "b".repeat(5000)), item(2, "c")], {
      maxBytes: 1000,
    });
    expect(chunks.map((chunk) => chunk.items.map((entry) => entry.index))).toEqual([[0], [1], [2]]);
  });

  it("builds incrementally and sums tokens", () => {
    const builder = new ChunkBuilder({ maxCount: 2 });
    expect(builder.add(item(0, "aaaa"))).toBeUndefined();
    const closed = builder.add(item(1, "bbbbbbbb"));
    expect(closed?.items.length).toBe(2);
    expect(closed?.tokens).toBe(3);
    expect(builder.flush()).toBeUndefined();
  });

  it("splits a chunk for a smaller ceiling", () => {
    const [chunk] = chunkItems(Array.from({ length: 10 }, (_, index) => item(index, "x")));
    expect(splitChunk(chunk!, 4).map((piece) => piece.items.length)).toEqual([4, 4, 2]);
  });
});
