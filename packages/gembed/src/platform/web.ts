/**
 * The core's `#platform` on runtimes without Node (browsers, workers): the same names as
 * `./node.ts`, made of web globals only. There is no file system here, so a file path is refused
 * with a TypeError that says what to pass instead.
 *
 * @module
 */

import type { FileLock, OpenedFile } from "./node.js";

export type { FileLock, OpenedFile } from "./node.js";

/** The one `Buffer` function the transport uses: the bytes of several pieces, joined. */
export const Buffer = {
  concat(pieces: readonly Uint8Array[]): Uint8Array {
    let length = 0;
    for (const piece of pieces) length += piece.byteLength;
    const joined = new Uint8Array(length);
    let offset = 0;
    for (const piece of pieces) {
      joined.set(piece, offset);
      offset += piece.byteLength;
    }
    return joined;
  },
};

/** A download's body here: a web `ReadableStream`, which is async-iterable like Node's `Readable`. */
export type Readable = ReadableStream<Uint8Array>;

/** Makes a download's body from its pieces. */
export const Readable = {
  from(pieces: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): ReadableStream<Uint8Array> {
    const iterator =
      Symbol.asyncIterator in pieces
        ? pieces[Symbol.asyncIterator]()
        : (pieces as Iterable<Uint8Array>)[Symbol.iterator]();
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = await iterator.next();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        } catch (error) {
          controller.error(error);
        }
      },
      async cancel() {
        await iterator.return?.();
      },
    });
  },
};

function noFileSystem(what: string, path: string): TypeError {
  return new TypeError(
    `${what} ${path} needs a file system, which this runtime does not have: pass the bytes (a Uint8Array) or a stream instead, or a BatchStateStore of your own for batch state`,
  );
}

/** No file system: a path cannot be uploaded. */
export async function openFile(path: string): Promise<OpenedFile> {
  throw noFileSystem("Uploading the file", path);
}

/** No file system: a state file cannot be read. */
export async function readTextFile(path: string): Promise<string | undefined> {
  throw noFileSystem("Reading", path);
}

/** No file system: a state file cannot be written. */
export async function writeTextFile(path: string, _text: string, _mode: number): Promise<void> {
  throw noFileSystem("Writing", path);
}

/** No file system: a state file cannot be removed. */
export async function removeFile(path: string): Promise<void> {
  throw noFileSystem("Removing", path);
}

/** A warning goes to the console, the only channel every runtime has. */
export function emitWarning(message: string, code: string): void {
  console.warn(`(${code}) ${message}`);
}

/** No file system: a state file cannot be locked. */
export async function lockFile(file: string, _what?: string): Promise<FileLock> {
  throw noFileSystem("Locking", file);
}
