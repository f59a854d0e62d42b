/**
 * Ctrl-C and concurrent runs of the real `gembed ingest` (spawned, against `gembed serve`'s
 * `startServer` on 127.0.0.1:0 with latency so the signal lands mid-run): nothing paid for is
 * lost, and two writers of one file never lose each other's rows.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { EmbeddingRow } from "@gembed/ingest";
import { type RunningServer, startServer } from "@gembed/server";
import { BatchJob, GeminiClient } from "gembed";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanEnvironment, runCli, spawnCli } from "./cli-run.js";

let folder: string;
const servers: RunningServer[] = [];

beforeEach(async () => {
  folder = await mkdtemp(path.join(tmpdir(), "gembed-interrupt-"));
});
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  await rm(folder, { recursive: true, force: true });
});

async function serve(options: Parameters<typeof startServer>[0]): Promise<RunningServer> {
  const server = await startServer(options);
  servers.push(server);
  return server;
}

function environment(server: RunningServer): NodeJS.ProcessEnv {
  return cleanEnvironment({ GOOGLE_GEMINI_BASE_URL: server.url, GEMINI_API_KEY: "interrupt-key" });
}

/** A JSONL file of `count` short documents with ids `<prefix>-<n>`. */
async function corpus(name: string, count: number, prefix = "doc"): Promise<string> {
  const lines = Array.from({ length: count }, (_, index) =>
    JSON.stringify({
      id: `${prefix}-${index}`,
      text: `${prefix} ${index} is about topic ${index % 13}.`,
    }),
  );
  await writeFile(path.join(folder, name), `${lines.join("\n")}\n`);
  return name;
}

async function rows(file: string): Promise<EmbeddingRow[]> {
  return (JSON.parse(await readFile(path.join(folder, file), "utf8")) as { rows: EmbeddingRow[] })
    .rows;
}

