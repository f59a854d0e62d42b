/**
 * The Python anchors: the official Python SDK (`google-genai`) and pymilvus-model's
 * `GeminiEmbeddingFunction` (the seed's class), unchanged and pinned in
 * `python/requirements.txt`, run against the real local server (`startServer`).
 *
 * Each Python script (test/python/) prints `ok <check>` per assertion and writes the vectors it
 * received; this test checks the exit code and the lines, and compares every vector with the
 * local model's. The scripts run with the project's venv (`.venv/bin/python`); without it, or
 * with other versions than the pinned ones, the test fails and names the setup command.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type RunningServer, startServer } from "@gembed/server";
import type { TaskType } from "gembed";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalEmbeddingOptions, localEmbedding } from "../packages/server/src/local-model.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SCRIPTS = path.join(ROOT, "test", "python");
const VENV = path.join(ROOT, ".venv");
const PYTHON = path.join(VENV, "bin", "python");
const REQUIREMENTS = path.join(ROOT, "python", "requirements.txt");
/** The command that builds the venv: the project's env script where there is one. */
const SETUP = existsSync(path.join(ROOT, "scripts", "python-env.mjs"))
  ? "node scripts/python-env.mjs (in the project root)"
  : "python3 -m venv .venv && .venv/bin/pip install -r python/requirements.txt (in the project root)";
const KEY = "python-anchors-key";
/** The seed's example passes this key word for word; the server accepts it too. */
const SEED_KEY = "YOUR_API_KEY";
const SEED_DOCS = [
  "Artificial intelligence was founded as an academic discipline in 1956.",
  "Alan Turing was the first person to conduct substantial research in AI.",
  "Born in Maida Vale, London, Turing was raised in southern England.",
];
const SEED_QUERIES = ["When was artificial intelligence founded", "Where was Alan Turing born?"];
/** What pymilvus-model prints each time a GeminiEmbeddingFunction is built (see the docs). */
const PIP_LINE = "start to install package: google-genai>=1.7.0";

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RecordedVector {
  label: string;
  text: string;
  model: string;
  values: number[];
  taskType?: TaskType;
  title?: string;
  outputDimensionality?: number;
}

let server: RunningServer;
let folder: string;

/** The environment of a script: no key or base URL of the machine, the venv first on PATH. */
function scriptEnvironment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const environment = { ...process.env };
  for (const name of Object.keys(environment)) {
    if (/^(GEMINI_|GOOGLE_)/.test(name)) delete environment[name];
  }
  const noProxy = ["127.0.0.1", "localhost", environment.NO_PROXY].filter(Boolean).join(",");
  return {
    ...environment,
    // As an activated venv: pymilvus-model runs `pip install` through the shell (see the docs),
    // and this keeps that pip inside the venv.
    PATH: `${path.join(VENV, "bin")}${path.delimiter}${environment.PATH ?? ""}`,
    VIRTUAL_ENV: VENV,
    PYTHONDONTWRITEBYTECODE: "1",
    PYTHONUNBUFFERED: "1",
    NO_PROXY: noProxy,
    no_proxy: noProxy,
    ...extra,
  };
}

