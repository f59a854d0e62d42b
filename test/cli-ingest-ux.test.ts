/**
 * `gembed ingest` as users run it: ids whatever the working folder, `--prune`, the folders a
 * folder ingest skips, `.gitignore`, `--exclude`, `--skip-bad`, strict UTF-8 and `--encoding`,
 * `--out` checked before anything is paid for, and errors that name their file. Run as a real
 * process against the local server, in real temporary folders.
 */
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  type EmbeddingRow,
  LocalRowsFile,
  RowsFileError,
  RowsFileWriteError,
  readSources,
  SourceError,
} from "@gembed/ingest";
import { type RunningServer, startServer } from "@gembed/server";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FileBatchStateStore } from "../packages/gembed/src/batch/state-store.js";
import { cleanEnvironment, runCli } from "./cli-run.js";

let server: RunningServer;
let folder: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.close();
});
beforeEach(async (context) => {
  folder = await mkdtemp(path.join(tmpdir(), "gembed-ingest-ux-"));
  env = cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url, GEMINI_API_KEY: "ux-test-key" });
  context.onTestFinished(() => rm(folder, { recursive: true, force: true }));
});

async function readRows(file: string): Promise<EmbeddingRow[]> {
  return (JSON.parse(await readFile(file, "utf8")) as { rows: EmbeddingRow[] }).rows;
}

/** A corpus folder with two Markdown files, one in a sub-folder. */
async function makeCorpus(): Promise<string> {
  const corpus = path.join(folder, "corpus");
  await mkdir(path.join(corpus, "sub"), { recursive: true });
  await writeFile(path.join(corpus, "a.md"), "# Alpha\n\nAlpha is the first letter.\n");
  await writeFile(path.join(corpus, "sub", "b.txt"), "Beta is the second letter.\n");
  return corpus;
}

const ingestArgs = (out: string) => ["--out", out, "--dim", "128", "--json", "--no-progress"];

// The tests spawn several CLI processes each: on a loaded two-core machine that can pass 30 s.
describe("ids whatever the working folder", { timeout: 90_000 }, () => {
  it("`gembed ingest corpus` and `cd corpus && gembed ingest .` give the same ids: the second run embeds nothing", async () => {
    const corpus = await makeCorpus();
    const out = path.join(folder, "rows.json");
    const fromParent = await runCli(["ingest", "corpus", ...ingestArgs(out)], {
      cwd: folder,
      env,
    });
    expect(fromParent.stderr).toBe("");
    expect(fromParent.code).toBe(0);
    expect(JSON.parse(fromParent.stdout)).toMatchObject({ embedded: 2, written: 2 });
    const ids = (await readRows(out)).map((row) => row.id).sort();
    expect(ids).toEqual(["corpus/a.md", "corpus/sub/b.txt"]);

    const textsBefore = server.stats().texts;
    const fromInside = await runCli(["ingest", ".", ...ingestArgs(out)], { cwd: corpus, env });
    expect(fromInside.code).toBe(0);
    expect(JSON.parse(fromInside.stdout)).toMatchObject({ unchanged: 2, embedded: 0, written: 0 });
    // A file named directly and a glob give the same ids too.
    const named = await runCli(["ingest", "a.md", "sub/*.txt", ...ingestArgs(out)], {
      cwd: corpus,
      env,
    });
    expect(JSON.parse(named.stdout)).toMatchObject({ unchanged: 1, embedded: 1 });
    expect(server.stats().texts - textsBefore).toBe(1);
    expect((await readRows(out)).map((row) => row.id).sort()).toEqual([
      "corpus/a.md",
      "corpus/sub/b.txt",
      "sub/b.txt",
    ]);
  });

  it("readSources gives the same ids from an absolute path, the parent and the folder itself", async () => {
    const corpus = await makeCorpus();
    const ids = async (input: string, cwd: string) =>
      (await readSources([input], { cwd })).map((document) => document.id);
    const expected = ["corpus/a.md", "corpus/sub/b.txt"];
    expect(await ids("corpus", folder)).toEqual(expected);
    expect(await ids(".", corpus)).toEqual(expected);
    expect(await ids(corpus, "/")).toEqual(expected);
    expect(await ids("corpus/**/*.md", folder)).toEqual(["corpus/a.md"]);
    expect(await ids("**/*.md", corpus)).toEqual(["corpus/a.md"]);
  });
});

