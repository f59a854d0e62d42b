/**
 * `--prune`: which rows a run may remove because the files they came from are gone (or no longer
 * read: excluded, ignored, skipped), and removing them from a local rows file.
 *
 * @module
 */

import { stat } from "node:fs/promises";
import path from "node:path";
import { isDynamicPattern } from "tinyglobby";
import type { LocalRowsFile } from "./local-rows-file.js";
import { documentIdPrefix, globBase } from "./sources.js";

/**
 * The document-id prefixes a run owns: `<folder name>/` for each folder input and for each glob's
 * fixed folder. Files named one by one, JSONL files and `-` own no prefix: their rows are never
 * pruned (a JSONL row is removed by deleting it by id).
 *
 * @example
 * ```ts
 * await pruneScope(["corpus", "notes/**\/*.md", "rows.jsonl"]); // ["corpus/", "notes/"]
 * ```
 */
export async function pruneScope(inputs: string[], cwd = process.cwd()): Promise<string[]> {
  const prefixes = new Set<string>();
  for (const input of inputs) {
    if (input === "-") continue;
    const absolute = path.resolve(cwd, input);
    const info = await stat(absolute).catch(() => undefined);
    if (info?.isDirectory()) prefixes.add(documentIdPrefix(absolute));
    else if (info === undefined && isDynamicPattern(input))
      prefixes.add(documentIdPrefix(path.resolve(cwd, globBase(input))));
  }
  // The root folder's prefix would be "": every row. Never prune that widely.
  prefixes.delete("");
  return [...prefixes];
}

/** Whether a document id is under one of the prefixes and was not read in this run. */
export function isPrunable(documentId: string, prefixes: string[], read: Set<string>): boolean {
  return !read.has(documentId) && prefixes.some((prefix) => documentId.startsWith(prefix));
}

/**
 * Removes from a rows file the rows of documents under `prefixes` that are not in `read` (takes
 * effect at `file.commit()`). Returns how many rows were removed.
 */
export function pruneRowsFile(file: LocalRowsFile, prefixes: string[], read: Set<string>): number {
  const gone = file
    .rows()
    .filter((row) => {
      const documentId = row.metadata?.document_id;
      return typeof documentId === "string" && isPrunable(documentId, prefixes, read);
    })
    .map((row) => row.id);
  return file.remove(gone);
}
