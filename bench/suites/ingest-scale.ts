/**
 * `npm run bench -- ingest-scale`: `gembed ingest` at any size, as a child process (its own peak
 * RSS, from `process.resourceUsage().maxRSS` printed at exit), against `gembed serve` started as
 * a user starts it (its own process, in a session of its own, as from another terminal), 128
 * dims, on generated corpora (many Markdown files, two large ones split as read, and one large
 * JSONL):
 * - to bulk-import files (local parts): peak RSS, MB/s and chunks/s, next to what the server
 *   sustains alone (a child streaming texts through `encodeStream`, no I/O while timed), three
 *   ways: with the ingest's own requests (its chunks' texts and titles read back from its output:
 *   the figure the goal is read against, in texts per second, since session 6), with texts like
 *   the chunks (as many, of their average size: sessions 4-5's figure) and with 8 KB texts (a
 *   full 2048-token chunk, earlier sessions' figure);
 * - into Milvus Lite (first size only, `--milvus <folder>` as a user runs it): peak RSS of the
 *   ingest and of Milvus Lite, rows/s, and an unchanged rerun;
 * - kill -9 at a random point of a run (the 1 GB one when selected, else the largest), then a
 *   rerun: rows lost (must be 0) and texts paid twice.
 *
 *
 * Why a server of its own session: Linux (with `sched_autogroup_enabled`, the default of desktop
 * and server kernels alike) shares the cores between sessions first, then between the threads of
 * each. Sessions 1-5 of this bench ran the server in this process, the session of the ingest it
 * started: the server's one thread then competed with every thread of the ingest (its main
 * thread, V8's collector helpers, libuv's) instead of taking its half of the 2 cores, and the
 * 200 MB ingest took 5.8-6.0 s instead of 5.4 s (session 6, three runs each). The first size also
 * runs once against a server in this process, for comparison with those sessions' figures.
 *
 * Sizes: GEMBED_BENCH_SIZES, e.g. `200MB,1GB,2GB` (default `200MB`: the machine is shared).
 * GEMBED_BENCH_MILVUS=0 leaves out Milvus Lite; GEMBED_BENCH_KILL=0 the kill -9 run.
 */
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type RunningServer, startServer } from "@gembed/server";
import { streamOutputRows } from "../../packages/ingest/src/row-parts.js";
import { STEP_TEXTS } from "../../packages/ingest/src/stream-pipeline.js";
import { backpressureWriter } from "../../packages/ingest/src/stream-writer.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const DIM = 128;
const MB = 1024 * 1024;

function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(MB|GB)$/i.exec(text.trim());
  if (!match)
    throw new Error(`GEMBED_BENCH_SIZES: cannot read ${JSON.stringify(text)} (e.g. 200MB,1GB)`);
  return Math.round(Number(match[1]) * (match[2]!.toUpperCase() === "GB" ? 1024 : 1) * MB);
}

/** Prose that differs from row to row (different content hashes), from a fixed vocabulary. */
function prose(seed: number, bytes: number): string {
  const words = [
    "milvus",
    "vector",
    "gemini",
    "search",
    "index",
    "chunk",
    "stream",
    "rows",
    "of",
    "the",
  ];
  const parts: string[] = [`Document ${seed}.`];
  let length = parts[0]!.length;
  for (let index = 0; length < bytes; index++) {
    const word =
      index % 11 === 10 ? `${words[(seed + index) % 10]}.` : words[(seed * 7 + index * 3) % 10]!;
    const piece = index % 97 === 96 ? `${word}\n\n` : word;
    parts.push(piece);
    length += piece.length + 1;
  }
  return parts.join(" ");
}

async function writeStream(
  file: string,
  produce: (write: (text: string) => Promise<void>) => Promise<void>,
) {
  const output = createWriteStream(file);
  const writer = backpressureWriter(output);
  await produce(writer.write);
  await writer.end();
}

/**
 * A corpus of `bytes`: 40% in 64 KB Markdown files, 10% in two large Markdown files (split as
 * they are read), 50% in one JSONL of 4 KB rows.
 */