describe("--prune", { timeout: 90_000 }, () => {
  it("removes the rows of files gone from the folder, and only with --prune", async () => {
    const corpus = await makeCorpus();
    await writeFile(path.join(corpus, "c.md"), "Gamma is the third letter.\n");
    await writeFile(
      path.join(folder, "rows.jsonl"),
      `${JSON.stringify({ id: "kept", text: "A JSONL row is never pruned." })}\n`,
    );
    const out = path.join(folder, "rows.json");
    const first = await runCli(["ingest", "corpus", "rows.jsonl", ...ingestArgs(out)], {
      cwd: folder,
      env,
    });
    expect(first.code).toBe(0);
    expect((await readRows(out)).map((row) => row.id).sort()).toEqual([
      "corpus/a.md",
      "corpus/c.md",
      "corpus/sub/b.txt",
      "kept",
    ]);
    await rm(path.join(corpus, "c.md"));

    const without = await runCli(["ingest", "corpus", ...ingestArgs(out)], { cwd: folder, env });
    expect(without.code).toBe(0);
    expect(JSON.parse(without.stdout).pruned).toBeUndefined();
    expect((await readRows(out)).map((row) => row.id)).toContain("corpus/c.md");

    const pruned = await runCli(["ingest", ".", "--prune", ...ingestArgs(out)], {
      cwd: corpus,
      env,
    });
    expect(pruned.stderr).toBe("");
    expect(pruned.code).toBe(0);
    expect(JSON.parse(pruned.stdout)).toMatchObject({ pruned: 1, embedded: 0 });
    expect((await readRows(out)).map((row) => row.id).sort()).toEqual([
      "corpus/a.md",
      "corpus/sub/b.txt",
      "kept",
    ]);
    const line = await runCli(
      ["ingest", "corpus", "--prune", "--out", out, "--dim", "128", "--no-progress"],
      { cwd: folder, env },
    );
    expect(line.stdout).toContain(", 0 pruned -> ");
  });
});

describe("what a folder ingest takes", { timeout: 90_000 }, () => {
  it("skips node_modules, .git and hidden folders, honours .gitignore (nested too) and --exclude", async () => {
    const corpus = await makeCorpus();
    for (const [file, text] of [
      ["node_modules/pkg/readme.md", "a dependency's readme"],
      [".git/notes.md", "git internals"],
      [".cache/x.txt", "a cache"],
      ["build/out.md", "build output"],
      ["sub/secret.txt", "ignored by the nested .gitignore"],
      ["drafts/wip.md", "a draft"],
      ["sub/todo.tmp.md", "a temporary file"],
    ]) {
      await mkdir(path.dirname(path.join(corpus, file!)), { recursive: true });
      await writeFile(path.join(corpus, file!), `${text}\n`);
    }
    await writeFile(path.join(corpus, ".gitignore"), "build/\n");
    await writeFile(path.join(corpus, "sub", ".gitignore"), "secret.txt\n");
    const out = path.join(folder, "rows.json");
    const result = await runCli(
      ["ingest", "corpus", "--exclude", "drafts/", "--exclude", "*.tmp.md", ...ingestArgs(out)],
      { cwd: folder, env },
    );
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect((await readRows(out)).map((row) => row.id).sort()).toEqual([
      "corpus/a.md",
      "corpus/sub/b.txt",
    ]);
  });

  it("stops at an empty, binary or Latin-1 file naming it (and the byte); --skip-bad skips and lists them", async () => {
    const corpus = await makeCorpus();
    await writeFile(path.join(corpus, "empty.md"), "  \n");
    await writeFile(path.join(corpus, "image.txt"), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0]));
    // "café au lait" in Latin-1: é is the single byte 0xE9, at offset 3.
    await writeFile(path.join(corpus, "latin.txt"), Buffer.from("café au lait\n", "latin1"));
    const out = path.join(folder, "rows.json");
    const textsBefore = server.stats().texts;
    const strict = await runCli(["ingest", "corpus", ...ingestArgs(out)], { cwd: folder, env });
    expect(strict.code).toBe(2);
    expect(strict.stderr).toContain("corpus/empty.md: empty file");
    expect(strict.stderr).toContain("corpus/image.txt: not a text file (binary content)");
    expect(strict.stderr).toContain("corpus/latin.txt: not valid UTF-8 at byte 3");
    expect(server.stats().texts).toBe(textsBefore);

    const skipping = await runCli(["ingest", "corpus", "--skip-bad", ...ingestArgs(out)], {
      cwd: folder,
      env,
    });
    expect(skipping.code).toBe(0);
    const summary = JSON.parse(skipping.stdout) as {
      embedded: number;
      skippedFiles: { source: string; reason: string }[];
    };
    expect(summary.embedded).toBe(2);
    expect(summary.skippedFiles.map((issue) => issue.source)).toEqual([
      "corpus/empty.md",
      "corpus/image.txt",
      "corpus/latin.txt",
    ]);
    expect(skipping.stderr).toContain(
      "gembed: skipped corpus/latin.txt: not valid UTF-8 at byte 3",
    );
    const line = await runCli(
      ["ingest", "corpus", "--skip-bad", "--out", out, "--dim", "128", "--no-progress"],
      { cwd: folder, env },
    );
    expect(line.stdout).toContain("3 bad file(s) skipped");
    expect(line.stdout).toContain("  skipped corpus/empty.md: empty file");

    const latin = await runCli(
      ["ingest", "corpus/latin.txt", "--encoding", "latin1", ...ingestArgs(out)],
      { cwd: folder, env },
    );
    expect(latin.code).toBe(0);
    const row = (await readRows(out)).find((stored) => stored.id === "corpus/latin.txt");
    expect(row?.text.trim()).toBe("café au lait");
  });
});

