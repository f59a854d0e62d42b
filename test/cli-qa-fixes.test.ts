/**
 * Fixes of a QA pass over the CLI: symbolic links out of an ingested folder, `batch delete` of a
 * running job, bad job names, `search` on a Milvus Lite folder that does not exist, `search
 * --file` on a Parquet output, what `demo` says about a local server, and errors that named
 * neither their class nor the option at fault. In-process runs (`runCli`) against the local
 * server on 127.0.0.1:0, in real temporary folders.
 */
import { mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { readSources, SourceError } from "@gembed/ingest";
import { startServer } from "@gembed/server";
import { describe, expect, it } from "vitest";
import { cleanEnvironment } from "./cli-run.js";
import { folder, run, server, useCliFixture } from "./support/cli-fixture.js";
import { milvusUri, uniqueCollection } from "./support/milvus.js";

useCliFixture("gembed-qa-", "qa-key");

/** corp/a.md, plus links out of corp: to a folder, to the parent (a loop), to a file. */
async function corpusWithLinks(): Promise<void> {
  await mkdir(path.join(folder, "corp", "sub"), { recursive: true });
  await mkdir(path.join(folder, "secret"));
  await writeFile(path.join(folder, "corp", "a.md"), "# Alpha\n\nthe corpus document");
  await writeFile(path.join(folder, "secret", "passwd.txt"), "root:x:0:0 secret outside");
  await writeFile(path.join(folder, "outside.txt"), "outside the folder");
  await symlink(path.join(folder, "secret"), path.join(folder, "corp", "etclink"));
  await symlink("..", path.join(folder, "corp", "loop"));
  await symlink(path.join(folder, "outside.txt"), path.join(folder, "corp", "out.txt"));
  await symlink(".", path.join(folder, "corp", "sub", "self"));
  // A link that stays inside is followed.
  await symlink("../a.md", path.join(folder, "corp", "sub", "alias.md"));
}

async function rowIds(file: string): Promise<string[]> {
  const rows = JSON.parse(await readFile(path.join(folder, file), "utf8")) as {
    rows: { id: string; text: string }[];
  };
  return rows.rows.map((row) => row.id).sort();
}

describe("ingest and symbolic links", { timeout: 60_000 }, () => {
  it("never follows a link out of the folder: a source problem (exit 2) naming each link, nothing sent", async () => {
    await corpusWithLinks();
    const before = server.stats().texts;
    const result = await run(["ingest", "corp", "--dim", "128", "--no-progress"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("SourceError");
    expect(result.stderr).toContain("corp/etclink: a symbolic link to");
    expect(result.stderr).toContain("corp/loop: a symbolic link to");
    expect(result.stderr).toContain("corp/out.txt: a symbolic link to");
    expect(result.stderr).toContain("corp/sub/self: a symbolic link to a folder holding it");
    expect(result.stderr).not.toContain("passwd");
    expect(server.stats().texts).toBe(before);
  });

  it("--skip-bad lists the links and ingests only what is inside the folder", async () => {
    await corpusWithLinks();
    const result = await run(["ingest", "corp", "--dim", "128", "--no-progress", "--skip-bad"]);
    expect(result.stderr).toContain("skipped corp/etclink");
    expect(result.code).toBe(0);
    expect(await rowIds("gembed.json")).toEqual(["corp/a.md", "corp/sub/alias.md"]);
    const text = await readFile(path.join(folder, "gembed.json"), "utf8");
    expect(text).not.toContain("secret outside");
    expect(text).not.toContain("outside the folder");
  });

  it("with gemini-embedding-2, an image behind a link out of the folder is not read either", async () => {
    await mkdir(path.join(folder, "pics"));
    await mkdir(path.join(folder, "private"));
    await writeFile(path.join(folder, "pics", "note.md"), "a note beside the pictures");
    await writeFile(
      path.join(folder, "private", "face.png"),
      Buffer.from([0x89, 0x50, 0x4e, 0x47]),
    );
    await symlink(path.join(folder, "private"), path.join(folder, "pics", "private"));
    const args = [
      "ingest",
      "pics",
      "--model",
      "gemini-embedding-2",
      "--dim",
      "128",
      "--no-progress",
    ];
    const refused = await run(args);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("pics/private: a symbolic link to");
    const skipped = await run([...args, "--skip-bad", "--json"]);
    expect(skipped.code).toBe(0);
    const summary = JSON.parse(skipped.stdout) as { skippedFiles: { source: string }[] };
    expect(summary.skippedFiles.map((issue) => issue.source)).toEqual(["pics/private"]);
    expect(await rowIds("gembed.json")).toEqual(["pics/note.md"]);
  });

  it("a glob does not follow links out of its fixed part either; a file named directly is followed", async () => {
    await corpusWithLinks();
    const globbed = await readSources(["corp/**/*.txt"], { cwd: folder }).catch(
      (error: unknown) => error,
    );
    expect(globbed).toBeInstanceOf(SourceError);
    expect((globbed as SourceError).issues.map((issue) => issue.source)).toContain("corp/out.txt");
    const named = await readSources(["corp/out.txt"], { cwd: folder });
    expect(named.map((document) => document.text)).toEqual(["outside the folder"]);
  });
});

describe("gembed batch delete and job names", { timeout: 90_000 }, () => {
  it("refuses to delete a job still pending or running (exit 2, says cancel or --force); --force deletes it", async () => {
    // A job that stays running for the test: 20 s for its one item (close() waits for that
    // sleep to end, so not longer).
    const slow = await startServer({ batch: { delayPerItemMs: 20_000 } });
    try {
      const slowEnv = cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: slow.url, GEMINI_API_KEY: "k" });
      await writeFile(path.join(folder, "corpus.txt"), "one text\n");
      const submitted = await run(["batch", "submit", "corpus.txt", "--dim", "128"], slowEnv);
      expect(submitted.code).toBe(0);
      const name = submitted.stdout.trim();
      const refused = await run(["batch", "delete", name], slowEnv);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/^gembed: UsageError: batches\/\S+ is (PENDING|RUNNING)/);
      expect(refused.stderr).toContain(`gembed batch cancel ${name}`);
      expect(refused.stderr).toContain("--force");
      const still = await run(["batch", "status", name, "--json"], slowEnv);
      expect(still.code).toBe(0);
      expect(JSON.parse(still.stdout)).toMatchObject({ name });
      const forced = await run(["batch", "delete", name, "--force"], slowEnv);
      expect(forced.code).toBe(0);
      expect(forced.stdout).toBe(`deleted ${name}\n`);
      expect((await run(["batch", "status", name], slowEnv)).stderr).toContain("NotFoundError");
    } finally {
      await slow.close();
    }
  });

  it("a job name that is not batches/ID or ID is a UsageError (exit 2) naming it, before any request", async () => {
    const before = server.stats().requests;
    for (const command of ["status", "wait", "collect", "cancel", "delete"]) {
      const result = await run(["batch", command, "../../etc"]);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        'gembed: UsageError: a job name is "batches/ID" or "ID" (letters, digits, - and _), got "../../etc"\n',
      );
    }
    expect((await run(["batch", "status", "batches/a/b"])).code).toBe(2);
    expect(server.stats().requests).toBe(before);
  });
});

