/**
 * Splits texts into `batchEmbedContents` calls: at most 100 requests and at most about 3.5 MB
 * of JSON per call (the API refuses more than 100 requests, and bodies over 4 MiB).
 *
 * @module
 */

import type { EmbedContentRequest } from "../api/types.js";
import { jsonBytes, jsonBytesBound } from "../util/utf8.js";

/** The API's cap on requests per `batchEmbedContents` call. */
export const MAX_TEXTS_PER_CALL = 100;

/** Bytes of JSON per call, kept well under the API's 4,194,304-byte payload limit. */
export const MAX_BYTES_PER_CALL = 3_500_000;

/** `{"requests":[` and `]}` around the requests. */
const ENVELOPE_BYTES = '{"requests":[]}'.length;

/** One text on its way: where it sits in the input, its request, and its cost. */
export interface ChunkItem {
  /** Index in the caller's input. */
  index: number;
  request: EmbedContentRequest;
  /**
   * UTF-8 bytes of the request's JSON, when counted: {@link ChunkBuilder} counts them only when
   * a call's bytes come near the limit (see there).
   */
  bytes?: number | undefined;
  /** Estimated tokens (for a tokens-per-minute quota). */
  tokens: number;
}

/** One `batchEmbedContents` call. */
export interface Chunk {
  items: ChunkItem[];
  /**
   * UTF-8 bytes of the whole body: exact when they were counted (a call near the byte limit),
   * else an upper bound under the limit.
   */
  bytes: number;
  /** Estimated tokens of all texts. */
  tokens: number;
}

/** Limits of one chunk. */
export interface ChunkLimits {
  /** @default 100 */
  maxCount?: number;
  /** @default 3_500_000 */
  maxBytes?: number;
}

/** The UTF-8 size of a request's JSON (counted, not serialized). */
export function requestBytes(request: EmbedContentRequest): number {
  return jsonBytes(request);
}

/** The counted bytes of an item (counted now when they were not). */
function exactBytes(item: ChunkItem): number {
  item.bytes ??= requestBytes(item.request);
  return item.bytes;
}

/** What an item's request can take at most, without reading its texts (see jsonBytesBound). */
function boundBytes(item: ChunkItem): number {
  return item.bytes ?? jsonBytesBound(item.request);
}

/**
 * Builds chunks one item at a time (the streaming path needs this; the array path uses
 * {@link chunkItems}). A single item larger than `maxBytes` gets a chunk of its own: the API
 * then says what is wrong with it.
 *
 * Bytes are bounded first and counted only near the limit: a text's JSON takes at most 6 bytes
 * per UTF-16 unit, so 100 texts of 5 KB (3 MB at most) fit under 3.5 MB without reading them.
 * Counting every text (its UTF-8 length and what JSON escapes in it) was 3% of a streaming
 * ingest's CPU, for texts that fit either way. Once a call's bound passes the limit, its texts
 * are counted, and it is cut exactly where it was before.
 */
export class ChunkBuilder {
  readonly maxCount: number;
  readonly maxBytes: number;
  private items: ChunkItem[] = [];
  /** The body's bytes: exact once `counted`, else an upper bound. */
  private bytes = ENVELOPE_BYTES;
  private counted = false;
  private tokens = 0;

  constructor(limits: ChunkLimits = {}) {
    this.maxCount = Math.max(
      1,
      Math.min(MAX_TEXTS_PER_CALL, limits.maxCount ?? MAX_TEXTS_PER_CALL),
    );
    this.maxBytes = limits.maxBytes ?? MAX_BYTES_PER_CALL;
  }

  /** Adds an item; returns the chunk it closed, if adding it would overflow the current one. */
  add(item: ChunkItem): Chunk | undefined {
    let closed: Chunk | undefined;
    let size: number | undefined;
    if (this.items.length >= this.maxCount) closed = this.flush();
    else if (this.items.length > 0) {
      size = this.size(item);
      if (size > this.maxBytes) {
        closed = this.flush();
        size = undefined;
      }
    }
    this.bytes = size ?? this.size(item);
    this.tokens += item.tokens;
    this.items.push(item);
    if (closed === undefined && this.items.length >= this.maxCount) return this.flush();
    return closed;
  }

  /** The body's bytes with `item` added: bounded while that stays under the limit, else counted. */
  private size(item: ChunkItem): number {
    const separator = this.items.length > 0 ? 1 : 0;
    if (!this.counted) {
      const bound = this.bytes + separator + boundBytes(item);
      if (bound <= this.maxBytes) return bound;
      // Near the limit: the items so far are counted (once), then each one added.
      this.bytes = ENVELOPE_BYTES + Math.max(0, this.items.length - 1);
      for (const taken of this.items) this.bytes += exactBytes(taken);
      this.counted = true;
    }
    return this.bytes + separator + exactBytes(item);
  }

  /** Closes and returns the current chunk, if it holds anything. */
  flush(): Chunk | undefined {
    if (this.items.length === 0) return undefined;
    const chunk: Chunk = { items: this.items, bytes: this.bytes, tokens: this.tokens };
    this.items = [];
    this.bytes = ENVELOPE_BYTES;
    this.counted = false;
    this.tokens = 0;
    return chunk;
  }

  /** Items waiting in the open chunk. */
  get pending(): number {
    return this.items.length;
  }
}

/** Splits items, in order, into chunks within the limits. */
export function chunkItems(items: Iterable<ChunkItem>, limits: ChunkLimits = {}): Chunk[] {
  const builder = new ChunkBuilder(limits);
  const chunks: Chunk[] = [];
  for (const item of items) {
    const closed = builder.add(item);
    if (closed) chunks.push(closed);
  }
  const last = builder.flush();
  if (last) chunks.push(last);
  return chunks;
}

/** Splits one chunk into pieces of at most `maxCount` items (after a quota turned out small). */
export function splitChunk(chunk: Chunk, maxCount: number): Chunk[] {
  if (chunk.items.length <= maxCount) return [chunk];
  return chunkItems(chunk.items, { maxCount });
}
