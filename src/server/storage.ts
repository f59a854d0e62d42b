/**
 * The data folder: atomic writes (a temporary file, then a rename), strict ids so that no name in
 * a URL can reach outside the folder, and random ids like the real ones.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

/** Ids of jobs, files and upload sessions: what may appear in a path of the data folder. */
export const ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

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

let temporaryCounter = 0;

/** Writes a file atomically: readers see the old content or the new one, never a part. */
export async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  temporaryCounter++;
  const temporary = `${file}.${process.pid}.${temporaryCounter}.tmp`;
  await writeFile(temporary, data);
  await rename(temporary, file);
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

/** Creates (if needed) the folders of the data folder. */
export async function prepareDataFolder(root: string): Promise<DataFolders> {
  const folders = {
    root,
    batches: path.join(root, "batches"),
    files: path.join(root, "files"),
    uploads: path.join(root, "uploads"),
  };
  await mkdir(folders.batches, { recursive: true });
  await mkdir(folders.files, { recursive: true });
  await mkdir(folders.uploads, { recursive: true });
  return folders;
}