export async function makeCorpus(folder: string, bytes: number): Promise<void> {
  const docs = path.join(folder, "docs");
  await mkdir(docs, { recursive: true });
  const smallBytes = 64 * 1024;
  const files = Math.round((bytes * 0.4) / smallBytes);
  for (let index = 0; index < files; index++) {
    const sub = path.join(docs, `part-${Math.floor(index / 500)}`);
    if (index % 500 === 0) await mkdir(sub, { recursive: true });
    await writeFile(
      path.join(sub, `doc-${index}.md`),
      `# Document ${index}\n\n${prose(index, smallBytes)}`,
    );
  }
  for (let index = 0; index < 2; index++) {
    await writeStream(path.join(docs, `large-${index}.md`), async (write) => {
      await write(`# Large ${index}\n\n`);
      for (let block = 0; block < (bytes * 0.05) / MB; block++)
        await write(prose(block * 10 + index, MB));
    });
  }
  await writeStream(path.join(folder, "rows.jsonl"), async (write) => {
    const rows = Math.round((bytes * 0.5) / 4096);
    for (let index = 0; index < rows; index++)
      await write(
        `${JSON.stringify({ id: `row-${index}`, text: prose(index, 4000), metadata: { n: index % 10 } })}\n`,
      );
  });
}

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  seconds: number;
  maxRssMb: number | undefined;
}

/**
 * `gembed serve` as a user starts it: its own process, in a session of its own (`detached`), on a
 * free port, with a data folder under `folder`. Texts served are read from its `/metrics`.
 */
async function startServeProcess(
  cli: string,
  folder: string,
  apiKey: string,
): Promise<{ url: string; texts(): Promise<number>; close(): Promise<void> }> {
  const dataDir = path.join(folder, "serve-data");
  const child = spawn(
    process.execPath,
    [
      cli,
      "serve",
      "--port",
      "0",
      "--api-key",
      apiKey,
      "--data-dir",
      dataDir,
      "--log-level",
      "warn",
    ],
    { detached: true, stdio: ["ignore", "pipe", "inherit"] },
  );
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (part: string) => {
      output += part;
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`gembed serve exited (code ${code}): ${output}`)));
  });
  return {
    url,
    async texts() {
      const response = await fetch(`${url}/metrics`, { headers: { "x-goog-api-key": apiKey } });
      const text = await response.text();
      let total = 0;
      for (const match of text.matchAll(/^gembed_server_texts_total\{[^}]*\} (\d+)$/gm))
        total += Number(match[1]);
      return total;
    },
    async close() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

function runChild(
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; killAfterMs?: number },
): Promise<ChildResult> {
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (part: string) => {
    stdout += part;
  });
  child.stderr.setEncoding("utf8").on("data", (part: string) => {
    stderr += part;
  });
  const timer =
    options.killAfterMs === undefined
      ? undefined
      : setTimeout(() => child.kill("SIGKILL"), options.killAfterMs);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      const rss = /GEMBED_MAX_RSS_KB=(\d+)/.exec(stderr);
      resolve({
        code,
        signal,
        stdout,
        stderr,
        seconds: (performance.now() - started) / 1000,
        maxRssMb: rss ? Number(rss[1]) / 1024 : undefined,
      });
    });
  });
}

/**
 * Peak RSS (VmHWM) of the Milvus Lite serving `dataDir`, sampled every second from /proc (Linux;
 * `undefined` elsewhere or when it was never seen), until `stop()`.
 */
function sampleLiteRss(dataDir: string): { stop(): number | undefined } {
  let peakKb: number | undefined;
  let pid: string | undefined;
  const sample = () => {
    try {
      if (pid === undefined) {
        for (const entry of readdirSync("/proc")) {
          if (!/^\d+$/.test(entry)) continue;
          const command = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
          if (command.some((part) => part.endsWith("milvus-lite")) && command.includes(dataDir)) {
            pid = entry;
            break;
          }
        }
      }
      if (pid === undefined) return;
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const peak = /VmHWM:\s+(\d+)/.exec(status);
      if (peak) peakKb = Math.max(peakKb ?? 0, Number(peak[1]));
    } catch {
      pid = undefined; // gone (or not Linux): looked for again at the next sample
    }
  };
  const timer = setInterval(sample, 1000);
  return {
    stop() {
      clearInterval(timer);
      return peakKb === undefined ? undefined : peakKb / 1024;
    },
  };
}

