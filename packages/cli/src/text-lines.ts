/**
 * Lines of text read as strict UTF-8, for `gembed embed -` and `gembed batch submit`: a byte
 * that is not UTF-8 (a Latin-1 file, a binary piped in by mistake) is reported with its line and
 * byte, as `gembed ingest` does for files, never embedded as U+FFFD in silence.
 *
 * @module
 */

/** One line: its 1-based number, and its text, or where its first bad byte is. */
export type TextLine =
  | { number: number; text: string; invalidByte?: undefined }
  | { number: number; text?: undefined; invalidByte: number };

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * The lines of a byte stream (split at `\n`, a `\r` before it dropped, a UTF-8 byte order mark at
 * the start dropped), each decoded as strict UTF-8. Memory is one line at a time.
 */
export async function* textLines(
  stream: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<TextLine> {
  let pending: Buffer[] = [];
  let number = 0;
  const line = (parts: Buffer[]): TextLine => {
    number++;
    let bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (bytes.at(-1) === 0x0d) bytes = bytes.subarray(0, -1);
    try {
      // The decoder drops a byte order mark at the start of each call: only the first line has one.
      return { number, text: decoder.decode(bytes) };
    } catch {
      return { number, invalidByte: firstInvalidByte(bytes) };
    }
  };
  for await (const chunk of stream) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk);
    let from = 0;
    for (let end = bytes.indexOf(0x0a); end !== -1; end = bytes.indexOf(0x0a, from)) {
      pending.push(bytes.subarray(from, end));
      yield line(pending);
      pending = [];
      from = end + 1;
    }
    if (from < bytes.length) pending.push(bytes.subarray(from));
  }
  if (pending.length > 0) yield line(pending);
}

/**
 * The 0-based offset of the first byte of `bytes` that is not UTF-8. The lenient decoding puts
 * U+FFFD where a bad sequence starts; a U+FFFD the text really holds is the bytes EF BF BD.
 */
export function firstInvalidByte(bytes: Uint8Array): number {
  let offset = 0;
  for (const character of Buffer.from(bytes).toString("utf8")) {
    if (
      character === "\uFFFD" &&
      !(bytes[offset] === 0xef && bytes[offset + 1] === 0xbf && bytes[offset + 2] === 0xbd)
    ) {
      return offset;
    }
    offset += Buffer.byteLength(character);
  }
  return offset;
}