/** A port nothing listens on: taken from the system, then released. */
async function closedPort(): Promise<number> {
  const { createServer } = await import("node:net");
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe("--milvus checked and named", { timeout: 60_000 }, () => {
  it("search never creates a Milvus Lite folder: a missing one is a UsageError (exit 2) naming it", async () => {
    const result = await run(["search", "x", "--milvus", "./typo.db", "--collection", "c1"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^gembed: UsageError: --milvus \.\/typo\.db: no such Milvus Lite folder/,
    );
    await expect(readFile(path.join(folder, "typo.db"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("a Milvus Lite path that is a file is a UsageError (exit 2), no Python traceback", async () => {
    await writeFile(path.join(folder, "a.md"), "a document");
    await writeFile(path.join(folder, "file.db"), "not a folder");
    for (const args of [
      ["ingest", "a.md", "--milvus", "./file.db", "--dim", "128", "--no-progress"],
      ["search", "x", "--milvus", "./file.db"],
    ]) {
      const result = await run(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        "gembed: UsageError: --milvus ./file.db is a file, not a Milvus Lite folder: give a folder path (such as ./gembed.db) or a server address (http://127.0.0.1:19530)\n",
      );
    }
  });

  it("a Milvus server that answers still works (the connection check passes on the real one)", async () => {
    await writeFile(path.join(folder, "a.md"), "Alan Turing was born in London");
    const collection = uniqueCollection("qa");
    const common = ["--milvus", milvusUri(), "--collection", collection];
    const ingested = await run(["ingest", "a.md", ...common, "--dim", "128", "--no-progress"]);
    expect(ingested.stderr).toBe("");
    expect(ingested.code).toBe(0);
    const found = await run(["search", "Turing", ...common, "--json"]);
    expect(found.code).toBe(0);
    expect((JSON.parse(found.stdout) as { hits: { id: string }[] }).hits[0]?.id).toBe(
      "a.md".replace(/^/, `${path.basename(folder)}/`),
    );
  });

  it("a Milvus server that does not answer is a MilvusUnavailableError naming the address (exit 1)", async () => {
    await writeFile(path.join(folder, "a.md"), "a document");
    const port = await closedPort();
    for (const args of [
      [
        "ingest",
        "a.md",
        "--milvus",
        `http://user:secret@127.0.0.1:${port}`,
        "--dim",
        "128",
        "--no-progress",
      ],
      ["search", "x", "--milvus", `http://user:secret@127.0.0.1:${port}`],
    ]) {
      const result = await run(args);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `gembed: MilvusUnavailableError: cannot reach Milvus at http://127.0.0.1:${port} (--milvus): nothing answers there. Start the server, check the address, or give a folder path such as ./gembed.db to use Milvus Lite.\n`,
      );
    }
  });
});

describe("search --file on a Parquet output", { timeout: 60_000 }, () => {
  it("reads the rows file written beside it, and says so when that is missing", async () => {
    await writeFile(path.join(folder, "turing.md"), "# Turing\n\nAlan Turing was born in London.");
    await writeFile(path.join(folder, "ai.md"), "# AI\n\nArtificial intelligence began in 1956.");
    const ingested = await run([
      "ingest",
      "turing.md",
      "ai.md",
      "--out",
      "x.parquet",
      "--dim",
      "128",
      "--no-progress",
    ]);
    expect(ingested.code).toBe(0);
    const found = await run(["search", "Turing", "--file", "x.parquet", "--json"]);
    expect(found.stderr).toBe("");
    expect(found.code).toBe(0);
    const result = JSON.parse(found.stdout) as { source: string; hits: { id: string }[] };
    expect(result.source).toBe(path.join(folder, "x.parquet.rows.json"));
    expect(result.hits.map((hit) => hit.id).sort()).toEqual([
      `${path.basename(folder)}/ai.md`,
      `${path.basename(folder)}/turing.md`,
    ]);
    const missing = await run(["search", "Turing", "--file", "other.parquet"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(
      "RowsFileError: other.parquet is a Parquet bulk-import file: search reads the rows file written beside it, other.parquet.rows.json, which is not there",
    );
  });
});

describe("gembed demo through GOOGLE_GEMINI_BASE_URL", { timeout: 60_000 }, () => {
  it("says it goes through the server at that URL, without the key; --json says local and which server", async () => {
    const text = await run(["demo", "--no-milvus"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(
      `gembed demo: gemini-embedding-001 through the server at ${server.url} (on this machine)\n`,
    );
    expect(text.stdout).not.toContain("Gemini API");
    expect(text.stdout + text.stderr).not.toContain("qa-key");
    const json = await run(["demo", "--no-milvus", "--json"]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      local: true,
      server: server.url,
      store: "memory",
    });
    expect(json.stdout).not.toContain("qa-key");
  });
});

describe("gembed serve on a busy port", { timeout: 60_000 }, () => {
  it("is a UsageError naming the port (exit 2), not listen EADDRINUSE", async () => {
    const port = Number(new URL(server.url).port);
    const result = await run(["serve", "--port", String(port)]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `gembed: UsageError: --port ${port}: 127.0.0.1:${port} is already in use (another gembed serve, or another program); choose another port, or --port 0 for a free one\n`,
    );
    expect(result.stdout).not.toContain("listening");
  });
});

describe("stale temporaries of a killed ingest", { timeout: 60_000 }, () => {
  it("a rerun removes <out>.<pid>.<n>.tmp of processes gone, and keeps those of running ones", async () => {
    const { spawn } = await import("node:child_process");
    const { readdir } = await import("node:fs/promises");
    // A real process id that no longer runs, and one that does.
    const ended = spawn(process.execPath, ["-e", ""]);
    await new Promise((resolve) => ended.once("exit", resolve));
    const running = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"]);
    try {
      await writeFile(path.join(folder, "a.md"), "a document");
      const args = ["ingest", "a.md", "--dim", "128", "--no-progress"];
      expect((await run(args)).code).toBe(0);
      const stale = [
        `gembed.json.${ended.pid}.3.tmp`,
        `gembed.json.gembed.json.${ended.pid}.1.tmp`,
      ];
      const kept = [`gembed.json.${running.pid}.1.tmp`, `other.json.${ended.pid}.1.tmp`];
      for (const name of [...stale, ...kept]) await writeFile(path.join(folder, name), "{");
      const rerun = await run(args);
      expect(rerun.code).toBe(0);
      const names = await readdir(folder);
      for (const name of stale) expect(names).not.toContain(name);
      for (const name of kept) expect(names).toContain(name);
    } finally {
      running.kill();
    }
  });
});

describe("QA leftovers of the ingest summary, --prune and globs", { timeout: 60_000 }, () => {
  /** corpus/a.md (UTF-8), corpus/latin.txt (Latin-1: bad without --encoding latin1). */
  async function corpusWithLatin1(): Promise<void> {
    await mkdir(path.join(folder, "corpus"));
    await writeFile(path.join(folder, "corpus", "a.md"), "# Alpha\n\nplain ASCII text");
    await writeFile(
      path.join(folder, "corpus", "latin.txt"),
      Buffer.from("caf\xe9 cr\xe8me", "latin1"),
    );
  }

  it("'skipped' is said of bad files only: unchanged chunks are 'unchanged' in the line and in --json", async () => {
    await corpusWithLatin1();
    const first = await run(["ingest", "corpus", "--dim", "128", "--skip-bad", "--json"]);
    expect(first.code, first.stderr).toBe(0);
    const again = await run(["ingest", "corpus", "--dim", "128", "--skip-bad", "--json"]);
    const summary = JSON.parse(again.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({ unchanged: 1, embedded: 0, written: 0 });
    expect(summary).not.toHaveProperty("skipped");
    expect(summary.skippedFiles).toEqual([
      { source: "corpus/latin.txt", reason: expect.stringContaining("not valid UTF-8") },
    ]);
    const line = await run(["ingest", "corpus", "--dim", "128", "--skip-bad"]);
    expect(line.stdout).toContain("1 unchanged");
    expect(line.stdout).toContain("1 bad file(s) skipped");
    expect(line.stdout).toContain("  skipped corpus/latin.txt: not valid UTF-8");
  });

  it.each([
    ["streamed", []],
    ["--batch (in memory)", ["--batch"]],
  ])(
    "--skip-bad --prune keeps the rows of a file skipped as bad (still there), and prunes a deleted one: %s",
    async (_name, extra) => {
      await corpusWithLatin1();
      await writeFile(path.join(folder, "corpus", "gone.md"), "to be deleted");
      const args = ["ingest", "corpus", "--dim", "128", "--json", ...extra];
      const first = await run([...args, "--encoding", "latin1"]);
      expect(first.code, first.stderr).toBe(0);
      expect(await rowIds("gembed.json")).toEqual([
        "corpus/a.md",
        "corpus/gone.md",
        "corpus/latin.txt",
      ]);
      await rm(path.join(folder, "corpus", "gone.md"));
      // --encoding latin1 forgotten: latin.txt is skipped as bad, but it is still there.
      const second = await run([...args, "--skip-bad", "--prune"]);
      expect(second.code, second.stderr).toBe(0);
      expect(JSON.parse(second.stdout)).toMatchObject({ pruned: 1 });
      expect(await rowIds("gembed.json")).toEqual(["corpus/a.md", "corpus/latin.txt"]);
    },
  );

  it("a glob honours the .gitignore files of its fixed part, as a folder does", async () => {
    await mkdir(path.join(folder, "corpus", "sub"), { recursive: true });
    await writeFile(path.join(folder, "corpus", ".gitignore"), "drafts.md\n");
    await writeFile(path.join(folder, "corpus", "sub", ".gitignore"), "*.tmp.md\n");
    await writeFile(path.join(folder, "corpus", "a.md"), "kept");
    await writeFile(path.join(folder, "corpus", "drafts.md"), "ignored by corpus/.gitignore");
    await writeFile(path.join(folder, "corpus", "sub", "b.md"), "kept too");
    await writeFile(path.join(folder, "corpus", "sub", "c.tmp.md"), "ignored by sub/.gitignore");
    const byFolder = await run(["ingest", "corpus", "--dim", "128", "--out", "folder.json"]);
    expect(byFolder.code, byFolder.stderr).toBe(0);
    const byGlob = await run(["ingest", "corpus/**/*.md", "--dim", "128", "--out", "glob.json"]);
    expect(byGlob.code, byGlob.stderr).toBe(0);
    expect(await rowIds("glob.json")).toEqual(["corpus/a.md", "corpus/sub/b.md"]);
    expect(await rowIds("glob.json")).toEqual(await rowIds("folder.json"));
  });
});
