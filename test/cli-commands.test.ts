import { mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { connectMilvus } from "@gembed/milvus";
import { type RunningServer, startServer } from "@gembed/server";
import type { MilvusClient } from "@zilliz/milvus2-sdk-node";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { formatNumpyArray, redactUri } from "../packages/cli/src/commands/demo.js";
import { cleanEnvironment, runCli, spawnCli } from "./cli-run.js";
import { type MilvusFaultProxy, startMilvusFaultProxy } from "./milvus-fault-proxy.js";
import { milvusUri, uniqueCollection } from "./support/milvus.js";

let server: RunningServer;
let folder: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  server = await startServer({ apiKeys: ["right-key"] });
});
afterAll(async () => {
  await server.close();
});
beforeEach(async (context) => {
  folder = await mkdtemp(path.join(tmpdir(), "gembed-cli-"));
  env = cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url, GEMINI_API_KEY: "right-key" });
  context.onTestFinished(() => rm(folder, { recursive: true, force: true }));
});

describe("gembed embed", () => {
  it("prints one line of values per text, or JSON", async () => {
    const plain = await runCli(["embed", "first text", "second text", "--dim", "128"], {
      cwd: folder,
      env,
    });
    expect(plain.code).toBe(0);
    const lines = plain.stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    const values = lines[0]!.split(" ").map(Number);
    expect(values).toHaveLength(128);
    expect(values.every(Number.isFinite)).toBe(true);
    expect(Math.hypot(...values)).toBeCloseTo(1, 4);

    const json = await runCli(["embed", "--query", "a question?", "--json"], { cwd: folder, env });
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as {
      model: string;
      dim: number;
      embeddings: { text: string; values: number[] }[];
    };
    expect(parsed).toMatchObject({ model: "gemini-embedding-001", dim: 3072 });
    expect(parsed.embeddings[0]!.text).toBe("a question?");
    expect(parsed.embeddings[0]!.values).toHaveLength(3072);
    // A query is embedded with another task type than a document.
    const asDocument = await runCli(["embed", "a question?", "--json"], { cwd: folder, env });
    expect((JSON.parse(asDocument.stdout) as typeof parsed).embeddings[0]!.values).not.toEqual(
      parsed.embeddings[0]!.values,
    );
  });
});

describe("gembed embed, a text over the input limit", () => {
  it("warns on one gembed line naming the text, without Node's warning format", async () => {
    const long = "word ".repeat(9000);
    const result = await runCli(["embed", "short", long, "--dim", "128"], { cwd: folder, env });
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split("\n")).toHaveLength(2);
    expect(result.stderr).toMatch(
      /^gembed: warning: text #1 is about \d+ tokens, over the 2048-token input limit of gemini-embedding-001: the API embeds only its beginning\n$/,
    );
  });
});

describe("the gembed command as a process (the other tests run it in-process)", () => {
  it("embeds, and exits 0 with help, 2 on a bad option, with no stack trace", async () => {
    const embedded = await spawnCli(["embed", "first text", "--dim", "128"], { cwd: folder, env })
      .done;
    expect(embedded.code).toBe(0);
    expect(embedded.stdout.trim().split(" ").map(Number)).toHaveLength(128);
    const help = await spawnCli(["--help"], { cwd: folder, env }).done;
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: gembed");
    const bad = await spawnCli(["embed", "x", "--dim", "abc"], { cwd: folder, env }).done;
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--dim must be an integer");
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("every command", () => {
  it.each(["embed", "ingest", "search", "demo"])(
    "%s --help shows examples and exit codes",
    async (name) => {
      const help = await runCli([name, "--help"], { cwd: folder, env });
      expect(help.code).toBe(0);
      expect(help.stdout).toContain("Examples:");
      expect(help.stdout).toContain(`$ gembed ${name}`);
      expect(help.stdout).toContain("Exit codes:");
    },
  );

  it("exits 2 on bad usage and bad input, with one line and no stack trace", async () => {
    const cases = [
      ["ingest", "missing-folder"],
      ["embed", "x", "--dim", "abc"],
      ["search", "x", "--limit", "0"],
      ["ingest", "x", "--collection", "bad-name"],
      ["search", "query", "--file", "nothing.json"],
      ["embed", "-"], // empty standard input
      ["embed", "x", "--model", "text-embedding-004"], // retired: RetiredModelError
      ["search", "x", "--model", "gemini-embedding-exp-03-07"],
      ["embed", "x", "--task", "CLUSTERING", "--title", "T"], // a title the API would not take
    ];
    for (const args of cases) {
      const result = await runCli(args, { cwd: folder, env });
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
    const noKey = await runCli(["embed", "x"], {
      cwd: folder,
      env: cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url }),
    });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain("No Gemini API key");
    // The usage problem itself, not "Embedded 0 of 1 texts; 1 missing. Stopped by: …".
    expect(noKey.stderr).toMatch(/^gembed: MissingApiKeyError: /);
    // It tells a command-line user what to do: there is no key flag, only the variables.
    expect(noKey.stderr).toContain("set the GEMINI_API_KEY or GOOGLE_API_KEY environment variable");
    expect(noKey.stderr).not.toContain("Stopped by");
    const retired = await runCli(["embed", "x", "--model", "text-embedding-004"], {
      cwd: folder,
      env,
    });
    expect(retired.stderr).toMatch(/^gembed: RetiredModelError: .*"gemini-embedding-001"/);
  });

  it("never prints the API key, not even with --debug", async () => {
    const secret = "wrong-secret-key-4f9a7c";
    const badKey = cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url, GEMINI_API_KEY: secret });
    const plain = await runCli(["embed", "x"], { cwd: folder, env: badKey });
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/^gembed: \w+Error: /);
    expect(plain.stderr).not.toContain(secret);
    expect(plain.stderr).not.toMatch(/\n\s+at /);
    const debug = await runCli(["--debug", "ingest", "-", "--json"], {
      cwd: folder,
      env: badKey,
      input: "some text",
    });
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/\n\s+at /);
    expect(debug.stderr + debug.stdout).not.toContain(secret);
  });
});

