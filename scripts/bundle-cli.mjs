#!/usr/bin/env node
/**
 * Bundles the `gembed` command into one file, `packages/cli/dist/gembed.mjs` (what
 * `packages/cli/bin/gembed.js` runs), from the compiled `packages/cli/dist/main.js` and the
 * workspace packages and dependencies it imports, with esbuild (a pinned devDependency).
 *
 * Why: Node 20 loads an ES module graph file by file (resolve, read, compile, link): the 140
 * files of the command took 0.10 s before any work, on every command (0.14 s for
 * `gembed --version`, 0.06 s bundled). Left out, and loaded from node_modules when used: the
 * local server (`gembed serve`, `gembed demo`, loaded lazily) and the Milvus SDK (a peer
 * dependency with native gRPC code, loaded lazily).
 *
 * The bundle sits in `packages/cli/dist/` as `program.js` does, so `import.meta.url` paths
 * (`../package.json`, the repository's `.venv` three folders up) mean the same in both.
 *
 * Usage: node scripts/bundle-cli.mjs [--outfile <file>] [--source] (run by the CLI package's
 * build). `--source` bundles the TypeScript sources (`packages/cli/src/main.ts`, the workspace
 * packages by their `@gembed/source` condition) instead of the compiled files: for the test that
 * runs a bundle without a build (test/cli-bundle.test.ts).
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("../", import.meta.url));
const at = process.argv.indexOf("--outfile");
const outfile =
  at >= 0 ? path.resolve(process.argv[at + 1]) : path.join(root, "packages/cli/dist/gembed.mjs");

const source = process.argv.includes("--source");
const options = {
  entryPoints: [path.join(root, source ? "packages/cli/src/main.ts" : "packages/cli/dist/main.js")],
  conditions: source ? ["@gembed/source"] : [],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["@gembed/server", "@zilliz/milvus2-sdk-node"],
  // CommonJS dependencies (commander, cli-progress) call require() on Node built-ins, which an
  // ES module has not: give them one.
  banner: {
    js: 'import { createRequire as __gembedRequire } from "node:module"; const require = __gembedRequire(import.meta.url);',
  },
  legalComments: "inline",
  logLevel: "warning",
};

await build({ ...options, outfile });
