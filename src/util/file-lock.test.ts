/**
 * `lockFile`: one writer per file, the other one told who holds it; a lock left by a process that
 * is gone is taken over.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { FileLockedError } from "../errors.js";
import { lockFile } from "./file-lock.js";

let folder: string;
beforeEach(async () => {
  folder = await mkdtemp(path.join(tmpdir(), "gembed-lock-"));
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

it("refuses a second writer, naming the file and the holder's pid, until released", async () => {
  const file = path.join(folder, "sub", "rows.json");
  const lock = await lockFile(file, "the rows file");
  const owner = JSON.parse(await readFile(`${file}.lock`, "utf8")) as { pid: number };
  expect(owner.pid).toBe(process.pid);
  const error = await lockFile(file, "the rows file").catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(FileLockedError);
  expect((error as FileLockedError).pid).toBe(process.pid);
  expect((error as Error).message).toContain(`the rows file ${file} is being written by`);
  expect((error as Error).message).toContain(`pid ${process.pid}`);
  await lock.release();
  await expect(stat(`${file}.lock`)).rejects.toThrow(/ENOENT/);
  const again = await lockFile(file);
  await again.release();
});

it("takes over the lock of a process that is gone", async () => {
  const file = path.join(folder, "state.json");
  // A pid that ran and ended: its lock is stale.
  const gone = spawnSync(process.execPath, ["-e", ""]).pid;
  await writeFile(
    `${file}.lock`,
    JSON.stringify({ pid: gone, hostname: hostname(), startedAt: "then", command: "gembed" }),
  );
  const lock = await lockFile(file);
  const owner = JSON.parse(await readFile(`${file}.lock`, "utf8")) as { pid: number };
  expect(owner.pid).toBe(process.pid);
  await lock.release();
});
