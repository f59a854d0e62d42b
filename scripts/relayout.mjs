#!/usr/bin/env node
/**
 * Carries code written for the old single-package layout (src/<part>/...) into the workspace
 * layout (packages/<package>/src/...), for merging a branch that was started before the move:
 *
 *   git merge <branch>; node scripts/relayout.mjs; npx tsc -p tsconfig.json --noEmit
 *
 * 1. Every file still under src/ is moved (git mv) to its package: src/server/x -> packages/server/src/x,
 *    src/milvus -> packages/milvus, src/ingest -> packages/ingest, src/cli -> packages/cli, the
 *    rest of src/ -> packages/gembed/src. (src/adapters/ is left in place and named: it has no
 *    package yet.)
 * 2. In packages/, test/ and bench/, a relative import that no longer resolves is read as the old
 *    layout had it and rewritten: inside one package, to the new relative path; across packages,
 *    to the package's name (the core's util/atomic-write -> gembed/node; util/objects,
 *    util/checks, batch/results -> gembed/internal; any other core module -> gembed). Tests and
 *    benchmarks import a package's index by name and anything deeper by its new path.
 * Names that gembed's public entry no longer exports are left for `tsc` to point out: add them to
 * packages/gembed/src/internal.ts, or import them by path in a test.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";

const root = process.cwd();
const parts = ["server", "milvus", "ingest", "cli"];

/** Old repository path (src/...) -> [package folder, path inside its src/]. */
function packageOf(old) {
  for (const part of parts) {
    if (old.startsWith(`src/${part}/`)) return [part, old.slice(`src/${part}/`.length)];
  }
  return ["gembed", old.slice("src/".length)];
}
const newPath = (old) => {
  const [folder, rest] = packageOf(old);
  return `packages/${folder}/src/${rest}`;
};
/** New repository path -> the path it had in the old layout. */
function oldPath(file) {
  const match = /^packages\/(\w+)\/src\/(.*)$/.exec(file);
  if (!match) return file;
  return match[1] === "gembed" ? `src/${match[2]}` : `src/${match[1]}/${match[2]}`;
}
function walk(folder, out = []) {
  if (!existsSync(path.join(root, folder))) return out;
  for (const entry of readdirSync(path.join(root, folder), { withFileTypes: true })) {
    const file = `${folder}/${entry.name}`;
    if (entry.isDirectory()) {
      if (!["node_modules", "dist", ".git"].includes(entry.name)) walk(file, out);
    } else if (/\.(ts|mts|js|mjs)$/.test(entry.name)) out.push(file);
  }
  return out;
}

// 1. Files left in the old layout.
for (const file of walk("src")) {
  if (file.startsWith("src/adapters/")) {
    console.log(`left in place (no package yet): ${file}`);
    continue;
  }
  const target = newPath(file);
  if (existsSync(path.join(root, target))) {
    // Changed on both sides (e.g. a file the move also split): merge the change by hand.
    console.log(`both exist, merge by hand: ${file} and ${target}`);
    continue;
  }
  execFileSync("git", ["mv", file, target], { cwd: root });
  console.log(`moved ${file} -> ${target}`);
}

// 2. Imports that no longer resolve.
const publicCore = new Set([
  "index.js",
  "batch/index.js",
  "errors.js",
  "client/gemini-client.js",
  "embedding/gemini-embedding-function.js",
  "api/types.js",
  "models.js",
  "tokens.js",
]);
const coreEntry = (rest) =>
  rest === "util/atomic-write.js"
    ? "gembed/node"
    : ["util/objects.js", "util/checks.js", "batch/results.js"].includes(rest)
      ? "gembed/internal"
      : "gembed";
const resolves = (fromFile, specifier) => {
  const base = path.join(root, path.dirname(fromFile), specifier);
  const candidates = [base, base.replace(/\.js$/, ".ts"), base.replace(/\.mjs$/, ".mts")];
  return candidates.some((candidate) => existsSync(candidate) && statSync(candidate).isFile());
};
const relative = (from, to) => {
  const text = path.posix.relative(path.posix.dirname(from), to);
  return text.startsWith(".") ? text : `./${text}`;
};
let changed = 0;
for (const file of [...walk("packages"), ...walk("test"), ...walk("bench")]) {
  const text = readFileSync(path.join(root, file), "utf8");
  const old = oldPath(file);
  const ownPackage = file.startsWith("packages/") ? packageOf(old)[0] : undefined;
  const next = text.replace(
    /((?:from|import)\s*\(?\s*)"(\.{1,2}\/[^"]+)"/g,
    (whole, before, specifier) => {
      if (resolves(file, specifier)) return whole;
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(old), specifier));
      if (!target.startsWith("src/")) return whole;
      const [folder, rest] = packageOf(target);
      let replacement;
      if (ownPackage === folder) replacement = relative(file, newPath(target));
      else if (ownPackage)
        replacement = folder === "gembed" ? coreEntry(rest) : `@gembed/${folder}`;
      else if (folder === "gembed" && publicCore.has(rest)) replacement = "gembed";
      else if (folder !== "gembed" && folder !== "cli" && rest === "index.js") {
        replacement = `@gembed/${folder}`;
      } else replacement = relative(file, newPath(target));
      return `${before}"${replacement}"`;
    },
  );
  if (next !== text) {
    writeFileSync(path.join(root, file), next);
    changed++;
    console.log(`imports rewritten: ${file}`);
  }
}
console.log(
  `${changed} file(s) rewritten; now run: npx biome check --write . && npx tsc -p tsconfig.json --noEmit`,
);
