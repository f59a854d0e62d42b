/**
 * Lines of a byte stream, for JSONL sources: what `node:readline` gives, at a fraction of its
 * cost. readline finds line ends with a regular expression over every chunk (a sixth of the
 * first pass over a JSONL file, and as much again in the second); `indexOf` finds them natively.
 *
 * Lines end at `\n`; a `\r` before it goes with it (CRLF files). A lone `\r` stays in its line
 * (JSON reads it as white space; readline would have cut the line there). A UTF-8 byte order
 * mark is dropped; invalid bytes become U+FFFD, as readline decodes.
 *
 * @module
 */

import { PieceDecoder } from "./piece-decoder.js";

/** Yields each line of `input` (without its line end), the last one even without a `\n`. */
export async function* textLines(
  input: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<string> {
  const decoder = new PieceDecoder();
  // Pieces of a line that spans reads: joined once at its end, so a line of any length is
  // copied once (concatenating and searching it at every read would copy it again and again).
  let pending: string[] = [];
  for await (const part of input) {
    for (const text of typeof part === "string" ? [part] : decoder.decode(part)) {
      yield* lines(text);
    }
  }
  const tail = decoder.end();
  if (tail.length > 0) pending.push(tail);
  if (pending.length > 0) yield withoutReturn(pending.join(""));

  function* lines(text: string): Generator<string> {
    let start = 0;
    for (let end = text.indexOf("\n"); end >= 0; end = text.indexOf("\n", start)) {
      let line = text.slice(start, end);
      if (pending.length > 0) {
        pending.push(line);
        line = pending.join("");
        pending = [];
      }
      yield withoutReturn(line);
      start = end + 1;
    }
    if (start < text.length) pending.push(text.slice(start));
  }
}

function withoutReturn(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}
