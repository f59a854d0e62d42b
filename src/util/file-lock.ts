/**
 * A lock on a file that one process at a time may write (a local rows file, a batch state file):
 * `<file>.lock`, created with `O_EXCL`, holds the owner's pid, host, start time and command line,
 * so a second writer is refused with a message naming the file and the process, instead of both
 * writing and one losing the other's rows.
 *
 * A lock left by a process that is gone (killed, crashed) is taken over: on the same host, a pid
 * that no longer runs is proof enough. The lock is removed on release and, as a last resort, when
 * the process exits (`process.exit` after a second Ctrl-C). No dependency: `proper-lockfile`'s
 * mtime refresh would not name the other process, which is what a user needs to know.
 *
 * @module
 */

import { rmSync } from "node:fs";
import { mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { FileLockedError } from "../errors.js";

/** What a lock file records about its owner. */
export interface LockOwner {
  pid: number;
  hostname: string;
  startedAt: string;
  command: string;
}

/** A lock held by this process. */
export interface FileLock {
  /** The lock file, `<file>.lock`. */
  readonly lockPath: string;
  /** Removes the lock file (idempotent). */
  release(): Promise<void>;
}

/** A lock file younger than this that cannot be read is one being written: held, not stale. */
const UNREADABLE_GRACE_MS = 10_000;

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, under another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function readOwner(lockPath: string): Promise<LockOwner | undefined> {
  try {
    const owner = JSON.parse(await readFile(lockPath, "utf8")) as Partial<LockOwner>;
    return typeof owner.pid === "number" && typeof owner.hostname === "string"
      ? (owner as LockOwner)
      : undefined;
  } catch {
    return undefined;
  }
}

/** True when the lock's owner is surely gone, so the lock may be taken over. */
async function isStale(lockPath: string, owner: LockOwner | undefined): Promise<boolean> {
  if (owner !== undefined) return owner.hostname === hostname() && !isRunning(owner.pid);
  const info = await stat(lockPath).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs > UNREADABLE_GRACE_MS;
}

/**
 * Takes the lock of `file` (which need not exist), or throws {@link FileLockedError} naming the
 * process that holds it. `what` names the file in the message (e.g. `"the rows file"`).
 */
export async function lockFile(file: string, what = "the file"): Promise<FileLock> {
  const target = path.resolve(file);
  const lockPath = `${target}.lock`;
  const owner: LockOwner = {
    pid: process.pid,
    hostname: hostname(),
    startedAt: new Date().toISOString(),
    command: process.argv.slice(1).join(" "),
  };
  // The file's folder may not exist yet (a new `--out dir/rows.json`): the writer creates it anyway.
  await mkdir(path.dirname(target), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(lockPath, "wx", 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(owner)}\n`);
      } finally {
        await handle.close();
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = await readOwner(lockPath);
      if (attempt < 2 && (await isStale(lockPath, holder))) {
        await rm(lockPath, { force: true });
        continue;
      }
      const who =
        holder === undefined
          ? "another process"
          : `another gembed process (pid ${holder.pid}${holder.hostname === hostname() ? "" : ` on ${holder.hostname}`}, since ${holder.startedAt}${holder.command ? `: ${holder.command}` : ""})`;
      throw new FileLockedError(
        target,
        holder?.pid,
        `${what} ${target} is being written by ${who}: two writers would lose each other's work. Wait for it to finish, then run again; if no such process runs, delete ${lockPath}.`,
      );
    }
  }
  let held = true;
  const onExit = () => {
    if (held) rmSync(lockPath, { force: true });
  };
  process.on("exit", onExit);
  return {
    lockPath,
    async release() {
      if (!held) return;
      held = false;
      process.off("exit", onExit);
      await rm(lockPath, { force: true });
    },
  };
}
