/**
 * Atomic file writes: the data goes to a temporary file beside the target, which is flushed to
 * disk (fsync) and then renamed over it, so a reader (or a process after a crash) sees the old
 * content or the new one, never a part.
 *
 * @module
 */

import { createWriteStream } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { pipeline } from "node:stream/promises";

let temporaryCounter = 0;

/** A fresh temporary path beside `file`: `<file>.<pid>.<n>.tmp`, unique within this process. */
export function temporaryPath(file: string): string {
  temporaryCounter++;
  return `${file}.${process.pid}.${temporaryCounter}.tmp`;
}

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /**
   * The mode of the new file (less the umask).
   * @default 0o666
   */
  mode?: number;
  /**
   * The temporary file to write first.
   * @default temporaryPath(file)
   */
  temporary?: string;
}

/** The chunks {@link writeFileAtomic} writes: one string or buffer, or a (lazy) sequence of them. */
export type AtomicWriteData =
  | string
  | Uint8Array
  | Iterable<string | Uint8Array>
  | AsyncIterable<string | Uint8Array>;

/**
 * Writes `file` atomically, with memory flat in the size of the data when it comes as a sequence
 * of chunks: the chunks go to a temporary file, which is flushed to disk (fsync) and then renamed
 * over `file`. On any error the temporary file is removed and `file` is left as it was.
 */
export async function writeFileAtomic(
  file: string,
  data: AtomicWriteData,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const temporary = options.temporary ?? temporaryPath(file);
  const chunks = typeof data === "string" || data instanceof Uint8Array ? [data] : data;
  const stream = createWriteStream(
    temporary,
    options.mode === undefined ? {} : { mode: options.mode },
  );
  try {
    await pipeline(chunks, stream);
    const handle = await open(temporary, "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  } catch (error) {
    // A stream opens its file asynchronously: when the source fails at once, the open may still be
    // under way. Wait for the stream to close, or the rm below could run before that open creates
    // the file and leave a stray temporary behind.
    if (!stream.closed) await new Promise<void>((resolve) => stream.once("close", () => resolve()));
    await rm(temporary, { force: true });
    throw error;
  }
}
