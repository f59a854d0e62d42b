/**
 * Temporary files of atomic writes (`<file>.<pid>.<n>.tmp`, `gembed/node`'s `temporaryPath`) that
 * a process left behind when it was killed mid-write (a second Ctrl-C): removed when their
 * process is gone, so they do not pile up beside the rows file.
 *
 * @module
 */

import { readdir, rm } from "node:fs/promises";
import path from "node:path";

/** Whether a process with this id runs (one of another user counts as running). */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes the temporaries of atomic writes of `file` and of the files named after it
 * (`<file>.gembed.json`, `<file>.partial.jsonl`) whose process no longer runs; those of a
 * running process (this one included) are left alone. Returns the paths removed.
 */
export async function removeStaleTemporaries(file: string): Promise<string[]> {
  const folder = path.dirname(path.resolve(file));
  const base = path.basename(file);
  const escaped = base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const pattern = new RegExp(`^${escaped}(?:\\.[^/]+)?\\.(\\d+)\\.(\\d+)\\.tmp$`);
  const names = await readdir(folder).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const match = pattern.exec(name);
    if (match === null) continue;
    const pid = Number(match[1]);
    if (pid === process.pid || processRuns(pid)) continue;
    const stale = path.join(folder, name);
    await rm(stale, { force: true });
    removed.push(stale);
  }
  return removed;
}