describe("gembed demo", () => {
  it("prints vectors exactly as the seed's expected output does (numpy repr)", () => {
    const vector = new Float64Array(3072);
    vector.set([-0.00894029, 0.00573813, 0.013351]);
    vector.set([-0.00042766, -0.00603091, -0.00341043], 3069);
    const other = new Float64Array(3072);
    other.set([0.00222347, 0.03725113, 0.01152256]);
    other.set([0.01047272, -0.01701597, 0.00565377], 3069);
    // Copied from the seed (000_2e27c1605b73ddc2.txt), first two arrays.
    expect(`Embeddings: [${[vector, other].map(formatNumpyArray).join(", ")}]`).toBe(
      "Embeddings: [array([-0.00894029,  0.00573813,  0.013351  , ..., -0.00042766,\n" +
        "       -0.00603091, -0.00341043], shape=(3072,)), array([ 0.00222347,  0.03725113,  0.01152256, ...,  0.01047272,\n" +
        "       -0.01701597,  0.00565377], shape=(3072,))]",
    );
    expect(formatNumpyArray([1, 2, 0.5])).toBe("array([1. , 2. , 0.5])");
  });

  it("never prints a password given inside the Milvus URI", () => {
    expect(redactUri("http://root:Milvus-secret@127.0.0.1:19530")).toBe(
      "http://***@127.0.0.1:19530",
    );
    expect(redactUri("root:Milvus-secret@milvus:19530")).toBe("***@milvus:19530");
    expect(redactUri("http://127.0.0.1:19530")).toBe("http://127.0.0.1:19530");
  });

  it("without a key, runs on the in-process local server and ranks each query's document first", async () => {
    const text = await runCli(["demo"], { cwd: folder, env: cleanEnvironment() });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("through the local server");
    // Milvus Lite is installed by npm test (.venv/): the demo goes through it and says so.
    expect(text.stdout).toMatch(
      /^Milvus Lite \(a temporary folder\), collection gembed_demo:\nQuery: When was artificial intelligence founded\n {2}1\. [\d.]+ {2}Artificial intelligence was founded/m,
    );
    expect(text.stdout).toMatch(/^store: Milvus Lite \(a temporary folder\)$/m);
    // The seed's expected output: numpy-style vectors, then `Dim: 3072 (3072,)` (documents) and
    // `Dim 3072 (3072,)` (queries).
    const value = String.raw` *-?\d\.\d{0,8} *`;
    const separator = String.raw`,(?: |\n {7})`; // numpy wraps at 75 columns
    const array = String.raw`array\(\[${value}(?:${separator}${value}){2}${separator}\.\.\.(?:${separator}${value}){3}\], shape=\(3072,\)\)`;
    expect(text.stdout).toMatch(
      new RegExp(
        String.raw`^Embeddings: \[${array}, ${array}, ${array}\]\nDim: 3072 \(3072,\)$`,
        "m",
      ),
    );
    expect(text.stdout).toMatch(
      new RegExp(String.raw`^Embeddings: \[${array}, ${array}\]\nDim 3072 \(3072,\)$`, "m"),
    );
    expect(text.stdout).toMatch(
      /Query: When was artificial intelligence founded\n {2}1\. [\d.]+ {2}Artificial intelligence was founded/,
    );
    expect(text.stdout).toMatch(
      /Query: Where was Alan Turing born\?\n {2}1\. [\d.]+ {2}Born in Maida Vale/,
    );

    const json = await runCli(["demo", "--json", "--dim", "768", "--no-milvus"], {
      cwd: folder,
      env: cleanEnvironment(),
    });
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as {
      store: string;
      local: boolean;
      dim: number;
      vectorLength: number;
      queries: { expected: number; results: { index: number; score: number }[] }[];
    };
    expect(parsed).toMatchObject({ store: "memory", local: true, dim: 768, vectorLength: 768 });
    for (const query of parsed.queries) {
      expect(query.results[0]!.index).toBe(query.expected);
      expect(query.results[0]!.score).toBeGreaterThan(query.results[1]!.score);
    }
  });
});

