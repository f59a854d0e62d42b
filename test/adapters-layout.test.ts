/**
 * Each adapter is its own package: it imports gembed only through its public entry (`gembed`,
 * never `gembed/internal`), its own files, Node built-ins and its framework's packages; its
 * package.json depends on `gembed` alone and names its framework as a peer, which the repository
 * pins for the tests.
 */
import { readdir, readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";

const root = new URL("../", import.meta.url);
const FRAMEWORKS: Record<string, { imports: RegExp; peers: string[] }> = {
  langchain: { imports: /^@langchain\/core(\/|$)/, peers: ["@langchain/core"] },
  "ai-sdk": { imports: /^@ai-sdk\/provider$/, peers: ["@ai-sdk/provider", "ai"] },
  llamaindex: {
    imports: /^@llamaindex\/core\/(embeddings|llms|schema|utils)$/,
    peers: ["@llamaindex/core"],
  },
};

describe("adapter packages", () => {
  for (const [folder, framework] of Object.entries(FRAMEWORKS)) {
    it(`packages/${folder} imports gembed only through its public entry`, async () => {
      const directory = new URL(`packages/${folder}/src/`, root);
      const files = (await readdir(directory)).filter(
        (file) => file.endsWith(".ts") && !file.endsWith(".test.ts"),
      );
      expect(files).toContain("index.ts");
      for (const file of files) {
        const source = await readFile(new URL(file, directory), "utf8");
        const specifiers = [
          ...source.matchAll(/^\s*(?:import|export)[^;]*?from\s+"([^"]+)"/gms),
        ].map((match) => match[1]!);
        expect(specifiers.length, file).toBeGreaterThan(0);
        for (const specifier of specifiers) {
          const allowed =
            specifier === "gembed" ||
            /^\.\/[a-z-]+\.js$/.test(specifier) ||
            specifier.startsWith("node:") ||
            framework.imports.test(specifier);
          expect(allowed, `${folder}/${file} imports "${specifier}"`).toBe(true);
        }
      }
    });

    it(`packages/${folder}/package.json depends on gembed alone, its framework a peer`, async () => {
      const manifest = JSON.parse(
        await readFile(new URL(`packages/${folder}/package.json`, root), "utf8"),
      ) as {
        name: string;
        dependencies: Record<string, string>;
        peerDependencies: Record<string, string>;
      };
      const repository = JSON.parse(await readFile(new URL("package.json", root), "utf8")) as {
        devDependencies: Record<string, string>;
        workspaces: string[];
      };
      expect(manifest.name).toBe(`@gembed/${folder}`);
      expect(Object.keys(manifest.dependencies)).toEqual(["gembed"]);
      expect(repository.workspaces).toContain(`packages/${folder}`);
      for (const name of framework.peers) {
        expect(manifest.peerDependencies[name], name).toBeDefined();
        expect(repository.devDependencies[name], name).toMatch(/^\d+\.\d+\.\d+$/);
      }
    });
  }
});
