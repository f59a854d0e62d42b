/**
 * Reading an upload source in fixed-size chunks for the resumable upload protocol, so that a
 * 2 GB file never sits in memory: at most the chunk being sent and the one being filled.
 *
 * @module
 */

import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { extname } from "node:path";

/** What `files.upload` accepts: bytes, a file path, a Node stream or any async iterable of bytes. */
export type UploadSource = Uint8Array | string | NodeJS.ReadableStream | AsyncIterable<Uint8Array>;

/** The default upload chunk: 8 MiB, as the official SDKs send. */
export const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;

/** One chunk to send. */
export interface UploadChunk {
  /** The bytes of this chunk. */
  bytes: Uint8Array;
  /** Offset of the first byte in the whole upload. */
  offset: number;
  /** True for the last chunk (sent with `upload, finalize`). */
  last: boolean;
}

/** A source opened for reading: its size when known, and its bytes. */
export interface OpenedSource {
  /** Total size in bytes, when known before reading. */
  size: number | undefined;
  /** A guess of the MIME type from a path's extension. */
  mimeType: string | undefined;
  /** The bytes, in pieces of any size. */
  pieces: AsyncIterable<Uint8Array>;
  /**
   * The bytes again from `offset` on, for a source that can be read again (bytes, a path), so an
   * upload can resume below the chunk in memory; `undefined` for a stream.
   */
  reopen: ((offset: number) => AsyncIterable<Uint8Array>) | undefined;
}

const MIME_TYPES: Record<string, string> = {
  ".jsonl": "application/jsonl",
  ".json": "application/json",
  ".txt": "text/plain",
  ".csv": "text/csv",
  ".md": "text/markdown",
  ".html": "text/html",
  ".pdf": "application/pdf",
};

/**
 * Opens a source. A path is streamed (its size from `stat`), never read whole, and the file is
 * opened only when its first byte is wanted: an upload that fails before sending any chunk (a
 * refused start, no key) leaves no file descriptor behind.
 */
export async function openSource(source: UploadSource): Promise<OpenedSource> {
  if (source instanceof Uint8Array) {
    return {
      size: source.byteLength,
      mimeType: undefined,
      pieces: single(source),
      reopen: (offset) => single(source.subarray(offset)),
    };
  }
  if (typeof source === "string") {
    const info = await stat(source);
    if (!info.isFile()) throw new TypeError(`upload source is not a file: ${source}`);
    return {
      size: info.size,
      mimeType: MIME_TYPES[extname(source).toLowerCase()],
      pieces: readLazily(source, 0),
      reopen: (offset) => readLazily(source, offset),
    };
  }
  if (source !== null && typeof source === "object" && Symbol.asyncIterator in source) {
    return { size: undefined, mimeType: undefined, pieces: toBytes(source), reopen: undefined };
  }
  throw new TypeError(
    "upload source must be a Uint8Array, a file path, a readable stream or an async iterable of bytes",
  );
}

async function* readLazily(path: string, start: number): AsyncGenerator<Uint8Array> {
  // Leaving this loop early (an error, return()) destroys the stream and closes the file.
  yield* createReadStream(path, { highWaterMark: 1024 * 1024, start }) as AsyncIterable<Buffer>;
}

async function* single(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function* toBytes(
  source: AsyncIterable<Uint8Array | string> | NodeJS.ReadableStream,
): AsyncGenerator<Uint8Array> {
  for await (const piece of source as AsyncIterable<unknown>) {
    if (typeof piece === "string") yield Buffer.from(piece);
    else if (piece instanceof Uint8Array) yield piece;
    else throw new TypeError(`upload stream gave a ${typeof piece}, expected bytes`);
  }
}

/**
 * Cuts pieces of any size into chunks of exactly `chunkSize` bytes (the last one may be shorter).
 * A full chunk is handed out as soon as one more byte arrives, which proves it is not the last,
 * so only the chunk being filled is held here, even when the total size is unknown. An empty
 * source gives one empty last chunk. `startOffset` is the offset of the first piece's first byte
 * (an upload resumed from there).
 */
export async function* chunkPieces(
  pieces: AsyncIterable<Uint8Array>,
  chunkSize: number,
  startOffset = 0,
): AsyncGenerator<UploadChunk> {
  let offset = startOffset;
  let filling = Buffer.allocUnsafe(chunkSize);
  let filled = 0;
  for await (const piece of pieces) {
    let position = 0;
    while (position < piece.byteLength) {
      if (filled === chunkSize) {
        yield { bytes: filling, offset, last: false };
        offset += chunkSize;
        // A fresh buffer: the one just handed out may still be in flight.
        filling = Buffer.allocUnsafe(chunkSize);
        filled = 0;
      }
      const take = Math.min(chunkSize - filled, piece.byteLength - position);
      filling.set(piece.subarray(position, position + take), filled);
      filled += take;
      position += take;
    }
  }
  yield { bytes: filling.subarray(0, filled), offset, last: true };
}
