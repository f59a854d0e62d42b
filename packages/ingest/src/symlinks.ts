/**
 * Symbolic links met while walking a folder or a glob: a link whose real path leaves the folder
 * given (`ln -s /etc corpus/etc`, `ln -s .. corpus/up`) or that points back at one of its own
 * folders (a loop) is never followed, so `gembed ingest corpus` reads only what is in `corpus`.
 *
 * @module
 */

import { lstat, realpath } from "node:fs/promises";
import path from "node:path";
import type { SourceIssue } from "./errors.js";

/**
 * Whether `realPath` is `realRoot` itself or inside it. Both must be real paths (no symbolic
 * link left in them), absolute, of the same file system.
 */
export function isInside(realRoot: string, realPath: string): boolean {
  const relative = path.relative(realRoot, realPath);
  return (
    relative === "" ||
    (relative !== ".." && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative))
  );
}

/**
 * Checks the files a walk under `root` found: each path from `root` down to the file must stay
 * inside `root`'s real path, and no folder on the way may be a link to one of its own ancestors.
 * Returns the files to read, and one issue per link not followed (named by `display`), whatever
 * the number of files found behind it.
 */
export async function filesInside(
  root: string,
  files: string[],
  display: (file: string) => string,
): Promise<{ inside: string[]; issues: SourceIssue[] }> {
  const realRoot = await realpath(root);
  // Per path under root: undefined when fine, else the link (its path) that is not followed.
  const verdicts = new Map<string, string | undefined>();
  const issues = new Map<string, SourceIssue>();
  const check = async (current: string): Promise<string | undefined> => {
    if (verdicts.has(current)) return verdicts.get(current);
    const parent = path.dirname(current);
    let verdict = parent === root || parent === current ? undefined : await check(parent);
    if (verdict === undefined) {
      const info = await lstat(current).catch(() => undefined);
      if (info?.isSymbolicLink()) {
        const target = await realpath(current).catch(() => undefined);
        if (target === undefined || !isInside(realRoot, target)) {
          verdict = current;
          issues.set(current, {
            source: display(current),
            reason: `a symbolic link to ${target ?? "nothing"}, outside ${display(root)}: not followed`,
          });
        } else if (isInside(target, await realpath(parent))) {
          verdict = current;
          issues.set(current, {
            source: display(current),
            reason: "a symbolic link to a folder holding it (a loop): not followed",
          });
        }
      }
    }
    verdicts.set(current, verdict);
    return verdict;
  };
  const inside: string[] = [];
  for (const file of files) {
    if (!isInside(root, file)) {
      // A glob such as `../x/*.md` matches outside its own fixed part: only its links count.
      inside.push(file);
      continue;
    }
    if ((await check(file)) === undefined) inside.push(file);
  }
  return { inside, issues: [...issues.values()] };
}