describe("--out and --chunk-tokens are checked before anything is paid for", {
  timeout: 90_000,
}, () => {
  it("a folder or an unwritable --out is refused, naming it, with no embedding call", async () => {
    await makeCorpus();
    await mkdir(path.join(folder, "a-folder"));
    await writeFile(path.join(folder, "a-file"), "not a folder\n");
    const textsBefore = server.stats().texts;
    const requestsBefore = server.stats().requests;
    const isFolder = await runCli(["ingest", "corpus", "--out", "a-folder", "--no-progress"], {
      cwd: folder,
      env,
    });
    expect(isFolder.code).toBe(2);
    expect(isFolder.stderr).toMatch(/^gembed: RowsFileError: --out a-folder is a folder/);
    // Under a plain file: no folder can be made there (ENOTDIR), whoever runs it.
    const underFile = await runCli(
      ["ingest", "corpus", "--out", "a-file/rows.json", "--no-progress"],
      { cwd: folder, env },
    );
    expect(underFile.code).toBe(2);
    expect(underFile.stderr).toMatch(
      /^gembed: RowsFileError: --out a-file\/rows.json cannot be written \(a file is in the way of its folder, (EEXIST|ENOTDIR)\); nothing was embedded\n$/,
    );
    expect(server.stats().texts).toBe(textsBefore);
    expect(server.stats().requests).toBe(requestsBefore);
  });

  it("--chunk-tokens over the model's input limit is a usage error", async () => {
    await makeCorpus();
    const result = await runCli(["ingest", "corpus", "--chunk-tokens", "4096", "--no-progress"], {
      cwd: folder,
      env,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "--chunk-tokens 4096 is over the 2048-token input limit of gemini-embedding-001",
    );
    const fits = await runCli(
      ["ingest", "corpus", "--chunk-tokens", "2048", "--dim", "128", "--no-progress"],
      { cwd: folder, env },
    );
    expect(fits.code).toBe(0);
  });
});

describe("errors name their file", { timeout: 90_000 }, () => {
  it("a corrupt .gembed.json record", async () => {
    await makeCorpus();
    const out = path.join(folder, "rows.json");
    await writeFile(`${out}.gembed.json`, '{"model":"gemini-embe');
    const result = await runCli(["ingest", "corpus", ...ingestArgs(out)], { cwd: folder, env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`RowsFileError: ${out}.gembed.json is not valid JSON`);
    await expect(LocalRowsFile.open(out)).rejects.toBeInstanceOf(RowsFileError);
  });

  it("a corrupt batch state file", async () => {
    await makeCorpus();
    const state = path.join(folder, "run.batch-state.json");
    await writeFile(state, '{"version":1,"fingerp');
    const result = await runCli(
      ["ingest", "corpus", "--batch", "--batch-state", state, ...ingestArgs("rows.json")],
      { cwd: folder, env },
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${state} is not valid JSON`);
    await expect(new FileBatchStateStore(state).load()).rejects.toThrow(state);
  });

  it("a row of another dim in the journal blames the journal, not a rows file that does not exist", async () => {
    await makeCorpus();
    const out = path.join(folder, "rows.json");
    const row = {
      id: "corpus/a.md",
      text: "x",
      title: "",
      metadata: {},
      content_hash: "h",
      vector: [0.6, 0.8],
    };
    await writeFile(`${out}.partial.jsonl`, `${JSON.stringify(row)}\n`);
    const result = await runCli(["ingest", "corpus", ...ingestArgs(out)], { cwd: folder, env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `${out}.partial.jsonl (line 1) holds vectors of dim 2 (row "corpus/a.md")`,
    );
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  });

  it("a full disk (ENOSPC) while writing names the file", async () => {
    const out = path.join(folder, "rows.json");
    const file = await LocalRowsFile.open(out, { model: "m", dim: 2 });
    // /dev/full answers every write with ENOSPC: the journal is a link to it.
    await symlink("/dev/full", file.journalPath);
    const row = {
      id: "a",
      text: "x",
      title: "",
      metadata: {},
      content_hash: "h",
      vector: [0.6, 0.8],
    };
    const error = await file.append([row]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RowsFileWriteError);
    expect((error as RowsFileWriteError).code).toBe("ENOSPC");
    expect((error as Error).message).toBe(
      `cannot write ${file.journalPath}: no space left on the device (ENOSPC); the rows written before are kept`,
    );
  });
});

describe("readSources keeps its errors typed", { timeout: 90_000 }, () => {
  it("names the byte of the first invalid UTF-8 sequence", async () => {
    await writeFile(path.join(folder, "bad.txt"), Buffer.from([0x61, 0x62, 0xc3, 0x28]));
    const error = await readSources(["bad.txt"], { cwd: folder }).catch((caught) => caught);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).issues[0]?.reason).toMatch(/^not valid UTF-8 at byte 2 /);
  });
});