export default async function (): Promise<void> {
  const sizes = (process.env.GEMBED_BENCH_SIZES ?? "200MB").split(",").map((size) => size.trim());
  const folder = await mkdtemp(path.join(tmpdir(), "gembed-bench-scale-"));
  // The command as npm links it: its bin, which runs the bundle (scripts/bundle-cli.mjs).
  const cli = path.join(root, "packages/cli/bin/gembed.js");
  await stat(path.join(root, "packages/cli/dist/gembed.mjs")).catch(() => {
    throw new Error(
      "packages/cli/dist/gembed.mjs is missing: run through `npm run bench` (it builds first)",
    );
  });
  const server = await startServeProcess(cli, folder, "bench-key");
  const preload = path.join(root, "bench/support/report-rss.mjs");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GOOGLE_GEMINI_BASE_URL: server.url,
    GEMINI_API_KEY: "bench-key",
    NO_COLOR: "1",
  };
  delete env.GOOGLE_API_KEY;
  const ingestArgs = (extra: string[]) => [
    "--import",
    preload,
    cli,
    "ingest",
    "docs",
    "rows.jsonl",
    "--dim",
    String(DIM),
    "--json",
    "--no-progress",
    ...extra,
  ];
  /** A serve-alone child (bench/support/<script>) run 3 times: the JSON line of each. */
  const threeRuns = async (script: string, args: string[]) => {
    const runs: { texts: number; bytes: number; seconds: number }[] = [];
    for (let run = 0; run < 3; run++) {
      const alone = await runChild(
        ["--import", "tsx", path.join(root, "bench/support", script), ...args],
        { cwd: root, env },
      );
      runs.push(JSON.parse(alone.stdout) as { texts: number; bytes: number; seconds: number });
    }
    return runs;
  };
  const medianOfThree = (values: number[]) => [...values].sort((left, right) => left - right)[1]!;
  const summaryOf = (result: ChildResult) => {
    const line = result.stdout.trim().split("\n").at(-1) ?? "";
    try {
      return JSON.parse(line) as {
        documents: number;
        chunks: number;
        unchanged: number;
        embedded: number;
        written: number;
      };
    } catch {
      throw new Error(
        `ingest gave no summary (code ${result.code}): ${result.stderr.slice(-2000)}`,
      );
    }
  };
  try {
    // What the server sustains alone, with chunk-sized texts (8 KB, the default 2048-token chunk).
    const baseline = await runChild(
      [
        "--import",
        "tsx",
        path.join(root, "bench/support/serve-baseline-child.ts"),
        server.url,
        "20000",
        String(DIM),
        "8000",
      ],
      { cwd: root, env },
    );
    const serve = JSON.parse(baseline.stdout) as { texts: number; bytes: number; seconds: number };
    const serveMbPerSecond = serve.bytes / MB / serve.seconds;
    console.log(
      `gembed serve alone: ${serve.texts} texts of 8 KB in ${serve.seconds.toFixed(1)} s = ${(serve.texts / serve.seconds).toFixed(0)} texts/s, ${serveMbPerSecond.toFixed(1)} MB/s`,
    );
    // The server alone again, with texts like the ingest's chunks: as many (up to 50,000) and of
    // their average size (bytes / chunks of the first run). The server's cost is mostly per text,
    // so 8 KB texts flatter it next to a corpus whose chunks average 5 KB; measured after the first
    // run (it needs the chunk count), once: every size has the same mix.
    let sameTexts: { mbPerSecond: number; size: number } | undefined;
    // The goal's figure: the server alone with the ingest's own requests (its chunks' texts and
    // titles, read back from the first run's output, up to 50,000), in texts per second. The
    // texts above cost the server 6-10% less (no titles, no line breaks: see
    // serve-replay-child.ts); every size has the same mix, so the first size's serves them all.
    let ownTexts: { textsPerSecond: number; texts: number } | undefined;
    const largest = sizes.includes("1GB") ? "1GB" : sizes.at(-1)!;
    for (const [position, size] of sizes.entries()) {
      const bytes = parseSize(size);
      const corpus = path.join(folder, `corpus-${size}`);
      let started = performance.now();
      await makeCorpus(corpus, bytes);
      // The corpus just written is on its way to the disk: the kernel's writeback of it would run
      // during the first ingest (up to 10% of its time in session 4), which a user's corpus,
      // written long before, never costs. `sync` waits for it (Linux, macOS; skipped elsewhere).
      spawnSync("sync", { stdio: "ignore" });
      console.log(
        `\n[${size}] corpus generated in ${((performance.now() - started) / 1000).toFixed(0)} s`,
      );
      const out = path.join(corpus, "out", "rows.json");
      const textsBefore = await server.texts();
      const first = await runChild(ingestArgs(["--out", out]), { cwd: corpus, env });
      const paidFirst = (await server.texts()) - textsBefore;
      const summary = summaryOf(first);
      const mbPerSecond = bytes / MB / first.seconds;
      let parts = 0;
      for (let number = 1; ; number++) {
        const exists = await stat(
          number === 1 ? out : out.replace(/\.json$/, `-${number}.json`),
        ).then(
          () => true,
          () => false,
        );
        if (!exists) break;
        parts = number;
      }
      if (sameTexts === undefined) {
        // Three runs, the median taken: one run of ~5 s varied by up to 20% from one bench to
        // the next (37.9 to 46.3 MB/s on the same machine), which is the ratio's noise.
        const textSize = Math.round(bytes / summary.chunks);
        const count = Math.min(summary.chunks, 50_000);
        const runs = (
          await threeRuns("serve-baseline-child.ts", [
            server.url,
            String(count),
            String(DIM),
            String(textSize),
          ])
        ).map((measured) => measured.bytes / MB / measured.seconds);
        const median = medianOfThree(runs);
        sameTexts = { mbPerSecond: median, size: textSize };
        console.log(
          `gembed serve alone, texts like the chunks: ${count} texts of ${textSize} bytes, 3 runs: ${runs.map((rate) => rate.toFixed(1)).join(", ")} MB/s, median ${median.toFixed(1)} MB/s; load ${loadavg()[0]!.toFixed(1)}`,
        );
      }
      if (ownTexts === undefined) {
        const count = Math.min(summary.chunks, 50_000);
        const runs = await threeRuns("serve-replay-child.ts", [
          server.url,
          out,
          String(count),
          String(DIM),
        ]);
        const median = medianOfThree(runs.map((run) => run.texts / run.seconds));
        ownTexts = { textsPerSecond: median, texts: runs[0]!.texts };
        console.log(
          `gembed serve alone, the ingest's own requests: ${ownTexts.texts} texts with their titles, 3 runs: ${runs.map((run) => run.seconds.toFixed(2)).join(", ")} s, median ${median.toFixed(0)} texts/s; load ${loadavg()[0]!.toFixed(1)}`,
        );
      }
      const chunksPerSecond = summary.chunks / first.seconds;
      console.log(
        `[${size}] to bulk-import files: ${summary.documents} documents, ${summary.chunks} chunks, ${summary.written} rows in ${parts} part(s), ${first.seconds.toFixed(1)} s = ${mbPerSecond.toFixed(1)} MB/s, ${chunksPerSecond.toFixed(0)} chunks/s: **${((chunksPerSecond / ownTexts.textsPerSecond) * 100).toFixed(0)}% of serve alone with the ingest's own requests** (${((mbPerSecond / sameTexts.mbPerSecond) * 100).toFixed(0)}% with texts like the chunks, ${((mbPerSecond / serveMbPerSecond) * 100).toFixed(0)}% with 8 KB texts); peak RSS ${first.maxRssMb?.toFixed(0)} MB; server texts ${paidFirst}; load ${loadavg()[0]!.toFixed(1)}`,
      );
      if (position === 0) {
        // For comparison with sessions 1-5's figures: the same ingest against a server in this
        // process, which shares the ingest's session (see the module comment).
        const inProcess: RunningServer = await startServer();
        try {
          const inProcessOut = path.join(corpus, "in-process", "rows.json");
          const against = await runChild(ingestArgs(["--out", inProcessOut]), {
            cwd: corpus,
            env: { ...env, GOOGLE_GEMINI_BASE_URL: inProcess.url },
          });
          summaryOf(against);
          const rate = bytes / MB / against.seconds;
          console.log(
            `[${size}] the same against a server in the bench's process (sessions 1-5's setup): ${against.seconds.toFixed(1)} s = ${rate.toFixed(1)} MB/s (${((summary.chunks / against.seconds / ownTexts.textsPerSecond) * 100).toFixed(0)}% of serve alone with the ingest's own requests, ${((rate / sameTexts.mbPerSecond) * 100).toFixed(0)}% with texts like the chunks)`,
          );
          await rm(path.dirname(inProcessOut), { recursive: true, force: true });
        } finally {
          await inProcess.close();
        }
      }
      const rerun = await runChild(ingestArgs(["--out", out]), { cwd: corpus, env });
      const again = summaryOf(rerun);
      console.log(
        `[${size}] unchanged rerun: ${again.unchanged} unchanged, ${again.embedded} embedded, ${again.written} written in ${rerun.seconds.toFixed(1)} s (${((rerun.seconds / first.seconds) * 100).toFixed(0)}% of the first run); peak RSS ${rerun.maxRssMb?.toFixed(0)} MB`,
      );

      if (position === 0 && process.env.GEMBED_BENCH_MILVUS !== "0") {
        // As a user runs it: `--milvus <folder>`, the CLI starts Milvus Lite for the folder (and
        // gives its client Milvus Lite's per-call timeout). Milvus Lite's own peak RSS is read
        // from /proc while the ingest runs.
        const dataDir = path.join(corpus, "milvus.db");
        const milvusArgs = ingestArgs(["--milvus", dataDir, "--collection", "bench_scale"]);
        const liteRss = sampleLiteRss(dataDir);
        const into = await runChild(milvusArgs, { cwd: corpus, env });
        const intoLiteMb = liteRss.stop();
        const milvusSummary = summaryOf(into);
        console.log(
          `[${size}] into Milvus Lite: ${milvusSummary.written} rows in ${into.seconds.toFixed(1)} s = ${(milvusSummary.written / into.seconds).toFixed(0)} rows/s; peak RSS of the ingest ${into.maxRssMb?.toFixed(0)} MB, of Milvus Lite ${intoLiteMb?.toFixed(0)} MB; load ${loadavg()[0]!.toFixed(1)}`,
        );
        const textsRerun = await server.texts();
        const rerunRss = sampleLiteRss(dataDir);
        const milvusRerun = await runChild(milvusArgs, { cwd: corpus, env });
        const rerunLiteMb = rerunRss.stop();
        const rerunSummary = summaryOf(milvusRerun);
        console.log(
          `[${size}] Milvus Lite rerun: ${rerunSummary.unchanged} unchanged, ${rerunSummary.embedded} embedded (server texts ${(await server.texts()) - textsRerun}), ${rerunSummary.written} written in ${milvusRerun.seconds.toFixed(1)} s (${((milvusRerun.seconds / into.seconds) * 100).toFixed(0)}% of the first run); peak RSS ${milvusRerun.maxRssMb?.toFixed(0)} MB, of Milvus Lite ${rerunLiteMb?.toFixed(0)} MB; load ${loadavg()[0]!.toFixed(1)}`,
        );
      }

      if (size === largest && process.env.GEMBED_BENCH_KILL !== "0") {
        const killedOut = path.join(corpus, "killed", "rows.json");
        // A random point between 15% and 85% of the first run's time (GEMBED_BENCH_KILL_AT, in
        // seconds, sets it: on a loaded machine the first run's time says little of the next).
        const at =
          process.env.GEMBED_BENCH_KILL_AT !== undefined
            ? Number(process.env.GEMBED_BENCH_KILL_AT) * 1000
            : first.seconds * (0.15 + Math.random() * 0.7) * 1000;
        const paidBefore = await server.texts();
        const killed = await runChild(ingestArgs(["--out", killedOut]), {
          cwd: corpus,
          env,
          killAfterMs: at,
        });
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const paidKilled = (await server.texts()) - paidBefore;
        const resumed = await runChild(ingestArgs(["--out", killedOut]), { cwd: corpus, env });
        const resumedSummary = summaryOf(resumed);
        const paid = (await server.texts()) - paidBefore;
        const ids = new Set<string>();
        let rows = 0;
        for await (const row of streamOutputRows(killedOut)) {
          ids.add(row.id);
          rows++;
        }
        console.log(
          `[${size}] kill -9 at ${(at / 1000).toFixed(1)} s (${killed.signal}): ${paidKilled} texts paid before the kill, ${resumedSummary.unchanged} rows kept; rerun embedded ${resumedSummary.embedded}; rows in the output ${rows} (${ids.size} ids) of ${summary.chunks}: ${summary.chunks - ids.size} lost; ${paid - summary.chunks} texts paid twice (a step is ${STEP_TEXTS} texts)`,
        );
        await rm(path.dirname(killedOut), { recursive: true, force: true });
      }
      started = performance.now();
      await rm(corpus, { recursive: true, force: true });
    }
  } finally {
    await server.close();
    await rm(folder, { recursive: true, force: true });
  }
}
