/**
 * The CLI's papercuts: `--version`, `gembed batch delete`, `batch collect` to standard output,
 * `--task` everywhere, examples in every `batch` help, the README's CLI block run as written, the
 * key a local server wants, and what the packed package holds (LICENSE, the pages README links
 * to). Run as real processes against the local server, in real temporary folders.
 */
import { execFile, spawn } from "node:child_process";
import { cp, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { type CliResult, cleanEnvironment } from "./cli-run.js";
import { folder, run, server, useCliFixture } from "./support/cli-fixture.js";

const root = fileURLToPath(new URL("..", import.meta.url));

useCliFixture("gembed-papercuts-", "papercut-key");

// The tests spawn several CLI processes each: on a loaded two-core machine that can pass 30 s.
describe("gembed --version", { timeout: 90_000 }, () => {
  it("prints package.json's version and exits 0", async () => {
    const { version } = JSON.parse(await readFile(path.join(root, "package.json"), "utf8")) as {
      version: string;
    };
    for (const flag of ["--version", "-v"]) {
      const result = await run([flag]);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(`${version}\n`);
    }
  });
});

describe("gembed batch", { timeout: 90_000 }, () => {
  async function submitted(...extra: string[]): Promise<string> {
    await writeFile(
      path.join(folder, "corpus.jsonl"),
      `${[
        { id: "a", text: "the first document" },
        { id: "b", text: "the second document" },
      ]
        .map((row) => JSON.stringify(row))
        .join("\n")}\n`,
    );
    const result = await run(["batch", "submit", "corpus.jsonl", "--dim", "128", ...extra]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const name = result.stdout.trim();
    expect(name).toMatch(/^batches\//);
    const waited = await run(["batch", "wait", name, "--poll-interval", "20"]);
    expect(waited.code).toBe(0);
    return name;
  }

  it("collect without --out writes the JSONL to standard output, the count to stderr", async () => {
    const name = await submitted();
    const result = await run(["batch", "collect", name]);
    expect(result.code).toBe(0);
    const lines = result.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { id: string; embedding: number[] });
    expect(lines.map((line) => line.id)).toEqual(["a", "b"]);
    for (const line of lines) expect(line.embedding).toHaveLength(128);
    expect(result.stderr).toBe("2 result(s) written to standard output\n");
    // An --out that is a folder is named, not an EISDIR at the rename.
    const intoFolder = await run(["batch", "collect", name, "--out", "."]);
    expect(intoFolder.code).toBe(2);
    expect(intoFolder.stderr).toMatch(/^gembed: RowsFileError: --out \. is a folder/);
  });

  it("delete removes the job", async () => {
    const name = await submitted();
    const deleted = await run(["batch", "delete", name]);
    expect(deleted.stderr).toBe("");
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toBe(`deleted ${name}\n`);
    const status = await run(["batch", "status", name]);
    expect(status.code).toBe(1);
    expect(status.stderr).toContain("NotFoundError");
  });

  it("--task is the flag everywhere; --task-type is still taken (hidden), and a disagreement is refused", async () => {
    const viaTask = await submitted("--task", "CLUSTERING");
    const viaOldName = await submitted("--task-type", "CLUSTERING");
    const collected = await Promise.all(
      [viaTask, viaOldName].map((name) => run(["batch", "collect", name])),
    );
    expect(collected[0]!.stdout).toBe(collected[1]!.stdout);
    const embedded = await run([
      "embed",
      "the first document",
      "--dim",
      "128",
      "--task",
      "CLUSTERING",
    ]);
    const embeddedOld = await run([
      "embed",
      "the first document",
      "--dim",
      "128",
      "--task-type",
      "CLUSTERING",
    ]);
    expect(embeddedOld.code).toBe(0);
    expect(embeddedOld.stdout).toBe(embedded.stdout);
    const first = JSON.parse(collected[0]!.stdout.split("\n")[0]!) as { embedding: number[] };
    const fromEmbed = embedded.stdout.trim().split(" ").map(Number);
    expect(first.embedding[0]).toBeCloseTo(fromEmbed[0]!, 5);
    const disagree = await run([
      "embed",
      "x",
      "--task",
      "CLUSTERING",
      "--task-type",
      "CLASSIFICATION",
    ]);
    expect(disagree.code).toBe(2);
    expect(disagree.stderr).toContain("--task CLUSTERING and --task-type CLASSIFICATION disagree");
    const help = await run(["batch", "submit", "--help"]);
    expect(help.stdout).toContain("--task <type>");
    expect(help.stdout).not.toContain("--task-type");
  }, 90_000);

  it.each(["submit", "status", "wait", "collect", "cancel", "delete", "list"])(
    "batch %s --help shows examples",
    async (name) => {
      const help = await run(["batch", name, "--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain("Examples:");
      expect(help.stdout).toContain(`$ gembed batch ${name}`);
    },
  );
});

describe("the README's CLI block", { timeout: 90_000 }, () => {
  it("runs as written against a local server (the Milvus lines aside)", async () => {
    const readme = await readFile(path.join(root, "README.md"), "utf8");
    const block = /## CLI\n\n```sh\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const lines = block!
      .split("\n")
      .filter((line) => line.trim() !== "" && !line.startsWith("#"))
      // The test's own server stands in for `gembed serve`; no Milvus runs here.
      .filter((line) => !/gembed serve|--milvus/.test(line))
      .map((line) => line.replaceAll("http://127.0.0.1:8080", server.url));
    expect(lines.some((line) => line.startsWith("npx gembed embed"))).toBe(true);
    const tsx = pathToFileURL(path.join(root, "node_modules/tsx/dist/loader.mjs")).href;
    const main = path.join(root, "packages/cli/src/main.ts");
    const script = [
      "set -euo pipefail",
      `npx() { shift; ${JSON.stringify(process.execPath)} --conditions=@gembed/source --import ${JSON.stringify(tsx)} ${JSON.stringify(main)} "$@"; }`,
      ...lines,
    ].join("\n");
    await cp(path.join(root, "docs"), path.join(folder, "docs"), { recursive: true });
    await writeFile(
      path.join(folder, "corpus.jsonl"),
      `${JSON.stringify({ id: "ai", text: "AI was founded in 1956." })}\n`,
    );
    // A clean environment: no key, no base URL, as a new user has.
    const result = await new Promise<CliResult>((resolve) => {
      const child = spawn("bash", ["-c", script], { cwd: folder, env: cleanEnvironment() });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (part: Buffer) => {
        stdout += part.toString();
      });
      child.stderr.on("data", (part: Buffer) => {
        stderr += part.toString();
      });
      child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
    expect(result.stderr).not.toContain("gembed:");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('"dim":768');
    const vectors = (await readFile(path.join(folder, "vectors.jsonl"), "utf8")).trim().split("\n");
    expect(vectors).toHaveLength(1);
  }, 60_000);

  it("without a key, a loopback base URL is told what a local server wants, before any request", async () => {
    const requestsBefore = server.stats().requests;
    const result = await run(
      ["embed", "hello"],
      cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url }),
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^gembed: MissingApiKeyError: /);
    expect(result.stderr).toContain("export GEMINI_API_KEY=local");
    const batch = await run(
      ["batch", "list"],
      cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url }),
    );
    expect(batch.code).toBe(2);
    expect(batch.stderr).toContain("export GEMINI_API_KEY=local");
    expect(server.stats().requests).toBe(requestsBefore);
  });
});

describe("the packages", { timeout: 90_000 }, () => {
  it("each holds the Apache-2.0 LICENSE, a README, and every file its Markdown links to", async () => {
    const license = await readFile(path.join(root, "LICENSE"), "utf8");
    expect(license).toContain("Apache License");
    expect(license).toContain("Version 2.0, January 2004");
    const manifest = JSON.parse(await readFile(path.join(root, "package.json"), "utf8")) as {
      license: string;
      workspaces: string[];
    };
    expect(manifest.license).toBe("Apache-2.0");
    const packed = await new Promise<string>((resolve, reject) => {
      execFile(
        "npm",
        ["pack", "--dry-run", "--json", "--workspaces"],
        { cwd: root, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout) => (error ? reject(error) : resolve(stdout)),
      );
    });
    const packages = JSON.parse(packed) as { name: string; files: { path: string }[] }[];
    expect(packages).toHaveLength(manifest.workspaces.length);
    const broken: string[] = [];
    for (const [index, pack] of packages.entries()) {
      const folder = path.join(root, manifest.workspaces[index]!);
      const files = new Set(pack.files.map((file) => file.path));
      expect(files.has("LICENSE"), pack.name).toBe(true);
      expect(await readFile(path.join(folder, "LICENSE"), "utf8")).toBe(license);
      // Every relative link of every packed Markdown page resolves to a packed file.
      const pages = [...files].filter((file) => file.endsWith(".md"));
      expect(pages, pack.name).toContain("README.md");
      for (const page of pages) {
        const text = await readFile(path.join(folder, page), "utf8");
        for (const match of text.matchAll(/\]\(([^)\s#]+)(#[^)]*)?\)/g)) {
          const target = match[1]!;
          if (/^[a-z]+:/i.test(target)) continue;
          const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(page), target));
          if (!files.has(resolved)) broken.push(`${pack.name}: ${page} -> ${target}`);
        }
      }
    }
    expect(broken).toEqual([]);
  }, 60_000);
});
