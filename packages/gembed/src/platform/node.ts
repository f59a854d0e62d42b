/**
 * What the core needs from Node: files (uploads from a path, batch state files), Node streams
 * for downloads, process warnings. The core imports this module as `#platform`, which
 * package.json maps here under the "node" condition and to `./web.ts` everywhere else; this is
 * the only place where the core touches a `node:` module.
 *
 * @module
 */

import { createReadStream } from "node:fs";
import { mkdir, readFile, rm, stat } from "node:fs/promises";
import { dirname, extname } from "node:path";
import { writeFileAtomic } from "../util/atomic-write.js";

export { Buffer } from "node:buffer";
export { Readable } from "node:stream";
export { type FileLock, type LockOwner, lockFile } from "./file-lock.js";

/** A file opened for an upload: its size, a MIME type guessed from its extension, its bytes. */
export interface OpenedFile {
  /** Size in bytes. */
  size: number;
  /** A guess from the extension (`.jsonl` → `application/jsonl`), or undefined. */
  mimeType: string | undefined;
  /** The bytes from `offset` on; the file is opened when the first byte is wanted. */
  read(offset: number): AsyncIterable<Uint8Array>;
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
 * Opens a path for an upload. It is streamed (its size from `stat`), never read whole, and the
 * file is opened only when its first byte is wanted: an upload that fails before sending any
 * chunk (a refused start, no key) leaves no file descriptor behind.
 */
export async function openFile(path: string): Promise<OpenedFile> {
  const info = await stat(path);
  if (!info.isFile()) throw new TypeError(`upload source is not a file: ${path}`);
  return {
    size: info.size,
    mimeType: MIME_TYPES[extname(path).toLowerCase()],
    read: (offset) => readLazily(path, offset),
  };
}

async function* readLazily(path: string, start: number): AsyncGenerator<Uint8Array> {
  // Leaving this loop early (an error, return()) destroys the stream and closes the file.
  yield* createReadStream(path, { highWaterMark: 1024 * 1024, start }) as AsyncIterable<Buffer>;
}

/** A text file's content, or undefined when there is no such file. */
export async function readTextFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Replaces a text file atomically (its folder is created when missing). */
export async function writeTextFile(path: string, text: string, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, text, { mode });
}

/** Removes a file; no file is no error. */
export async function removeFile(path: string): Promise<void> {
  await rm(path, { force: true });
}

/** A process warning (`process.on("warning")`, printed by Node unless silenced). */
export function emitWarning(message: string, code: string): void {
  process.emitWarning(message, { code });
}