describe("gembed with --milvus", () => {
  let milvus: MilvusFaultProxy;
  let reader: MilvusClient;
  beforeAll(async () => {
    milvus = await startMilvusFaultProxy(milvusUri());
    reader = await connectMilvus({ uri: milvusUri() });
  });
  afterAll(async () => {
    await reader?.closeConnection();
    await milvus?.close();
  });

  /** The stored rows of a collection, by id, as the server answers them. */
  async function stored(name: string): Promise<Map<string, Record<string, unknown>>> {
    const result = await reader.query({
      collection_name: name,
      filter: 'id != ""',
      output_fields: ["*"],
      consistency_level: "Strong" as never,
      limit: 100,
    });
    expect(result.status.error_code).toBe("Success");
    return new Map(result.data.map((row) => [String(row.id), row]));
  }

  it("ingests into a collection, writes nothing on a second run, and searches it", async () => {
    const name = uniqueCollection("docs");
    const input = [
      {
        id: "ai",
        text: "Artificial intelligence was founded as an academic discipline in 1956.",
        metadata: { topic: "ai" },
      },
      {
        id: "turing",
        text: "Born in Maida Vale, London, Turing was raised in southern England.",
        metadata: { topic: "people" },
      },
    ]
      .map((row) => JSON.stringify(row))
      .join("\n");
    const args = [
      "ingest",
      "-",
      "--milvus",
      milvus.address,
      "--collection",
      name,
      "--dim",
      "768",
      "--json",
    ];
    const first = await runCli(args, { cwd: folder, env, input });
    expect(first.stderr).toBe(first.stderr.replace("right-key", ""));
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({
      chunks: 2,
      embedded: 2,
      written: 2,
      target: `Milvus collection ${name}`,
    });
    const rows = await stored(name);
    expect([...rows.keys()].sort()).toEqual(["ai", "turing"]);
    expect((rows.get("ai")!.vector as number[]).length).toBe(768);

    const upserts = milvus.calls("Upsert").length;
    const second = await runCli(args, { cwd: folder, env, input });
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ unchanged: 2, embedded: 0, written: 0 });
    expect(milvus.calls("Upsert").length).toBe(upserts);

    // Model and dim come from the collection: no --dim needed to search it.
    const search = await runCli(
      [
        "search",
        "Where was Turing born?",
        "--milvus",
        milvus.address,
        "--collection",
        name,
        "--json",
      ],
      { cwd: folder, env },
    );
    expect(search.code).toBe(0);
    const hits = (JSON.parse(search.stdout) as { hits: { id: string; metadata: unknown }[] }).hits;
    expect(hits.map((hit) => hit.id)).toEqual(["turing", "ai"]);
    expect(hits[0]!.metadata).toMatchObject({ topic: "people", document_id: "turing" });

    const filtered = await runCli(
      [
        "search",
        "Where was Turing born?",
        "--milvus",
        milvus.address,
        "--collection",
        name,
        "--filter",
        'metadata["topic"] == "ai"',
      ],
      { cwd: folder, env },
    );
    expect(filtered.code).toBe(0);
    expect(filtered.stdout).toMatch(/^1\. [\d.]+ {2}ai\n/);

    const wrongDim = await runCli(
      ["ingest", "-", "--milvus", milvus.address, "--collection", name, "--dim", "256"],
      { cwd: folder, env, input },
    );
    // A collection of another dim is input the run cannot use: exit 2, as for a rows file.
    expect(wrongDim.code).toBe(2);
    expect(wrongDim.stderr).toContain("vector dim is 768, the embedding function makes 256");
  });

  it("keeps the rows Milvus refused and writes them on the next run without embedding them again", async () => {
    const name = uniqueCollection("kept");
    const input = Array.from({ length: 6 }, (_, index) =>
      JSON.stringify({ id: `kept-${index}`, text: `Document number ${index} about vectors.` }),
    ).join("\n");
    const args = [
      "ingest",
      "-",
      "--milvus",
      milvus.address,
      "--collection",
      name,
      "--dim",
      "128",
      "--batch-size",
      "3",
      "--json",
    ];
    // The first step is written; every try of the second one fails.
    milvus.failWrites(1_000, 1);
    const textsBefore = server.stats().texts;
    const failed = await runCli(args, { cwd: folder, env, input });
    milvus.failWrites(0);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain("MilvusWriteError");
    expect(failed.stderr).toContain("kept in");
    expect(server.stats().texts - textsBefore).toBe(6);
    expect([...(await stored(name)).keys()].sort()).toEqual(["kept-0", "kept-1", "kept-2"]);
    const keptFile = path.join(folder, `${name}.unwritten.json`);
    const kept = JSON.parse(await readFile(keptFile, "utf8")) as { rows: { id: string }[] };
    expect(kept.rows.map((row) => row.id)).toEqual(["kept-3", "kept-4", "kept-5"]);

    const again = await runCli(args, { cwd: folder, env, input });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({
      unchanged: 3,
      reused: 3,
      embedded: 0,
      written: 3,
    });
    // Nothing was paid for twice.
    expect(server.stats().texts - textsBefore).toBe(6);
    expect((await stored(name)).size).toBe(6);
    await expect(stat(keptFile)).rejects.toThrow();
  });

  it("demo runs through Milvus when MILVUS_URI is set, and says so", async () => {
    const name = uniqueCollection("demo");
    const result = await runCli(["demo", "--json", "--collection", name], {
      cwd: folder,
      env: cleanEnvironment({ MILVUS_URI: milvus.address }),
    });
    expect(result.code).toBe(0);
    const parsed = JSON.parse(result.stdout) as {
      store: string;
      milvus: { collection: string; results: { results: { index: number }[] }[] };
      queries: { expected: number }[];
    };
    expect(parsed.store).toBe("milvus");
    expect(parsed.milvus.collection).toBe(name);
    parsed.milvus.results.forEach((query, index) => {
      expect(query.results[0]!.index).toBe(parsed.queries[index]!.expected);
    });
    expect((await stored(name)).size).toBe(3);
  });
});