/** Runs Python asynchronously (the server answers from this same process), in `cwd`. */
function runPython(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (part: string) => {
      stdout += part;
    });
    child.stderr.setEncoding("utf8").on("data", (part: string) => {
      stderr += part;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs one anchor script with the server's URL and key; returns its output and its vectors. */
async function runAnchor(
  script: string,
  environment: Record<string, string> = {},
): Promise<RunResult & { vectors: RecordedVector[]; checks: number }> {
  const out = path.join(folder, `${script}.json`);
  const result = await runPython(
    [path.join(SCRIPTS, script)],
    scriptEnvironment({
      GEMBED_SERVER_URL: server.url,
      GEMBED_API_KEY: KEY,
      GEMBED_ANCHOR_OUT: out,
      GOOGLE_GEMINI_BASE_URL: server.url,
      ...environment,
    }),
    await workingFolder(script),
  );
  if (result.code !== 0) {
    throw new Error(`${script} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  }
  const written = JSON.parse(await readFile(out, "utf8")) as {
    checks: number;
    vectors: RecordedVector[];
  };
  return { ...result, ...written };
}

/**
 * A fresh working folder for one script: pymilvus-model's shell command writes a file named
 * `=1.7.0` into the working folder (see the docs), which must not land in the repository.
 */
function workingFolder(script: string): Promise<string> {
  return mkdtemp(path.join(folder, `${script}-`));
}

/** Every vector a script received equals the local model's for the same text and options. */
function expectLocalVectors(vectors: RecordedVector[]): void {
  expect(vectors.length).toBeGreaterThan(0);
  for (const vector of vectors) {
    const options: LocalEmbeddingOptions = { model: vector.model };
    if (vector.taskType !== undefined) options.taskType = vector.taskType;
    if (vector.title !== undefined) options.title = vector.title;
    if (vector.outputDimensionality !== undefined) {
      options.outputDimensionality = vector.outputDimensionality;
    }
    expect(
      Array.from(Float32Array.from(vector.values)),
      `${vector.label}: ${JSON.stringify(vector.text)}`,
    ).toEqual(Array.from(localEmbedding(vector.text, options)));
  }
}

/** The first values numpy prints of each array (`array([-0.0109, 0.0182, ...`). */
function printedHeads(stdout: string): number[][] {
  return [...stdout.matchAll(/array\(\[([^\]]*?)\.\.\./g)].map((match) =>
    (match[1] ?? "")
      .split(",")
      .map((value) => value.trim())
      .filter((value) => value.length > 0)
      .map(Number),
  );
}

function expectPrintedVectors(stdout: string, texts: string[], from: number): void {
  const heads = printedHeads(stdout).slice(from, from + texts.length);
  expect(heads).toHaveLength(texts.length);
  texts.forEach((text, index) => {
    const expected = localEmbedding(text, { model: "gemini-embedding-001" });
    const head = heads[index] ?? [];
    expect(head.length).toBeGreaterThanOrEqual(3);
    head.forEach((value, at) => {
      expect(Math.abs(value - (expected[at] ?? Number.NaN))).toBeLessThan(1e-8);
    });
  });
}

/** Why the venv cannot run the anchors (missing, or other versions than pinned), if it cannot. */
async function venvProblem(): Promise<string | undefined> {
  if (!existsSync(PYTHON)) {
    return `The Python anchors need the project's venv: ${PYTHON} is missing. Run: ${SETUP}`;
  }
  const check = await runPython(
    [
      "-c",
      [
        "import importlib.metadata as m, re, sys",
        "wrong = []",
        "for line in open(sys.argv[1]):",
        "    line = line.split('#')[0].strip()",
        "    if not line: continue",
        "    name, pinned = re.split(r'==', line)",
        "    try: found = m.version(name.strip())",
        "    except m.PackageNotFoundError: found = None",
        "    if found != pinned.strip(): wrong.append(f'{name.strip()} {found} (pinned {pinned.strip()})')",
        "import google.genai, pymilvus.model",
        "print('; '.join(wrong))",
      ].join("\n"),
      REQUIREMENTS,
    ],
    scriptEnvironment({}),
    tmpdir(),
  );
  if (check.code !== 0 || check.stdout.trim() !== "") {
    return `The Python anchors need the pinned packages in ${VENV}: ${check.stdout.trim()}${check.stderr.trim().split("\n").at(-1) ?? ""}. Run: ${SETUP}`;
  }
  return undefined;
}

let setupProblem: string | undefined;

/** Each test fails (never skips) without the venv: in CI it exists, and a skipped anchor proves nothing. */
function requireVenv(): void {
  if (setupProblem !== undefined) throw new Error(setupProblem);
}

beforeAll(async () => {
  setupProblem = await venvProblem();
  server = await startServer({ apiKeys: [KEY, SEED_KEY], batch: { delayPerItemMs: 5 } });
  folder = await mkdtemp(path.join(tmpdir(), "gembed-python-anchors-"));
}, 60_000);

afterAll(async () => {
  await server?.close();
  if (folder !== undefined) await rm(folder, { recursive: true, force: true });
});

describe("google-genai (Python), unchanged, against gembed serve", () => {
  it("models.embed_content: one and many texts, EmbedContentConfig task_type/title/output_dimensionality, env and http_options base URL, aio, typed errors (needed: /v1 paths)", async () => {
    requireVenv();
    const result = await runAnchor("genai_embed.py", { GEMINI_API_KEY: KEY });
    expect(result.stdout).toContain("ok models.embed_content, one text: one vector of 3072");
    expect(result.stdout).toContain(
      "ok genai.Client() from GOOGLE_GEMINI_BASE_URL and GEMINI_API_KEY: the same vector",
    );
    expect(result.stdout).toContain("ok a wrong key: ClientError 400 INVALID_ARGUMENT");
    expect(result.checks).toBe(11);
    expect(result.stdout).toContain("genai_embed: 11 checks passed");
    expectLocalVectors(result.vectors);
    expect(result.vectors.map((vector) => vector.values.length)).toEqual([
      3072, 768, 768, 768, 256, 128, 3072, 3072,
    ]);
  }, 120_000);

  it("batches.create_embeddings inline and from an uploaded JSONL file, get/list/cancel/delete, files.upload/get/list/download/delete (needed: /v1 paths, upload chunks without the key)", async () => {
    requireVenv();
    const result = await runAnchor("genai_batches.py");
    for (const line of [
      "ok batches.get polled until JOB_STATE_SUCCEEDED; dest.inlined_embed_content_responses holds 3 answers in order",
      "ok files.upload of a JSONL file (resumable protocol, chunks without the key): ACTIVE, its size",
      "ok files.download of the uploaded file: the same bytes",
      "ok batches.create_embeddings from the uploaded file: SUCCEEDED, dest.file_name is the responses file",
      "ok batches.cancel of a pending job: JOB_STATE_CANCELLED",
      "ok batches.list with page_size 2: pages of 2; iterating the pager lists each of the 4 jobs once",
      "ok batches.get of the deleted job: ClientError 404",
    ]) {
      expect(result.stdout).toContain(line);
    }
    expect(result.checks).toBe(16);
    expectLocalVectors(result.vectors);
    expect(result.vectors).toHaveLength(8);
  }, 120_000);
});

describe("pymilvus-model GeminiEmbeddingFunction (the seed's class), unchanged, against gembed serve", () => {
  it("the seed's example word for word, model gemini-embedding-001: the vectors come back, then .dim raises KeyError('dim')", async () => {
    requireVenv();
    // The script passes api_key='YOUR_API_KEY' as the seed does; the base URL comes from
    // GOOGLE_GEMINI_BASE_URL, and no other key is in the environment.
    const cwd = await workingFolder("seed_example.py");
    const result = await runPython(
      [path.join(SCRIPTS, "seed_example.py")],
      scriptEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url }),
      cwd,
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("Embeddings: [array([");
    expect(result.stdout.match(/shape=\(3072,\)/g)).toHaveLength(3);
    expectPrintedVectors(result.stdout, SEED_DOCS, 0);
    expect(result.stdout).not.toContain("Dim");
    expect(result.stderr).toMatch(/print\("Dim:", gemini_ef\.dim, docs_embeddings\[0\]\.shape\)/);
    expect(result.stderr.trimEnd().split("\n").at(-1)).toBe("KeyError: 'dim'");
    // The class's `pip install -q google-genai>=1.7.0` goes through a shell, which reads
    // `>=1.7.0` as a redirection: an empty file named `=1.7.0` in the working folder.
    expect(result.stdout).toContain(PIP_LINE);
    expect(existsSync(path.join(cwd, "=1.7.0"))).toBe(true);
  }, 120_000);

  it("the seed's example with config=EmbedContentConfig(output_dimensionality=3072) prints Dim: 3072 (3072,)", async () => {
    requireVenv();
    const result = await runPython(
      [path.join(SCRIPTS, "seed_example_with_config.py")],
      scriptEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url }),
      await workingFolder("seed_example_with_config.py"),
    );
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines).toContain("Dim: 3072 (3072,)");
    expect(lines).toContain("Dim 3072 (3072,)");
    expect(result.stdout.match(/shape=\(3072,\)/g)).toHaveLength(5);
    expectPrintedVectors(result.stdout, SEED_DOCS, 0);
    // encode_queries sends no task type either: a query is embedded like a document.
    expectPrintedVectors(result.stdout, SEED_QUERIES, 3);
  }, 120_000);

  it("the findings: retired default model 404, KeyError('dim'), what works, no task types, no normalization below 3072, no split at 100 texts", async () => {
    requireVenv();
    const result = await runAnchor("pymilvus_findings.py");
    for (const line of [
      "ok default model_name gemini-embedding-exp-03-07 (retired): encode_documents raises ClientError 404 NOT_FOUND",
      "ok gemini-embedding-001 without config: .dim raises KeyError('dim') (its table lacks the model)",
      "ok config=EmbedContentConfig(output_dimensionality=768), http_options as a kwarg: dim 768, shape (768,)",
      "ok encode_queries([text]) equals encode_documents([text]): no query/document task type is sent",
      "ok 101 texts: ClientError 400 'at most 100 requests can be in one batch' (the class does not split)",
    ]) {
      expect(result.stdout).toContain(line);
    }
    expect(result.checks).toBe(9);
    expectLocalVectors(result.vectors);
    // Every construction of the class runs `pip install -q google-genai>=1.7.0` (see the docs).
    expect(result.stdout.split(PIP_LINE).length - 1).toBe(4);
  }, 180_000);
});
