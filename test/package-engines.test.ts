/**
 * The runtime dependencies install on the oldest Node that `engines` names (20) without an engine
 * warning: no package a user installs with gembed asks for a newer Node. (fastify's test helper
 * light-my-request took cookie 2, which wants Node 22; package.json pins cookie 1.1.1 for it.)
 */

import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";

interface LockEntry {
  dev?: boolean;
  engines?: { node?: string } | string[];
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/** The lowest major version of Node a range like `>=22`, `^20.19.0 || >=22.12`, `>= 18` admits. */
function lowestMajor(range: string): number {
  const majors = range
    .split("||")
    .map((part) => Number(/(\d+)/.exec(part)?.[1] ?? Number.NaN))
    .filter((major) => Number.isFinite(major));
  return majors.length === 0 ? 0 : Math.min(...majors);
}

/** Where npm resolves `name` from the lock entry at `from` (its own node_modules, then up). */
function resolveIn(packages: Record<string, LockEntry>, from: string, name: string): string {
  let base = from;
  for (;;) {
    const candidate = `${base === "" ? "" : `${base}/`}node_modules/${name}`;
    if (packages[candidate] !== undefined) return candidate;
    if (base === "") return candidate;
    const cut = base.lastIndexOf("/node_modules/");
    base = cut === -1 ? "" : base.slice(0, cut);
  }
}

describe("engines", () => {
  it("nothing a user installs with a gembed package wants a Node newer than the 20 it promises", async () => {
    const manifest = JSON.parse(await readFile("package.json", "utf8")) as {
      engines: { node: string };
      workspaces: string[];
    };
    const promised = lowestMajor(manifest.engines.node);
    expect(promised).toBe(20);
    const lock = JSON.parse(await readFile("package-lock.json", "utf8")) as {
      packages: Record<string, LockEntry>;
    };
    // What `npm install <package>` brings: each workspace package's dependencies, transitively
    // (peers are the user's own choice: the Milvus SDK, the frameworks).
    const seen = new Set<string>();
    const queue = [...manifest.workspaces];
    expect(queue.length).toBeGreaterThan(4);
    while (queue.length > 0) {
      const at = queue.shift()!;
      if (seen.has(at)) continue;
      seen.add(at);
      const entry = lock.packages[at];
      expect(entry, at).toBeDefined();
      for (const name of Object.keys({ ...entry?.dependencies, ...entry?.optionalDependencies })) {
        const resolved = resolveIn(lock.packages, at.startsWith("packages/") ? "" : at, name);
        const target = lock.packages[resolved] as
          | (LockEntry & { link?: boolean; resolved?: string })
          | undefined;
        queue.push(
          target?.link === true && target.resolved !== undefined ? target.resolved : resolved,
        );
      }
    }
    expect(seen.has("node_modules/fastify")).toBe(true);
    const tooNew: string[] = [];
    for (const name of seen) {
      const entry = lock.packages[name];
      const node =
        entry === undefined || Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (node !== undefined && lowestMajor(node) > promised) tooNew.push(`${name} (${node})`);
    }
    expect(tooNew).toEqual([]);
  });
});