describe('gembed with --milvus <folder>: Milvus Lite, as pymilvus\'s MilvusClient("./milvus.db")', () => {
  it("ingest and search start Milvus Lite for the folder, keep the rows there, and stop it", async () => {
    const input = [
      { id: "ai", text: "Artificial intelligence was founded as an academic discipline in 1956." },
      { id: "turing", text: "Born in Maida Vale, London, Turing was raised in southern England." },
    ]
      .map((row) => JSON.stringify(row))
      .join("\n");
    const ingest = await runCli(
      [
        "ingest",
        "-",
        "--milvus",
        "./gembed.db",
        "--collection",
        "docs",
        "--dim",
        "128",
        "--json",
        "--no-progress",
      ],
      { cwd: folder, env, input },
    );
    expect(ingest.stderr).toBe("");
    expect(ingest.code).toBe(0);
    expect(JSON.parse(ingest.stdout)).toMatchObject({ embedded: 2, written: 2 });
    // The folder holds Milvus Lite's data.
    expect((await stat(path.join(folder, "gembed.db"))).isDirectory()).toBe(true);

    // A second Milvus Lite opens the same folder: the first one was stopped (it holds a lock
    // on its folder while it runs).
    const search = await runCli(
      [
        "search",
        "Where was Turing born?",
        "--milvus",
        "./gembed.db",
        "--collection",
        "docs",
        "--json",
      ],
      { cwd: folder, env },
    );
    expect(search.code).toBe(0);
    const hits = (JSON.parse(search.stdout) as { hits: { id: string }[] }).hits;
    expect(hits.map((hit) => hit.id)).toEqual(["turing", "ai"]);
  });

  it("without Milvus Lite, fails with the one command that installs it", async () => {
    // An existing folder: search refuses a missing one before looking for Milvus Lite.
    await mkdir(path.join(folder, "gembed.db"), { recursive: true });
    const result = await runCli(
      ["search", "a query", "--milvus", "./gembed.db", "--collection", "docs"],
      { cwd: folder, env: { ...env, MILVUS_LITE_BIN: path.join(folder, "no-such-milvus-lite") } },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("MilvusLiteMissingError");
    expect(result.stderr).toContain("python3 -m pip install milvus-lite==3.2.2 pymilvus==3.0.2");
  });
});
