/**
 * Checks that an output file can be written before anything is paid for: a run that embedded
 * thousands of texts must not learn only at its first write that `--out` is a folder or sits in a
 * folder that cannot be written.
 *
 * @module
 */

import type { Stats } from "node:fs";
import { mkdir, open, rm, stat } from "node:fs/promises";
import path from "node:path";
import { RowsFileError } from "@gembed/ingest";

/**
 * Throws a {@link RowsFileError} naming `file` (and the option it came from) when it is a folder,
 * a device, a pipe or a socket, or when a file cannot be created beside it (`hint` adds another
 * way to the message, e.g. standard output). Creates the missing folders on its path, as the
 * write would; leaves an existing file as it was.
 */
export async function checkOutputFile(file: string, option: string, hint?: string): Promise<void> {
  const absolute = path.resolve(file);
  const info = await stat(absolute).catch(() => undefined);
  if (info?.isDirectory()) {
    throw new RowsFileError(
      `${option} ${file} is a folder; give a file path, e.g. ${path.join(file, "rows.json")}`,
    );
  }
  // Outputs are written beside the target and renamed over it: over a device, a pipe or a socket
  // (`--out /dev/stdout`, `/dev/null`) that rename would replace the device node itself, which
  // root is allowed to do. Only a regular file (or a path where none is yet) is an output.
  if (info !== undefined && !info.isFile()) {
    throw new RowsFileError(
      `${option} ${file} is ${specialKind(info)}, not a regular file: gembed writes its outputs to a temporary file renamed over the target, which would replace it. Give a file path${hint === undefined ? "" : `, or ${hint}`}.`,
    );
  }
  // A real write beside it, not access(): permission bits say nothing of read-only mounts, and
  // root passes every access() check.
  const probe = `${absolute}.${process.pid}.probe`;
  try {
    await mkdir(path.dirname(absolute), { recursive: true });
    const handle = await open(probe, "w");
    await handle.close();
    if (info !== undefined) await (await open(absolute, "r+")).close();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // mkdir says EEXIST, open ENOTDIR: either way a file stands where a folder should be.
    const reason =
      code === "EEXIST" || code === "ENOTDIR"
        ? `a file is in the way of its folder, ${code}`
        : (code ?? String(error));
    throw new RowsFileError(
      `${option} ${file} cannot be written (${reason}); nothing was embedded`,
      {
        cause: error,
      },
    );
  } finally {
    // Nothing to remove when the probe could not be made (ENOTDIR, EACCES): not a second error.
    await rm(probe, { force: true }).catch(() => {});
  }
}

/** What a path that is not a regular file or a folder is, in words. */
function specialKind(info: Stats): string {
  if (info.isCharacterDevice() || info.isBlockDevice()) return "a device";
  if (info.isFIFO()) return "a named pipe";
  if (info.isSocket()) return "a socket";
  return "not a regular file";
}
