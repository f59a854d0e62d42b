/**
 * The data folder: atomic writes (a temporary file, then a rename), strict ids so that no name in
 * a URL can reach outside the folder, and random ids like the real ones.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "gembed/node";

/** Ids of jobs, files and upload sessions: what may appear in a path of the data folder. */
const ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** True when `id` is a safe id. */
export function isValidId(id: string): boolean {
  return ID_PATTERN.test(id);
}

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** A random id of lower-case letters and digits. */
export function randomId(length: number): string {
  const bytes = randomBytes(length);
  let id = "";
  for (const byte of bytes) id += ALPHABET[byte % ALPHABET.length];
  return id;
}

/**
 * Writes a file atomically (the repository's one helper, {@link writeFileAtomic}: a temporary
 * file, fsync, rename): readers, and a server restarted after a crash, see the old content or
 * the new one, never a part.
 */
export function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  return writeFileAtomic(file, data);
}

/**
 * Writes a file atomically from a stream of chunks, with memory flat in the size of the data (see
 * {@link writeAtomic}). On any error the temporary file is removed and `file` is left as it was.
 */
export function writeAtomicStream(
  file: string,
  source: AsyncIterable<string | Uint8Array>,
): Promise<void> {
  return writeFileAtomic(file, source);
}

const LINE_FEED = 0x0a;

/**
 * The lines of a file, read lazily (one chunk of the file in memory at a time, plus the line being
 * built), without their `\n`. The first `skip` lines are passed over without being decoded. A last
 * line without a final `\n` is yielded too; an empty file yields nothing.
 */
export async function* readLines(file: string, skip = 0): AsyncGenerator<string> {
  let toSkip = skip;
  let pending: Buffer[] = [];
  for await (const chunk of createReadStream(file, {
    highWaterMark: 1 << 20,
  }) as AsyncIterable<Buffer>) {
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(LINE_FEED, start);
      if (end === -1) break;
      if (toSkip > 0) {
        toSkip--;
      } else {
        const piece = chunk.subarray(start, end);
        const line = pending.length === 0 ? piece : Buffer.concat([...pending, piece]);
        yield line.toString("utf8");
      }
      pending = [];
      start = end + 1;
    }
    // The tail of a skipped line is not kept.
    if (start < chunk.length && toSkip === 0) pending.push(chunk.subarray(start));
  }
  if (pending.length > 0 && toSkip === 0) yield Buffer.concat(pending).toString("utf8");
}

/** Reads and parses a JSON file, or undefined when it does not exist. */
export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Removes a file, ignoring a missing one. */
export async function removeFile(file: string): Promise<void> {
  await rm(file, { force: true, recursive: true });
}

/** The folders of a data folder. */
export interface DataFolders {
  root: string;
  batches: string;
  files: string;
  uploads: string;
}

/** The data folder cannot be used: missing rights, a read-only file system, not a folder. */
export class DataFolderError extends Error {
  override name = "DataFolderError";
}

/**
 * Creates (if needed) the folders of the data folder and checks that each can be written (a
 * probe file is written and removed), so that a read-only folder is said at start, not as a 500
 * at the first job or upload.
 *
 * @throws DataFolderError naming the folder and the system error.
 */
export async function prepareDataFolder(root: string): Promise<DataFolders> {
  const folders = {
    root,
    batches: path.join(root, "batches"),
    files: path.join(root, "files"),
    uploads: path.join(root, "uploads"),
  };
  for (const folder of [folders.batches, folders.files, folders.uploads]) {
    try {
      await makeFolder(folder);
      const probe = path.join(folder, `.write-probe-${process.pid}`);
      await writeFileAtomic(probe, "");
      await rm(probe, { force: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "error";
      throw new DataFolderError(
        `The data folder ${root} cannot be written (${code} on ${folder}): the server keeps its jobs and files there; make it writable or choose another (--data-dir / options.dataDir).`,
        { cause: error },
      );
    }
  }
  return folders;
}

/**
 * Creates a folder and its missing parents, one level at a time from the first that exists. Not
 * `mkdir(..., { recursive: true })`: Node's recursive mkdir never returns under `/proc` (the
 * kernel answers ENOENT for a parent that exists, and Node retries forever), so `--data-dir
 * /proc/x` would hang the server's start. Here each level is one plain `mkdir`, so the work is
 * bounded by the depth of the path and any refusal is an error.
 */
export async function makeFolder(folder: string): Promise<void> {
  const missing: string[] = [];
  let current = path.resolve(folder);
  for (;;) {
    const kind = await stat(current).then(
      (info) => (info.isDirectory() ? "folder" : "other"),
      (error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") return "missing";
        throw error;
      },
    );
    if (kind === "folder") break;
    if (kind === "other")
      throw Object.assign(new Error(`${current} is not a folder`), { code: "ENOTDIR" });
    missing.unshift(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const level of missing) {
    try {
      await mkdir(level);
    } catch (error) {
      // Created meanwhile by another process: fine when it is a folder.
      if (
        (error as NodeJS.ErrnoException).code !== "EEXIST" ||
        !(await stat(level)).isDirectory()
      ) {
        throw error;
      }
    }
  }
}
