/**
 * UTF-8 sizes and bytes without Node's `Buffer`, so the core runs on any runtime.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * Scratch space for {@link utf8Length}: `encodeInto` is native (SIMD in V8) and 10-20x faster
 * than a JavaScript loop over the characters, which was 7% of a streaming client's CPU time. Its
 * bytes are never read.
 */
let scratch = new Uint8Array(64 * 1024);

/** The UTF-8 byte length of `text` (a lone surrogate counts 3, as `TextEncoder` writes U+FFFD). */
export function utf8Length(text: string): number {
  // At most 3 bytes per UTF-16 unit: a scratch of 3x the length always holds the whole text.
  if (text.length * 3 <= scratch.length) return encoder.encodeInto(text, scratch).written;
  if (text.length * 3 <= 16 * 1024 * 1024) {
    scratch = new Uint8Array(text.length * 3);
    return encoder.encodeInto(text, scratch).written;
  }
  return utf8LengthByLoop(text);
}

/** The same count without any buffer (for texts over 5 M units, where a scratch would be big). */
export function utf8LengthByLoop(text: string): number {
  let bytes = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && index + 1 < text.length) {
      const next = text.charCodeAt(index + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        index++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** The UTF-8 bytes of `text`. */
export function utf8Bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Characters `JSON.stringify` writes as a two-character escape (`\"`, `\\`, `\n`...). */
const SHORT_ESCAPES = new Set([0x22, 0x5c, 0x08, 0x0c, 0x0a, 0x0d, 0x09]);
/** What JSON.stringify escapes: quote, backslash, control characters, any surrogate (checked). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters JSON escapes.
const ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/g;
/** The same, but for the line feed. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters JSON escapes.
const OTHER_THAN_LINE_FEED = /["\\\u0000-\u0009\u000b-\u001f\ud800-\udfff]/;

/**
 * The UTF-8 byte length of `JSON.stringify(text)`, without making that copy of the text (a
 * streaming client sizes every request; stringifying each one only to count its bytes was a
 * second copy of every text, the largest allocation of an ingest after the rows).
 */
export function jsonStringBytes(text: string): number {
  let bytes = utf8Length(text) + 2;
  // Prose has line feeds and nothing else to escape: count those with the native indexOf (a
  // match object per line feed was a sixth of the count's time).
  if (!OTHER_THAN_LINE_FEED.test(text)) {
    for (let at = text.indexOf("\n"); at >= 0; at = text.indexOf("\n", at + 1)) bytes++;
    return bytes;
  }
  ESCAPED.lastIndex = 0;
  for (let match = ESCAPED.exec(text); match !== null; match = ESCAPED.exec(text)) {
    const at = match.index;
    const code = text.charCodeAt(at);
    if (code >= 0xd800 && code <= 0xdfff) {
      // A pair is written as is (4 bytes, counted by utf8Length); a lone surrogate as `\udxxx`
      // (6 bytes where utf8Length counted the 3 of U+FFFD).
      const next = text.charCodeAt(at + 1);
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) ESCAPED.lastIndex = at + 2;
      else bytes += 3;
    } else bytes += SHORT_ESCAPES.has(code) ? 1 : 5;
  }
  return bytes;
}

/**
 * The UTF-8 byte length of `JSON.stringify(value)` for plain JSON data (objects, arrays, strings,
 * finite numbers, booleans, null; `undefined` properties left out as JSON.stringify does), counted
 * without building the string.
 */
export function jsonBytes(value: unknown): number {
  return jsonSize(value, jsonStringBytes);
}

/**
 * An upper bound of {@link jsonBytes} that does not read strings: JSON writes a UTF-16 unit in at
 * most 6 bytes (`\u001f`, a lone surrogate `\udxxx`; a pair is 4 bytes for 2 units, any other
 * character at most 3), so a string takes at most 6 bytes per unit and its 2 quotes.
 */
export function jsonBytesBound(value: unknown): number {
  return jsonSize(value, (text) => text.length * 6 + 2);
}

/** The JSON size of `value`, its string values measured by `stringBytes` (keys exactly). */
function jsonSize(value: unknown, stringBytes: (text: string) => number): number {
  if (typeof value === "string") return stringBytes(value);
  if (typeof value === "number") return Number.isFinite(value) ? String(value).length : 4;
  if (typeof value === "boolean") return value ? 4 : 5;
  if (value === null || typeof value !== "object") return 4;
  if (Array.isArray(value)) {
    let bytes = 2 + Math.max(0, value.length - 1);
    for (const item of value)
      bytes += item === undefined || typeof item === "function" ? 4 : jsonSize(item, stringBytes);
    return bytes;
  }
  let bytes = 2;
  let fields = 0;
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    if (item === undefined || typeof item === "function" || typeof item === "symbol") continue;
    bytes += jsonStringBytes(key) + 1 + jsonSize(item, stringBytes);
    fields++;
  }
  return bytes + Math.max(0, fields - 1);
}
