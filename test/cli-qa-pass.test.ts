/**
 * Fixes of a second QA pass over the CLI: every command-line mistake in one format
 * (`gembed: UsageError: …`, exit 2, naming the help to read), one spelling of a batch job's
 * state in every printed line, outputs that are never a device and never shared by two writers,
 * write failures named, and bad option values and bad input named before any request. In-process runs (`runCli`) against the local server on
 * 127.0.0.1:0, in real temporary folders.
 */
import { lstat, mkdir, open, readFile, symlink, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import path from "node:path";
import { connectMilvus } from "@gembed/milvus";
import { startServer } from "@gembed/server";
import { GeminiEmbeddingFunction } from "gembed";
import { lockFile } from "gembed/node";
import { describe, expect, it } from "vitest";
import { exposureWarning } from "../packages/cli/src/commands/serve.js";
import { cleanEnvironment, runCli, spawnCli } from "./cli-run.js";
import { env, folder, run, server, useCliFixture } from "./support/cli-fixture.js";

useCliFixture("gembed-qa-pass-", "qa-key");

describe("usage errors: one format", () => {
  it.each([
    [["--bogus"], "unknown option '--bogus'; see `gembed --help`"],
    [["embd"], "unknown command 'embd' (did you mean embed?); see `gembed --help`"],
    [
      ["embed", "x", "--dmi", "3"],
      "unknown option '--dmi' (did you mean --dim?); see `gembed embed --help`",
    ],
    [["search"], "missing required argument 'query'; see `gembed search --help`"],
    [
      ["embed", "x", "--dim", "abc"],
      "option '--dim <n>' argument 'abc' is invalid. --dim must be an integer >= 1; see `gembed embed --help`",
    ],
    [["batch", "status"], "missing required argument 'job'; see `gembed batch status --help`"],
    [["batch", "nope"], "unknown command 'nope'; see `gembed batch --help`"],
    [
      ["search", "a", "b"],
      "too many arguments for 'search'. Expected 1 argument but got 2; see `gembed search --help`",
    ],
  ])("gembed %j: one gembed line, exit 2", async (args, message) => {
    const result = await run(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`gembed: UsageError: ${message}\n`);
    expect(result.stdout).toBe("");
  });

  it("a bad choice is the same line, with the choices", async () => {
    const result = await run(["embed", "x", "--task", "FOO"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^gembed: UsageError: option '--task <type>' argument 'FOO' is invalid\. Allowed choices are .*RETRIEVAL_QUERY.*; see `gembed embed --help`\n$/,
    );
  });

  it("help and version are not errors", async () => {
    const help = await run(["batch", "wait", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: gembed batch wait");
    expect(help.stderr).toBe("");
    const version = await run(["--version"]);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});

describe("batch job states: one spelling", { timeout: 60_000 }, () => {
  it("status, wait, cancel and list print SUCCEEDED; --json keeps the API's BATCH_STATE_ name in each", async () => {
    const input = path.join(folder, "corpus.txt");
    await writeFile(input, "one text\nanother text\n");
    const submitted = await run(["batch", "submit", input, "--dim", "128"]);
    expect(submitted.code).toBe(0);
    const name = submitted.stdout.trim();
    const waited = await run(["batch", "wait", name, "--poll-interval", "20"]);
    expect(waited.code).toBe(0);
    expect(waited.stdout.split("\n")[0]).toBe(`${name}  SUCCEEDED`);
    const status = await run(["batch", "status", name]);
    expect(status.stdout.split("\n")[0]).toBe(`${name}  SUCCEEDED`);
    const listed = await run(["batch", "list"]);
    expect(listed.stdout).toContain(`${name}\tSUCCEEDED\t2/2`);
    for (const printed of [waited, status, listed]) {
      expect(printed.stdout).not.toContain("BATCH_STATE_");
    }

    const statusJson = JSON.parse((await run(["batch", "status", name, "--json"])).stdout) as {
      state: string;
    };
    const listJson = JSON.parse((await run(["batch", "list", "--json"])).stdout) as {
      name: string;
      state: string;
    }[];
    expect(statusJson.state).toBe("BATCH_STATE_SUCCEEDED");
    expect(listJson.find((job) => job.name === name)?.state).toBe("BATCH_STATE_SUCCEEDED");
  });
});

describe("batch job states in ingest --batch: the same spelling", { timeout: 60_000 }, () => {
  it("the progress lines of an ingest through the Batch API say SUCCEEDED, never BATCH_STATE_", async () => {
    await writeFile(path.join(folder, "a.md"), "# A\n\nAlpha explains vectors.\n");
    const ingested = await run([
      "ingest",
      "a.md",
      "--batch",
      "--dim",
      "128",
      "--poll-interval",
      "20",
      "--out",
      "rows.json",
    ]);
    expect(ingested.code, ingested.stderr).toBe(0);
    expect(ingested.stderr).toMatch(/batch job 1\/1: SUCCEEDED/);
    expect(ingested.stderr).not.toContain("BATCH_STATE_");
  });
});

/** A finished job of two texts, through the CLI. */
async function finishedJob(): Promise<string> {
  const input = path.join(folder, "two.txt");
  await writeFile(input, "one text\nanother text\n");
  const submitted = await run(["batch", "submit", input, "--dim", "128"]);
  const name = submitted.stdout.trim();
  expect((await run(["batch", "wait", name, "--poll-interval", "20"])).code).toBe(0);
  return name;
}

describe("outputs", { timeout: 60_000 }, () => {
  it("--out a socket (or device, or pipe) is refused before anything is written, and left in place", async () => {
    const name = await finishedJob();
    const socketPath = path.join(folder, "out.sock");
    const listener = createServer();
    await new Promise<void>((resolve) => listener.listen(socketPath, resolve));
    try {
      const collected = await run(["batch", "collect", name, "--out", socketPath]);
      expect(collected.code).toBe(2);
      expect(collected.stderr).toBe(
        `gembed: RowsFileError: --out ${socketPath} is a socket, not a regular file: gembed writes its outputs to a temporary file renamed over the target, which would replace it. Give a file path, or leave out --out: collect writes the JSONL to standard output.\n`,
      );
      await mkdir(path.join(folder, "docs"));
      await writeFile(path.join(folder, "docs", "a.md"), "a document");
      const ingested = await run(["ingest", "docs", "--out", socketPath, "--dim", "128"]);
      expect(ingested.code).toBe(2);
      expect(ingested.stderr).toContain(`--out ${socketPath} is a socket, not a regular file`);
      const before = server.stats().requests;
      const batched = await run([
        ...["ingest", "docs", "--batch", "--out", "rows.json", "--dim", "128"],
        ...["--batch-state", socketPath],
      ]);
      expect(batched.code).toBe(2);
      expect(batched.stderr).toContain(
        `--batch-state ${socketPath} is a socket, not a regular file`,
      );
      expect(server.stats().requests).toBe(before);
      // Still the socket: nothing was renamed over it.
      expect((await lstat(socketPath)).isSocket()).toBe(true);
    } finally {
      await new Promise((resolve) => listener.close(resolve));
    }
  });

  it("a collect into a file another gembed is writing is refused (FileLockedError), not a bare ENOENT", async () => {
    const name = await finishedJob();
    const out = path.join(folder, "vectors.jsonl");
    // What a collect (or an ingest) into the same file holds while it writes.
    const lock = await lockFile(out, "the output file");
    try {
      const refused = await run(["batch", "collect", name, "--out", out]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /^gembed: FileLockedError: the output file .*vectors\.jsonl is being written by another gembed process \(pid \d+/,
      );
      await expect(readFile(out, "utf8")).rejects.toThrow(/ENOENT/);
    } finally {
      await lock.release();
    }
    const collected = await run(["batch", "collect", name, "--out", out]);
    expect(collected.code).toBe(0);
    expect((await readFile(out, "utf8")).trim().split("\n")).toHaveLength(2);
  });

  it("a write that fails (a full disk) names the file and keeps the old one", async () => {
    const name = await finishedJob();
    const out = path.join(folder, "vectors.jsonl");
    await writeFile(out, "old\n");
    // /dev/full answers every write with ENOSPC: the temporary file is a link to it.
    await symlink("/dev/full", `${out}.partial`);
    const collected = await run(["batch", "collect", name, "--out", out]);
    expect(collected.code).toBe(1);
    expect(collected.stderr).toBe(
      `gembed: OutputWriteError: cannot write ${out}: no space left on the device (ENOSPC); ${out} is left as it was; the results stay with the job: run the same command again\n`,
    );
    expect(await readFile(out, "utf8")).toBe("old\n");
    await expect(lstat(`${out}.partial`)).rejects.toThrow(/ENOENT/);
    await expect(lstat(`${out}.lock`)).rejects.toThrow(/ENOENT/);
  });

  it("standard output on a full disk: one line and exit 1, no stack trace", async () => {
    const full = await open("/dev/full", "w");
    try {
      const { done } = spawnCli(["embed", "hello", "--dim", "128"], {
        cwd: folder,
        env,
        stdout: full.fd,
      });
      const result = await done;
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        "gembed: OutputWriteError: cannot write standard output: no space left on the device (ENOSPC); what was printed before is incomplete\n",
      );
    } finally {
      await full.close();
    }
  });
});

describe("bad values are usage errors naming the option", () => {
  it("--base-url that is not an http(s) URL: exit 2 naming the option, for embed and batch", async () => {
    for (const args of [
      ["embed", "x", "--base-url", "notaurl"],
      ["batch", "status", "abc", "--base-url", "ftp://127.0.0.1:1"],
    ]) {
      const result = await run(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(
        /^gembed: UsageError: option '--base-url <url>' argument '.*' is invalid\. give an absolute http\(s\) URL/,
      );
    }
  });

  it("a GOOGLE_GEMINI_BASE_URL that is not a URL: exit 2 naming the variable, never its value", async () => {
    // Key-shaped, built at run time so that secret scanners do not flag a fake key in the source.
    const value = ["AIza", "SyNotAUrlButAKeyPastedInTheWrongPlace"].join("");
    const result = await runCli(["embed", "x"], {
      cwd: folder,
      env: cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: value, GEMINI_API_KEY: "qa-key" }),
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^gembed: UsageError: GOOGLE_GEMINI_BASE_URL is not an absolute http\(s\) URL/,
    );
    expect(result.stderr).not.toContain(value);
  });

  it("a --model that would change the request's path is refused before any request", async () => {
    const before = server.stats().requests;
    for (const args of [
      ["embed", "x", "--model", "../../x"],
      ["embed", "x", "--model", "gemini-embedding-001?key=other"],
      ["search", "x", "--model", "models/a/b"],
      ["batch", "submit", "in.txt", "--model", "x#y"],
    ]) {
      const result = await run(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(
        /^gembed: UsageError: option '--model <(name|model)>' argument '.*' is invalid\. a model is a name such as gemini-embedding-001/,
      );
    }
    expect(server.stats().requests).toBe(before);
    expect((await run(["embed", "x", "--model", "models/gemini-embedding-001"])).code).toBe(0);
  });
});

describe("bad input is named", () => {
  it("embed --file: every missing file at once, exit 2, nothing sent", async () => {
    const before = server.stats().requests;
    const result = await run([
      "embed",
      "--model",
      "gemini-embedding-2",
      "--file",
      "missing.jpg",
      "gone.png",
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "gembed: SourceError: 2 source problem(s): missing.jpg: no such file (--file); gone.png: no such file (--file)\n",
    );
    expect(server.stats().requests).toBe(before);
  });

  it("embed with no text says what to give", async () => {
    const result = await run(["embed", "--json"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'gembed: SourceError: 1 source problem(s): arguments: no text given: give texts (gembed embed "some text"), or "-" to read one per line from standard input\n',
    );
  });

  it('embed: "-" among texts is a usage error, not the text "-"', async () => {
    const result = await runCli(["embed", "-", "another"], { cwd: folder, env, input: "a\n" });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^gembed: UsageError: "-" reads the texts from standard input/);
  });

  it("embed - and batch submit: a line that is not UTF-8 is named (line and byte), never embedded as U+FFFD", async () => {
    const latin1 = Buffer.from("fine\ncaf\xe9 au lait\n", "latin1");
    const before = server.stats().requests;
    const embedded = await runCli(["embed", "-"], { cwd: folder, env, input: latin1 });
    expect(embedded.code).toBe(2);
    expect(embedded.stderr).toBe(
      "gembed: SourceError: 1 source problem(s): stdin line 2: not valid UTF-8 at byte 3 of the line\n",
    );
    await writeFile(path.join(folder, "latin.txt"), latin1);
    const submitted = await run(["batch", "submit", "latin.txt"]);
    expect(submitted.code).toBe(2);
    expect(submitted.stderr).toContain("#2: not valid UTF-8 at byte 3 of the line");
    expect(server.stats().requests).toBe(before);
    // A U+FFFD the text really holds, a byte order mark and CRLF line ends are fine.
    const good = await runCli(["embed", "-", "--json", "--dim", "128"], {
      cwd: folder,
      env,
      input: Buffer.from("\uFEFFa \uFFFD b\r\nsecond\r\n", "utf8"),
    });
    expect(good.code).toBe(0);
    const texts = (JSON.parse(good.stdout) as { embeddings: { text: string }[] }).embeddings.map(
      (embedding) => embedding.text,
    );
    expect(texts).toEqual(["a \uFFFD b", "second"]);
  });

  it("search --file: a missing file, and a file that is not a rows file, say which", async () => {
    const missing = await run(["search", "x", "--file", "nothere.json"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`${path.join(folder, "nothere.json")}: no such rows file`);
    await writeFile(path.join(folder, "other.json"), '{"name": "package.json, say"}\n');
    const other = await run(["search", "x", "--file", "other.json"]);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain(
      `${path.join(folder, "other.json")} is not a rows file of gembed ingest`,
    );
  });

  it("search --filter: the parser's message, without a doubled prefix", async () => {
    await mkdir(path.join(folder, "docs"));
    await writeFile(path.join(folder, "docs", "a.md"), "a document");
    expect((await run(["ingest", "docs", "--out", "rows.json", "--dim", "128"])).code).toBe(0);
    const result = await run(["search", "x", "--file", "rows.json", "--filter", "id ==="]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^gembed: UsageError: --filter: cannot read/);
  });

  it("gembed --help has examples, as every command's help does", async () => {
    const help = await run(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Examples:\n  $ gembed demo");
  });
});

describe("gembed serve", () => {
  it("a --data-dir that cannot be used is a usage error (exit 2) naming it", async () => {
    await writeFile(path.join(folder, "a-file"), "not a folder");
    const result = await run(["serve", "--data-dir", "a-file", "--log-level", "silent"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^gembed: UsageError: The data folder .*a-file cannot be written \(ENOTDIR on /,
    );
  });

  it("warns when it would listen beyond this machine without --api-key", () => {
    // The rule alone: tests listen on loopback only.
    for (const host of ["0.0.0.0", "::", "[::]", "192.168.1.20", "example.internal"]) {
      expect(exposureWarning(host, undefined)).toMatch(/without --api-key: any key is taken/);
      expect(exposureWarning(host, ["k"])).toBeUndefined();
    }
    for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]", "LOCALHOST"]) {
      expect(exposureWarning(host, undefined)).toBeUndefined();
    }
    expect(exposureWarning("0.0.0.0", [])).toContain("every interface (0.0.0.0)");
  });
});

describe("Ctrl-C", { timeout: 60_000 }, () => {
  it("embed: the vectors received before Ctrl-C are printed in order, and the line says which texts are left (exit 130)", async () => {
    // Each call takes a while, one at a time: a Ctrl-C lands between the first and the last.
    const slow = await startServer({ faults: { latencyMs: 150 } });
    try {
      const texts = Array.from({ length: 2000 }, (_, index) => `text number ${index}`);
      const { child, done } = spawnCli(["embed", "-", "--dim", "128", "--concurrency", "1"], {
        cwd: folder,
        env: cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: slow.url, GEMINI_API_KEY: "qa-key" }),
        input: `${texts.join("\n")}\n`,
      });
      // The third call has arrived: the first two (200 texts) were answered.
      while (slow.stats().texts < 300) await new Promise((resolve) => setTimeout(resolve, 10));
      child.kill("SIGINT");
      const result = await done;
      expect(result.code).toBe(130);
      const lines = result.stdout.split("\n").filter((line) => line !== "");
      expect(lines.length).toBeGreaterThanOrEqual(200);
      expect(lines.length).toBeLessThan(2000);
      expect(result.stderr).toContain(
        `gembed: interrupted: the vectors of the first ${lines.length} of 2000 texts are printed, in order`,
      );
      expect(result.stderr).toContain(`texts ${lines.length + 1} to 2000`);
      // Line i is text i's vector: the same as embedding those texts now.
      const ef = new GeminiEmbeddingFunction({
        baseUrl: server.url,
        apiKey: "qa-key",
        config: { outputDimensionality: 128 },
      });
      const expected = await ef.encodeDocuments(texts.slice(0, lines.length));
      lines.forEach((line, index) => {
        expect(line.split(" ").map(Number)).toEqual(Array.from(expected[index]!));
      });
    } finally {
      await slow.close();
    }
  });

  it("batch collect to standard output: Ctrl-C says how many result lines were sent (exit 130)", async () => {
    const input = path.join(folder, "many.txt");
    await writeFile(
      input,
      Array.from({ length: 200 }, (_, index) => `text number ${index}`).join("\n"),
    );
    const submitted = await run(["batch", "submit", input]);
    const name = submitted.stdout.trim();
    expect((await run(["batch", "wait", name, "--poll-interval", "20"])).code).toBe(0);
    const { child, done } = spawnCli(["batch", "collect", name], { cwd: folder, env });
    // The reader takes the first line, then stops reading: the pipe fills (12 MB of results do
    // not fit), so the Ctrl-C is there before the last line can be written.
    await new Promise<void>((resolve) => child.stdout!.once("data", () => resolve()));
    child.stdout!.pause();
    child.kill("SIGINT");
    child.stdout!.resume();
    const result = await done;
    expect(result.code).toBe(130);
    const sent =
      /gembed: interrupted: (\d+) result line\(s\) of (\S+) sent to standard output before Ctrl-C\. The results stay with the job/.exec(
        result.stderr,
      );
    expect(sent?.[2]).toBe(name);
    expect(Number(sent?.[1])).toBeLessThan(200);
    // Every line sent is whole: the count is what the reader got.
    expect(result.stdout.split("\n").filter((line) => line !== "")).toHaveLength(Number(sent?.[1]));
  });
});

describe("gembed demo", { timeout: 60_000 }, () => {
  it("a MILVUS_URI where nothing answers is named as MILVUS_URI, not as a --milvus never given", async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
    const result = await runCli(["demo"], {
      cwd: folder,
      env: cleanEnvironment({ MILVUS_URI: `http://127.0.0.1:${port}` }),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `gembed: MilvusUnavailableError: cannot reach Milvus at http://127.0.0.1:${port} (MILVUS_URI): nothing answers there.`,
    );
  });
});

describe("Milvus Lite folders", { timeout: 90_000 }, () => {
  it("a folder another process serves: FileLockedError naming it (exit 1), not a Python traceback", async () => {
    const database = path.join(folder, "busy.db");
    // The other process: a Milvus Lite started on the folder, as an ingest running would hold it.
    const holder = await connectMilvus({ uri: database });
    try {
      const result = await run(["search", "x", "--milvus", database, "--collection", "docs"]);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `gembed: FileLockedError: the Milvus Lite folder ${database} (--milvus) is in use by another process (Milvus Lite serves a folder to one process at a time: another gembed ingest, search or demo, or a pymilvus MilvusClient); wait for it to finish, or give another folder\n`,
      );
    } finally {
      await holder.closeConnection();
    }
  });
});
