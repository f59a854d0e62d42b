import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const packages = fileURLToPath(new URL("./packages/", import.meta.url));

/**
 * Every entry of every workspace package, mapped to its TypeScript source (the entry's
 * "@gembed/source" export condition), so the tests import `gembed`, `@gembed/server`, ... by name
 * and run without a build.
 */
function sourceAliases(): { find: RegExp; replacement: string }[] {
  const aliases: { find: RegExp; replacement: string }[] = [];
  for (const folder of readdirSync(packages)) {
    const manifest = JSON.parse(readFileSync(`${packages}${folder}/package.json`, "utf8")) as {
      name: string;
      exports: Record<string, string | Record<string, string>>;
    };
    for (const [key, target] of Object.entries(manifest.exports)) {
      const source = typeof target === "object" ? target["@gembed/source"] : undefined;
      if (source === undefined) continue;
      const specifier = manifest.name + key.slice(1);
      aliases.push({
        find: new RegExp(`^${specifier.replaceAll("/", "\\/")}$`),
        replacement: `${packages}${folder}/${source.slice(2)}`,
      });
    }
  }
  return aliases;
}

export default defineConfig({
  resolve: {
    alias: [
      ...sourceAliases(),
      // The core's runtime seam (package.json "imports"): the tests run on Node.
      { find: /^#platform$/, replacement: `${packages}gembed/src/platform/node.ts` },
    ],
  },
  test: {
    include: ["packages/*/src/**/*.test.ts", "test/**/*.test.ts"],
    // A safety net, not a speed check: the CLI tests spawn tsx and Milvus Lite processes, and on
    // two cores shared with other jobs one test can take tens of seconds.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // The tests start real servers on 127.0.0.1:0; two cores, so keep the pool small.
    pool: "forks",
    maxWorkers: 2,
    // One real Milvus for the run: Milvus Lite from .venv/, or MILVUS_URI when set.
    globalSetup: ["./test/support/milvus-lite-setup.ts"],
    reporters: ["default", "./test/support/summary-reporter.ts"],
  },
});
