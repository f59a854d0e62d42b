/**
 * `PieceDecoder` (how the ingest decodes files read in parts) against the platform's own
 * `TextDecoder` in stream mode, which it replaced for speed: the same text for every input, fed
 * in reads cut at every byte; invalid UTF-8 found at the same byte the whole-buffer check names.
 */

import { describe, expect, it } from "vitest";
import {
  InvalidUtf8Error,
  PIECE_BYTES,
  PieceDecoder,
} from "../packages/ingest/src/piece-decoder.js";

function parts(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let start = 0; start < bytes.length; start += size)
    out.push(bytes.subarray(start, start + size));
  return out;
}

function withPieceDecoder(reads: Uint8Array[], fatal = false): { text: string; pieces: string[] } {
  const decoder = new PieceDecoder("utf8", { fatal });
  const pieces: string[] = [];
  for (const read of reads) pieces.push(...decoder.decode(read));
  const last = decoder.end();
  if (last.length > 0) pieces.push(last);
  return { text: pieces.join(""), pieces };
}

function withTextDecoder(reads: Uint8Array[], fatal = false): string {
  const decoder = new TextDecoder("utf-8", { fatal });
  let text = "";
  for (const read of reads) text += decoder.decode(read, { stream: true });
  return text + decoder.decode();
}

const bom = [0xef, 0xbb, 0xbf];
const samples: Uint8Array[] = [
  new Uint8Array(0),
  Buffer.from("plain ASCII text\n"),
  Buffer.from("日本語 é 😀 ü ß 𝄞"),
  // A byte order mark at the start (dropped) and one in the middle (text).
  Uint8Array.from([...bom, ...Buffer.from("after the mark \ufeff inside")]),
  // Invalid bytes of every kind (replaced by U+FFFD when not fatal).
  Uint8Array.from([0x61, 0xe9, 0x62, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80, 0x63]),
  Uint8Array.from([0x61, 0x80, 0x80, 0x80, 0x80, 0x62]),
  // Cut short at the end.
  Uint8Array.from([...Buffer.from("abc"), 0xf0, 0x9f, 0x98]),
  Uint8Array.from([...Buffer.from("abc"), 0xe6]),
];

describe("PieceDecoder", () => {
  it("decodes what TextDecoder's stream mode decodes, whatever the reads are cut at", () => {
    for (const sample of samples) {
      for (const size of [1, 2, 3, 4, 5, 7, 64, 1 << 20]) {
        const reads = parts(sample, size);
        expect(
          withPieceDecoder(reads).text,
          `${Buffer.from(sample).toString("hex")} / ${size}`,
        ).toBe(withTextDecoder(reads));
      }
    }
  });

  it("keeps each piece under PIECE_BYTES and never cuts a character between pieces", () => {
    // 4-byte characters, so most piece ends fall inside one; one read of 3 pieces' size.
    const text = `😀${"é😀".repeat(PIECE_BYTES / 2)}`;
    const bytes = Buffer.from(text);
    const { pieces } = withPieceDecoder([bytes]);
    expect(pieces.length).toBeGreaterThanOrEqual(3);
    for (const piece of pieces) {
      expect(Buffer.byteLength(piece)).toBeLessThanOrEqual(PIECE_BYTES);
      expect(piece).not.toContain("\ufffd");
    }
    expect(pieces.join("")).toBe(text);
  });

  it("names the stream offset of the first invalid byte when fatal, even in a later read", () => {
    const good = Buffer.from("é".repeat(50_000)); // 100,000 bytes
    const bad = Uint8Array.from([...good, 0x61, 0xff, 0x62]);
    for (const size of [1, 3, 4_096, 65_536, 1 << 20]) {
      expect(() => withPieceDecoder(parts(bad, size), true)).toThrow(
        expect.objectContaining({ name: "InvalidUtf8Error", byte: 100_001 }),
      );
    }
    // A character cut short by the end of the stream: the offset of its first byte.
    const cut = Uint8Array.from([...good, 0xf0, 0x9f]);
    for (const size of [1, 4_096, 1 << 20]) {
      let caught: unknown;
      try {
        withPieceDecoder(parts(cut, size), true);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(InvalidUtf8Error);
      expect((caught as InvalidUtf8Error).byte).toBe(100_000);
    }
    // And the platform agrees that both are invalid.
    expect(() => withTextDecoder([bad], true)).toThrow();
    expect(() => withTextDecoder([cut], true)).toThrow();
  });
});
