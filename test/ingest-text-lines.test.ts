/**
 * `textLines` (the JSONL sources' line reader) against `node:readline`, which it replaced for
 * speed: the same lines for every input both read alike, fed in reads cut at every byte.
 */

import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { textLines } from "../packages/ingest/src/text-lines.js";

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

/** The bytes of `text` as reads of `size` bytes (a multi-byte character may be cut). */
function reads(text: string, size: number): Buffer[] {
  const bytes = Buffer.from(text);
  const parts: Buffer[] = [];
  for (let start = 0; start < bytes.length; start += size)
    parts.push(bytes.subarray(start, start + size));
  return parts;
}

const samples = [
  "",
  "one line without a newline",
  '{"id":"a"}\n{"id":"b"}\n',
  '{"id":"a"}\r\n{"id":"b"}\r\n\r\n',
  "\n\n  \nlast",
  '{"text":"日本語 é 😀"}\n{"text":"ü"}',
  `${"x".repeat(70_000)}\n${"y".repeat(10)}\n`,
];

describe("textLines", () => {
  it("gives readline's lines, whatever the reads are cut at", async () => {
    for (const sample of samples) {
      const expected = await collect(
        createInterface({
          input: Readable.from(reads(sample, 1 << 20)),
          crlfDelay: Number.POSITIVE_INFINITY,
        }),
      );
      for (const size of [1, 2, 3, 7, 64, 65_536]) {
        expect(await collect(textLines(Readable.from(reads(sample, size)))), `${size}`).toEqual(
          expected,
        );
      }
    }
  });
  it("drops a byte order mark and keeps a lone carriage return inside its line", async () => {
    const lines = await collect(
      textLines(Readable.from([Buffer.from('\ufeff{"a":1}\r{"b":2}\n')])),
    );
    expect(lines).toEqual(['{"a":1}\r{"b":2}']);
  });
  it("decodes invalid bytes as U+FFFD, as readline does", async () => {
    const bytes = Buffer.from([0x61, 0xff, 0x62, 0x0a]);
    expect(await collect(textLines(Readable.from([bytes])))).toEqual(["a\ufffdb"]);
  });
});