/** Resolves once `check` holds (polled); the run it watches has a latency that makes room. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 10));
}

const exists = (file: string) =>
  stat(path.join(folder, file)).then(
    () => true,
    () => false,
  );

describe("Ctrl-C during gembed ingest", () => {
  it("writes every vector it received, exits 130, says how to resume; the rerun embeds only the rest", async () => {
    // One call at a time, each slow: when the server has answered two calls, the first answer
    // has surely reached the CLI (the second call was sent after it), and the rest is not done.
    const server = await serve({ faults: { latencyMs: 150 } });
    const env = environment(server);
    const input = await corpus("docs.jsonl", 1000);
    const args = [
      "ingest",
      input,
      "--dim",
      "128",
      "--concurrency",
      "1",
      "--batch-size",
      "1000",
      "--no-progress",
    ];
    const run = spawnCli(args, { cwd: folder, env });
    await until(() => server.stats().texts >= 200);
    run.child.kill("SIGINT");
    const interrupted = await run.done;
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).not.toContain("AbortError");
    const written = (await rows("gembed.json")).length;
    // Every answered call was written, though the step of 1,000 chunks did not finish.
    expect(written).toBeGreaterThanOrEqual(100);
    expect(written).toBeLessThan(1000);
    expect(interrupted.stderr).toContain(`interrupted: ${written} row(s) written to`);
    // A streamed ingest does not know its chunk total up front: "the missing chunk(s)".
    expect(interrupted.stderr).toContain(
      "Run the same command again to embed only the missing chunk(s)",
    );

    // The call cut short by Ctrl-C may still be counted by the first server: count the rerun on
    // a second one (the local model is deterministic, so its vectors are the same).
    const second = await serve({});
    const rerun = await runCli(args, { cwd: folder, env: environment(second) });
    expect(rerun.code).toBe(0);
    // Nothing paid for twice: the rerun embeds exactly the texts the first run did not write.
    expect(second.stats().texts).toBe(1000 - written);
    expect(await rows("gembed.json")).toHaveLength(1000);
  });

  it("--batch detaches: the job runs on, the state file keeps it, the rerun collects it without a new job", async () => {
    const server = await serve({ batch: { delayPerItemMs: 20 } });
    const env = environment(server);
    const input = await corpus("docs.jsonl", 100);
    const args = [
      "ingest",
      input,
      "--dim",
      "128",
      "--batch",
      "--poll-interval",
      "20",
      "--max-poll-interval",
      "50",
      "--no-progress",
    ];
    const run = spawnCli(args, { cwd: folder, env });
    await until(() => (server.stats().byEndpoint["batches.get"] ?? 0) >= 1);
    run.child.kill("SIGINT");
    const interrupted = await run.done;
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toMatch(
      /Batch job\(s\) batches\/\S+ keep running \(not cancelled\)/,
    );
    expect(interrupted.stderr).toContain("gembed.batch-state.json keeps them");
    expect(interrupted.stderr).not.toContain("AbortError");
    expect(server.stats().byEndpoint["batches.cancel"] ?? 0).toBe(0);
    expect(await exists("gembed.batch-state.json")).toBe(true);

    const rerun = await runCli(args, { cwd: folder, env });
    expect(rerun.code).toBe(0);
    expect(server.stats().batchesCreated).toBe(1);
    // The job's 100 items, and nothing embedded a second time.
    expect(server.stats().texts).toBe(100);
    expect(await rows("gembed.json")).toHaveLength(100);
    expect(await exists("gembed.batch-state.json")).toBe(false);
  });
});

describe("Ctrl-C during gembed batch wait", () => {
  it("detaches with a line that names the job and how to go on", async () => {
    const server = await serve({ batch: { delayPerItemMs: 50 } });
    const client = new GeminiClient({ baseUrl: server.url, apiKey: "interrupt-key" });
    const model = "models/gemini-embedding-001";
    const job = await BatchJob.create(client, {
      model,
      requests: Array.from({ length: 100 }, (_, index) => ({
        model,
        content: { parts: [{ text: `text ${index}` }] },
      })),
    });
    const run = spawnCli(
      [
        "batch",
        "wait",
        job.name,
        "--poll-interval",
        "20",
        "--max-poll-interval",
        "50",
        "--base-url",
        server.url,
      ],
      { cwd: folder, env: environment(server) },
    );
    await until(() => (server.stats().byEndpoint["batches.get"] ?? 0) >= 2);
    run.child.kill("SIGINT");
    const result = await run.done;
    expect(result.code).toBe(130);
    expect(result.stderr).toContain(`interrupted: job ${job.name} keeps running (not cancelled)`);
    expect(result.stderr).toContain(`gembed batch cancel ${job.name}`);
    expect(result.stderr).not.toContain("AbortError");
    expect(server.stats().byEndpoint["batches.cancel"] ?? 0).toBe(0);
  });
});

describe("two gembed ingest runs at once", () => {
  it("the second run on one rows file is refused naming the file and the first run's pid; no row is lost", async () => {
    const server = await serve({ faults: { latencyMs: 100 } });
    const env = environment(server);
    const first = await corpus("a.jsonl", 400, "a");
    const second = await corpus("b.jsonl", 400, "b");
    const flags = ["--dim", "128", "--concurrency", "1", "--out", "rows.json", "--no-progress"];
    const running = spawnCli(["ingest", first, ...flags], { cwd: folder, env });
    await until(() => server.stats().requests >= 1);
    // The first run holds the lock (it takes it before its first call): keep it there while the
    // second one starts, whatever the machine's speed.
    running.child.kill("SIGSTOP");
    const refused = await runCli(["ingest", second, ...flags], { cwd: folder, env });
    running.child.kill("SIGCONT");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `gembed: FileLockedError: the rows file ${path.join(folder, "rows.json")}`,
    );
    expect(refused.stderr).toContain(`pid ${running.child.pid}`);
    expect((await running.done).code).toBe(0);
    // The refused run starts again once the first is done: both runs' rows are there.
    expect((await runCli(["ingest", second, ...flags], { cwd: folder, env })).code).toBe(0);
    const ids = new Set((await rows("rows.json")).map((row) => row.id));
    expect(ids.size).toBe(800);
    expect(await exists("rows.json.lock")).toBe(false);
  });

  it("a second --batch run on one state file is refused before creating a job", async () => {
    const server = await serve({ batch: { delayPerItemMs: 10 } });
    const env = environment(server);
    const input = await corpus("docs.jsonl", 100);
    const flags = [
      "--dim",
      "128",
      "--batch",
      "--batch-state",
      "shared.json",
      "--poll-interval",
      "20",
      "--max-poll-interval",
      "50",
      "--no-progress",
    ];
    const running = spawnCli(["ingest", input, "--out", "a.json", ...flags], { cwd: folder, env });
    await until(() => server.stats().batchesCreated >= 1);
    running.child.kill("SIGSTOP");
    const refused = await runCli(["ingest", input, "--out", "b.json", ...flags], {
      cwd: folder,
      env,
    });
    running.child.kill("SIGCONT");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`the batch state file ${path.join(folder, "shared.json")}`);
    expect(refused.stderr).toContain(`pid ${running.child.pid}`);
    expect((await running.done).code).toBe(0);
    expect(server.stats().batchesCreated).toBe(1);
    expect(await rows("a.json")).toHaveLength(100);
  });
});
