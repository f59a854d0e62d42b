import { describe, expect, it } from "vitest";
import { chunkPieces, openSource, type UploadChunk } from "./upload.js";

async function collect(pieces: Uint8Array[], chunkSize: number): Promise<UploadChunk[]> {
  async function* source() {
    yield* pieces;
  }
  const chunks: UploadChunk[] = [];
  for await (const chunk of chunkPieces(source(), chunkSize)) {
    chunks.push({ ...chunk, bytes: Uint8Array.from(chunk.bytes) });
  }
  return chunks;
}

const bytes = (length: number, start = 0) =>
  Uint8Array.from({ length }, (_, index) => (start + index) % 251);

describe("chunkPieces", () => {
  it("cuts uneven pieces into exact chunks and marks the last one", async () => {
    const all = bytes(25);
    const chunks = await collect([all.subarray(0, 3), all.subarray(3, 21), all.subarray(21)], 10);
    expect(chunks.map((chunk) => [chunk.offset, chunk.bytes.byteLength, chunk.last])).toEqual([
      [0, 10, false],
      [10, 10, false],
      [20, 5, true],
    ]);
    expect(Buffer.concat(chunks.map((chunk) => chunk.bytes)).equals(Buffer.from(all))).toBe(true);
  });

  it("an exact multiple ends with a full last chunk", async () => {
    const chunks = await collect([bytes(20)], 10);
    expect(chunks.map((chunk) => [chunk.offset, chunk.bytes.byteLength, chunk.last])).toEqual([
      [0, 10, false],
      [10, 10, true],
    ]);
  });

  it("an empty source gives one empty last chunk", async () => {
    const chunks = await collect([], 10);
    expect(chunks).toEqual([{ bytes: new Uint8Array(0), offset: 0, last: true }]);
  });

  it("keeps at most one chunk ahead of the consumer", async () => {
    let produced = 0;
    async function* source() {
      for (let index = 0; index < 100; index++) {
        produced += 10;
        yield bytes(10);
      }
    }
    const iterator = chunkPieces(source(), 100)[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value?.offset).toBe(0);
    // The first chunk is known not to be last only once a byte of the next arrived.
    expect(produced).toBe(110);
    await iterator.return?.(undefined);
  });
});

describe("openSource", () => {
  it("knows the size of bytes and rejects what it cannot read", async () => {
    expect((await openSource(new Uint8Array(7))).size).toBe(7);
    await expect(openSource(42 as unknown as Uint8Array)).rejects.toThrow(TypeError);
    await expect(openSource(".")).rejects.toThrow(TypeError);
  });
});
