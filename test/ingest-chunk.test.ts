import { chunkDocument, splitText } from "@gembed/ingest";
import { estimateTokens } from "gembed";
import { describe, expect, it } from "vitest";

const sentence = (index: number) => `Sentence number ${index} talks about topic ${index % 7}.`;
const longText = Array.from({ length: 400 }, (_, index) => sentence(index)).join(" ");

describe("splitText", () => {
  it("returns a text within the limit whole and trimmed", () => {
    expect(splitText("  short text \n", { maxTokens: 64 })).toEqual(["short text"]);
    expect(splitText("   ", { maxTokens: 64 })).toEqual([]);
  });

  it("keeps every piece within the limit, ends pieces at sentence ends, and overlaps", () => {
    const pieces = splitText(longText, { maxTokens: 256, overlapTokens: 32 });
    expect(pieces.length).toBeGreaterThan(5);
    for (const piece of pieces) expect(estimateTokens(piece)).toBeLessThanOrEqual(256);
    for (const piece of pieces.slice(0, -1)) expect(piece.endsWith(".")).toBe(true);
    for (let index = 1; index < pieces.length; index++) {
      // The start of each piece repeats the end of the one before.
      const head = pieces[index]!.slice(0, 40);
      expect(pieces[index - 1]!.includes(head)).toBe(true);
    }
    // Nothing is lost: every sentence is in some piece.
    for (let index = 0; index < 400; index++) {
      expect(pieces.some((piece) => piece.includes(sentence(index)))).toBe(true);
    }
  });

  it("cuts text without spaces hard, never inside a surrogate pair", () => {
    const emoji = "😀".repeat(300);
    const pieces = splitText(emoji, { maxTokens: 25, overlapTokens: 0 });
    expect(pieces.join("")).toBe(emoji);
    for (const piece of pieces) expect(piece.length % 2).toBe(0);
  });

  it("rejects bad options before doing anything", () => {
    expect(() => splitText("x", { maxTokens: "9" as unknown as number })).toThrow(TypeError);
    expect(() => splitText("x", { maxTokens: 2 })).toThrow(RangeError);
    expect(() => splitText("x", { maxTokens: 100, overlapTokens: 80 })).toThrow(RangeError);
  });
});

describe("chunkDocument", () => {
  it("keeps the id of a document that fits and derives ids for one that does not", () => {
    const small = chunkDocument({ id: "a.md", text: "hello", title: "A", source: "a.md" });
    expect(small.map((chunk) => chunk.id)).toEqual(["a.md"]);
    expect(small[0]).toMatchObject({
      title: "A",
      metadata: { source: "a.md", chunk: 0, chunks: 1 },
    });

    const big = chunkDocument(
      { id: "b", text: longText, source: "rows.jsonl:3", metadata: { lang: "en" } },
      { maxTokens: 512 },
    );
    expect(big.length).toBeGreaterThan(1);
    expect(big.map((chunk) => chunk.id)).toEqual(big.map((_, index) => `b#${index}`));
    for (const chunk of big) {
      expect(chunk.metadata).toEqual({
        lang: "en",
        source: "rows.jsonl:3",
        document_id: "b",
        chunk: chunk.index,
        chunks: big.length,
      });
    }
  });
});

describe("chunkDocument with a title", () => {
  it("keeps every chunk and its title within maxTokens (the title is embedded with each chunk)", () => {
    const sentence = "Vector databases index embeddings so that similar items are found fast. ";
    const document = {
      id: "doc",
      title: "A title of some length for the whole document",
      text: sentence.repeat(400),
      source: "doc.md",
    };
    const chunks = chunkDocument(document, { maxTokens: 512, overlapTokens: 256 });
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) {
      expect(estimateTokens(chunk.text) + estimateTokens(chunk.title ?? "")).toBeLessThanOrEqual(
        512,
      );
    }
  });
});
