/**
 * `JSON.stringify(text)` as UTF-8 bytes, for the two places an ingest escapes every chunk's text:
 * its content hash (SHA-256 of a JSON array holding the text) and its row line in the bulk-import
 * file. Both want bytes, not a string: the hash reads UTF-8, the row is written to a file.
 *
 * Why by hand: V8's `JSON.stringify` of a 5 KB text, then its UTF-8 encoding, was a sixth of an
 * ingest's main thread (twice per chunk), and every call allocated the text again (~700 MB for a
 * 200 MB corpus, most of what the collector had to do). Here the text is encoded once with the
 * native `encodeInto` into WebAssembly memory and escaped there 16 bytes at a time
 * (json-escape.wat, SIMD: 2.4x faster than JSON.stringify for prose). The bytes are the same as
 * JSON.stringify's, checked against it in test/ingest-json-escape.test.ts. A text with a lone
 * surrogate (which UTF-8 cannot hold and JSON.stringify writes as `\udxxx`), or a runtime without
 * WebAssembly SIMD, gets `undefined`: callers then use JSON.stringify.
 *
 * @module
 */

import * as crypto from "node:crypto";
import { JSON_ESCAPE_WASM } from "./json-escape-wasm.js";

/** What is used of the WebAssembly global (this package's TypeScript has no DOM types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}

interface Escaper {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  /** Writes the escaped body of the UTF-8 bytes `[src, src + n)` at `dst`; returns its end. */
  escape(src: number, n: number, dst: number): number;
  /** Writes `[v0,v1,…]` for `count` float32 values at `src` (see the .wat); returns its end. */
  floats(src: number, count: number, dst: number): number;
}

/**
 * The module's own bytes: powers of ten 1e-46 … 1e54 (f64) from 0, its digit scratch at 1000.
 * What this file writes starts after them.
 */
const BASE = 1024;
const LOWEST_POWER = -46;
const HIGHEST_POWER = 54;

/** The instance (undefined: not loaded yet; null: cannot be, JSON.stringify is used). */
let escaper: Escaper | null | undefined;
/** A view of its whole memory (made again when the memory grows). */
let memory = new Uint8Array(0);
const encoder = new TextEncoder();
const PAGE = 64 * 1024;
/** The most memory the escaper grows to (it never shrinks): larger texts use JSON.stringify. */
const MAX_MEMORY = 16 * 1024 * 1024;

function load(): Escaper | null {
  if (escaper !== undefined) return escaper;
  try {
    const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    if (wasm === undefined) throw new Error("no WebAssembly");
    const module = new wasm.Module(Buffer.from(JSON_ESCAPE_WASM, "base64"));
    escaper = new wasm.Instance(module).exports as Escaper;
    memory = new Uint8Array(escaper.memory.buffer);
    // Correctly rounded powers of ten (JavaScript parses "1e-46" exactly to the nearest double).
    const powers = new Float64Array(escaper.memory.buffer, 0, HIGHEST_POWER - LOWEST_POWER + 1);
    for (let power = LOWEST_POWER; power <= HIGHEST_POWER; power++)
      powers[power - LOWEST_POWER] = Number(`1e${power}`);
  } catch {
    escaper = null;
  }
  return escaper;
}

/** No lone surrogate (ES2024's `isWellFormed`, native on Node 20; a regular expression before). */
const isWellFormed: (text: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === "function"
    ? (text) => (text as unknown as { isWellFormed(): boolean }).isWellFormed()
    : (text) => !/\p{Surrogate}/u.test(text);

/**
 * Writes `before`, `JSON.stringify(text)` and `after` (UTF-8) into the escaper's memory; returns
 * where they are, valid until the next call, or undefined when JSON.stringify must be used.
 */
function escapeInMemory(
  before: string,
  text: string,
  after: string,
): { start: number; end: number } | undefined {
  const wasm = load();
  if (wasm === null || !isWellFormed(text)) return undefined;
  // The text's UTF-8 (at most 3 bytes a unit) from 0, then `before`, the escaped text (at most 6
  // bytes per UTF-8 byte), `after`.
  const source = text.length * 3;
  const needed = BASE + source + before.length * 3 + source * 6 + 2 + after.length * 3;
  if (needed > MAX_MEMORY) return undefined;
  grow(wasm, needed);
  const written = encoder.encodeInto(text, memory.subarray(BASE, BASE + source)).written;
  let at = BASE + source;
  const start = at;
  at += encoder.encodeInto(before, memory.subarray(at)).written;
  memory[at++] = 0x22;
  at = wasm.escape(BASE, written, at);
  memory[at++] = 0x22;
  at += encoder.encodeInto(after, memory.subarray(at)).written;
  return { start, end: at };
}

function grow(wasm: Escaper, needed: number): void {
  if (needed <= memory.length) return;
  wasm.memory.grow(Math.ceil((needed - memory.length) / PAGE));
  memory = new Uint8Array(wasm.memory.buffer);
}

/**
 * The SHA-256 (hex) of the UTF-8 of `before + JSON.stringify(text) + after`, or undefined when
 * JSON.stringify must be used (see the module comment).
 */
export function sha256OfJsonText(before: string, text: string, after: string): string | undefined {
  const place = escapeInMemory(before, text, after);
  if (place === undefined) return undefined;
  const bytes = memory.subarray(place.start, place.end);
  // Node's one-shot hash (20.12+), else a Hash object.
  return typeof crypto.hash === "function"
    ? crypto.hash("sha256", bytes, "hex")
    : crypto.createHash("sha256").update(bytes).digest("hex");
}

/**
 * The UTF-8 bytes of `JSON.stringify(text)` (a view, valid until the next call of this module),
 * or undefined when JSON.stringify must be used (see the module comment).
 */
export function jsonTextBytes(text: string): Uint8Array | undefined {
  const place = escapeInMemory("", text, "");
  return place === undefined ? undefined : memory.subarray(place.start, place.end);
}

/**
 * A vector's JSON as UTF-8 bytes (a view, valid until the next call of this module), each value
 * with at most 9 significant digits, which is exactly its float32 (what a Milvus FloatVector
 * holds, and what the embedding function gives), or undefined when a value is not a float32
 * (JSON.stringify must be used). V8 writes a float32's double with up to 17 digits
 * (`0.012345679104328156` for `0.012345679`): formatting them was the largest part of a row line
 * after the text, and a third of its bytes.
 */
export function jsonFloat32Bytes(values: readonly number[]): Uint8Array | undefined {
  const wasm = load();
  if (wasm === null) return undefined;
  const count = values.length;
  // The values from BASE (4-byte aligned), then at most 16 bytes a value (`-1.23456789e-45,`).
  grow(wasm, BASE + count * 4 + count * 16 + 2);
  const floats = new Float32Array(wasm.memory.buffer, BASE, count);
  for (let index = 0; index < count; index++) {
    const value = values[index]!;
    floats[index] = value;
    // Not a float32 (a double from elsewhere): 9 digits would change it. NaN stays NaN (`null`).
    if (floats[index] !== value && !Number.isNaN(value)) return undefined;
  }
  const start = BASE + count * 4;
  return memory.subarray(start, wasm.floats(BASE, count, start));
}
