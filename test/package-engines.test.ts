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
}

/** The lowest major version of Node a range like `>=22`, `^20.19.0 || >=22.12`, `>= 18` admits. */
function lowestMajor(range: string): number {
  const majors = range
    .split("||")
    .map((part) => Number(/(\d+)/.exec(part)?.[1] ?? Number.NaN))
    .filter((major) => Number.isFinite(major));
  return majors.length === 0 ? 0 : Math.min(...majors);
}

describe("engines", () => {
  it("no runtime dependency wants a Node newer than the 20 that package.json promises", async () => {
    const manifest = JSON.parse(await readFile("package.json", "utf8")) as {
      engines: { node: string };
    };
    const promised = lowestMajor(manifest.engines.node);
    expect(promised).toBe(20);
    const lock = JSON.parse(await readFile("package-lock.json", "utf8")) as {
      packages: Record<string, LockEntry>;
    };
    const tooNew: string[] = [];
    for (const [name, entry] of Object.entries(lock.packages)) {
      if (name === "" || entry.dev === true) continue;
      const node = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (node !== undefined && lowestMajor(node) > promised) tooNew.push(`${name} (${node})`);
    }
    expect(tooNew).toEqual([]);
  });
});
