/**
 * The bundled command (scripts/bundle-cli.mjs, what `packages/cli/bin/gembed.js` runs) behaves as
 * the sources do: built here from the TypeScript sources into a temporary copy of the CLI
 * package's layout (a build is not needed), then run as a real process against the local server:
 * `--version` reads the package's own version, `ingest` writes the same rows as the sources'
 * run, `search` gives the same hits. (`serve` and `demo` import the local server, left out of the
 * bundle, from node_modules: as the sources do.)
 */
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { streamOutputRows } from "@gembed/ingest";
import { type RunningServer, startServer } from "@gembed/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanEnvironment, runCli } from "./cli-run.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));
let server: RunningServer;
let folder: string;
let bundle: string;

beforeAll(async () => {
  server = await startServer();
  folder = await mkdtemp(path.join(tmpdir(), "gembed-cli-bundle-"));
  // packages/cli's layout: the bundle in dist/, the package.json beside dist/.
  const cli = path.join(folder, "cli");
  await mkdir(path.join(cli, "dist"), { recursive: true });
  await copyFile(path.join(root, "packages/cli/package.json"), path.join(cli, "package.json"));
  bundle = path.join(cli, "dist", "gembed.mjs");
  await run(process.execPath, [
    path.join(root, "scripts/bundle-cli.mjs"),
    "--source",
    "--outfile",
    bundle,
  ]);
}, 60_000);
afterAll(async () => {
  await server.close();
  await rm(folder, { recursive: true, force: true });
});

/** A row without its vector's last digits: the float32 values read back, rounded. */
async function rowsOf(base: string) {
  const rows: string[] = [];
  for await (const row of streamOutputRows(base)) {
    rows.push(JSON.stringify({ ...row, vector: row.vector.map((value) => value.toFixed(6)) }));
  }
  return rows.sort();
}

describe("the bundled gembed command", () => {
  it("prints the CLI package's version", async () => {
    const { version } = JSON.parse(
      await readFile(path.join(root, "packages/cli/package.json"), "utf8"),
    ) as { version: string };
    const { stdout } = await run(process.execPath, [bundle, "--version"]);
    expect(stdout.trim()).toBe(version);
  });

  it("ingests as the sources do and searches what it wrote", async () => {
    const corpus = path.join(folder, "corpus");
    await mkdir(path.join(corpus, "docs"), { recursive: true });
    for (let index = 0; index < 5; index++) {
      await writeFile(
        path.join(corpus, "docs", `note-${index}.md`),
        `# Note ${index}\n\n${`Milvus stores vector number ${index} beside its text. `.repeat(30 * (index + 1))}`,
      );
    }
    await writeFile(
      path.join(corpus, "rows.jsonl"),
      `${JSON.stringify({ id: "row-1", text: "Gemini embeddings in a Milvus collection.", metadata: { lang: "en" } })}\n`,
    );
    const env = cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url, GEMINI_API_KEY: "b-key" });
    const args = [
      "ingest",
      "docs",
      "rows.jsonl",
      "--dim",
      "128",
      "--chunk-tokens",
      "200",
      "--json",
    ];
    const bundled = await run(process.execPath, [bundle, ...args, "--out", "bundled.json"], {
      cwd: corpus,
      env,
    });
    const sources = await runCli([...args, "--out", "sources.json"], { cwd: corpus, env });
    expect(sources.code).toBe(0);
    const summary = (stdout: string) => {
      const { target: _target, ...counts } = JSON.parse(stdout) as Record<string, unknown>;
      return counts;
    };
    expect(summary(bundled.stdout)).toEqual(summary(sources.stdout));
    expect(summary(bundled.stdout)).toMatchObject({ documents: 6, written: expect.any(Number) });
    const rows = await rowsOf(path.join(corpus, "bundled.json"));
    expect(rows.length).toBeGreaterThan(6);
    expect(rows).toEqual(await rowsOf(path.join(corpus, "sources.json")));

    const search = ["search", "Gemini embeddings in a Milvus collection", "--json"];
    const found = await run(process.execPath, [bundle, ...search, "--file", "bundled.json"], {
      cwd: corpus,
      env,
    });
    const hitsOf = (stdout: string) =>
      (JSON.parse(stdout) as { hits: { id: string; score: number }[] }).hits;
    const hits = hitsOf(found.stdout);
    expect(hits).toHaveLength(5);
    const fromSources = await runCli([...search, "--file", "sources.json"], { cwd: corpus, env });
    expect(hits).toEqual(hitsOf(fromSources.stdout));
  });
});
