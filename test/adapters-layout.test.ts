/**
 * Each adapter folder must be able to move into its own package unchanged: it imports gembed
 * only through the public entry (`../../index.js`, what `import ... from "gembed"` gives), its own
 * files, Node built-ins and its framework's packages; and package.json exports it.
 */
import { readdir, readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";

const root = new URL("../", import.meta.url);
const FRAMEWORKS: Record<string, RegExp> = {
  langchain: /^@langchain\/core(\/|$)/,
  "ai-sdk": /^@ai-sdk\/provider$/,
  llamaindex: /^@llamaindex\/core\/(embeddings|llms|schema|utils)$/,
};

describe("adapter folders", () => {
  for (const [folder, framework] of Object.entries(FRAMEWORKS)) {
    it(`src/adapters/${folder} imports gembed only through its public entry`, async () => {
      const directory = new URL(`src/adapters/${folder}/`, root);
      const files = (await readdir(directory)).filter((file) => file.endsWith(".ts"));
      expect(files).toContain("index.ts");
      for (const file of files) {
        const source = await readFile(new URL(file, directory), "utf8");
        const specifiers = [
          ...source.matchAll(/^\s*(?:import|export)[^;]*?from\s+"([^"]+)"/gms),
        ].map((match) => match[1]!);
        expect(specifiers.length, file).toBeGreaterThan(0);
        for (const specifier of specifiers) {
          const allowed =
            specifier === "../../index.js" ||
            /^\.\/[a-z-]+\.js$/.test(specifier) ||
            specifier.startsWith("node:") ||
            framework.test(specifier);
          expect(allowed, `${folder}/${file} imports "${specifier}"`).toBe(true);
        }
      }
    });
  }

  it("package.json exports each adapter, with its framework as an optional peer", async () => {
    const manifest = JSON.parse(await readFile(new URL("package.json", root), "utf8")) as {
      exports: Record<string, { types: string; default: string }>;
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
      devDependencies: Record<string, string>;
    };
    for (const folder of Object.keys(FRAMEWORKS)) {
      expect(manifest.exports[`./${folder}`]).toEqual({
        types: `./dist/adapters/${folder}/index.d.ts`,
        default: `./dist/adapters/${folder}/index.js`,
      });
    }
    for (const name of ["@langchain/core", "ai", "@ai-sdk/provider", "@llamaindex/core"]) {
      expect(manifest.peerDependencies[name], name).toBeDefined();
      expect(manifest.peerDependenciesMeta[name]?.optional, name).toBe(true);
      expect(manifest.devDependencies[name], name).toMatch(/^\d+\.\d+\.\d+$/);
    }
  });
});
