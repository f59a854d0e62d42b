/**
 * `gembed batch`: Batch API jobs from the command line: `submit <input>`, `status <job>`,
 * `wait <job>`, `collect <job> [--out <file>]`, `cancel <job>`, `delete <job>`, `list`. A progress display while
 * waiting (a bar on a terminal, plain lines otherwise) and `--json` for scripts.
 *
 * @module
 */

import { once } from "node:events";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { SourceError } from "@gembed/ingest";
import cliProgress from "cli-progress";
import { type Command, InvalidArgumentError, Option } from "commander";
import {
  type BatchApiClient,
  BatchJob,
  type BatchProgress,
  GembedError,
  GeminiClient,
  GeminiEmbeddingFunction,
  InvalidInputError,
  TASK_TYPES,
  type TaskType,
} from "gembed";
import { type EmbeddingRequests, parseBatchStats, requestsOf } from "gembed/internal";
import { lockFile, writeFileAtomic } from "gembed/node";
import {
  baseUrlOption,
  checkLocalServerKey,
  interruptSignal,
  modelOption,
  withFlagNames,
} from "../embedding-options.js";
import { InterruptedError, OutputWriteError, UsageError } from "../errors.js";
import { checkOutputFile } from "../output-file.js";
import { textLines } from "../text-lines.js";

/** One row of a `gembed batch submit` input. */
export interface BatchInputRow {
  /** The key of the row in the job; default its 0-based line number among texts. */
  id?: string | undefined;
  text: string;
  title?: string | undefined;
}

interface CommonOptions {
  baseUrl?: string | undefined;
  json?: boolean | undefined;
}

function integer(name: string, minimum: number) {
  return (value: string): number => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < minimum) {
      throw new InvalidArgumentError(`${name} must be an integer >= ${minimum}`);
    }
    return number;
  };
}

/**
 * The task type of `--task`, or of its old name `--task-type` (both given and different is a
 * usage error); RETRIEVAL_DOCUMENT when neither is given.
 */
export function taskOption(options: {
  task?: TaskType | undefined;
  taskType?: TaskType | undefined;
}): TaskType {
  if (
    options.task !== undefined &&
    options.taskType !== undefined &&
    options.task !== options.taskType
  ) {
    throw new UsageError(
      `--task ${options.task} and --task-type ${options.taskType} disagree; give --task only`,
    );
  }
  return options.task ?? options.taskType ?? "RETRIEVAL_DOCUMENT";
}

/**
 * A job name as typed: `batches/ID` or `ID`, the id of letters, digits, `-` and `_` (what the
 * Batch API and the local server give). Anything else (`../../etc`, `batches/a/b`) is a usage
 * error naming the value, before any request.
 */
export function jobName(name: string): string {
  if (!/^(batches\/)?[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name)) {
    throw new UsageError(
      `a job name is "batches/ID" or "ID" (letters, digits, - and _), got ${JSON.stringify(name)}`,
    );
  }
  return name;
}

function clientFrom(options: CommonOptions): GeminiClient {
  checkLocalServerKey(options.baseUrl);
  return new GeminiClient(options.baseUrl ? { baseUrl: options.baseUrl } : {});
}

/** Why a JSONL value is not a usable `text`, or undefined when it is one. */
function textProblem(text: unknown): string | undefined {
  if (text === undefined) return '"text" is missing';
  if (typeof text !== "string")
    return `"text" must be a string, got ${text === null ? "null" : Array.isArray(text) ? "an array" : typeof text}`;
  if (text.trim() === "") return '"text" is empty or whitespace-only';
  return undefined;
}

/**
 * Reads a batch input file: JSONL rows `{"id"?, "text", "title"?}` (`.jsonl`, `.ndjson`, `.json`),
 * else one text per line (blank lines skipped). Throws `InvalidInputError` naming every bad line
 * (`#<line number>`: what is wrong, including a repeated id), and `SourceError` for a missing or
 * empty file.
 */
async function readBatchInput(path: string): Promise<BatchInputRow[]> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new SourceError([{ source: path, reason: "no such file" }]);
  if (!info.isFile()) throw new SourceError([{ source: path, reason: "not a file" }]);
  const jsonl = /\.(jsonl|ndjson|json)$/i.test(path);
  const rows: BatchInputRow[] = [];
  const issues: { index: number; reason: string }[] = [];
  /** The line of each key (an id, else the row's 0-based number among texts). */
  const keyLines = new Map<string, number>();
  let lineNumber = 0;
  for await (const { number, text: line, invalidByte } of textLines(createReadStream(path))) {
    lineNumber = number;
    if (line === undefined) {
      issues.push({
        index: lineNumber,
        reason: `not valid UTF-8 at byte ${invalidByte} of the line`,
      });
      continue;
    }
    if (line.trim() === "") continue;
    if (!jsonl) {
      rows.push({ text: line });
      continue;
    }
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      issues.push({ index: lineNumber, reason: "line is not JSON" });
      continue;
    }
    if (typeof row !== "object" || row === null || Array.isArray(row)) {
      issues.push({ index: lineNumber, reason: "line is not a JSON object" });
      continue;
    }
    const record = row as Record<string, unknown>;
    const problem = textProblem(record.text);
    if (problem !== undefined) {
      issues.push({ index: lineNumber, reason: problem });
      continue;
    }
    if (record.id !== undefined && typeof record.id !== "string" && typeof record.id !== "number") {
      issues.push({ index: lineNumber, reason: '"id" must be a string or a number' });
      continue;
    }
    if (record.title !== undefined && typeof record.title !== "string") {
      issues.push({ index: lineNumber, reason: '"title" must be a string' });
      continue;
    }
    const key = record.id !== undefined ? String(record.id) : String(rows.length);
    const first = keyLines.get(key);
    if (first !== undefined) {
      issues.push({ index: lineNumber, reason: `duplicate id "${key}" (first on line ${first})` });
      continue;
    }
    keyLines.set(key, lineNumber);
    rows.push({
      text: record.text as string,
      id: record.id !== undefined ? String(record.id) : undefined,
      title: typeof record.title === "string" ? record.title : undefined,
    });
  }
  if (issues.length > 0) throw new InvalidInputError(issues, `lines of ${path}`);
  if (rows.length === 0) {
    throw new SourceError([{ source: path, reason: "no text (the file is empty or blank)" }]);
  }
  return rows;
}

/** The job as `--json` prints it. */
function summary(job: BatchJob) {
  const batch = job.batch;
  const output = job.output;
  return {
    name: job.name,
    displayName: batch.displayName,
    model: batch.model,
    state: job.state,
    priority: batch.priority ?? "0",
    batchStats: job.batchStats,
    createTime: batch.createTime,
    updateTime: batch.updateTime,
    endTime: batch.endTime,
    // Printed with JSON.stringify, which leaves out a field that is undefined.
    responsesFile: output?.responsesFile || undefined,
    inlinedResponses: output?.inlinedResponses
      ? (output.inlinedResponses.inlinedResponses?.length ?? 0)
      : undefined,
    error: job.operation.error || undefined,
  };
}

/**
 * A state as gembed prints it: `SUCCEEDED`, not `BATCH_STATE_SUCCEEDED` (every printed line of
 * `status`, `wait`, `cancel`, `list` and the progress display; `--json` keeps the API's name).
 */
export function shortState(state: string): string {
  return state.replace(/^BATCH_STATE_/, "");
}

function printJob(job: BatchJob, json: boolean | undefined): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(summary(job))}\n`);
    return;
  }
  const stats = job.batchStats;
  const lines = [
    `${job.name}  ${shortState(job.state)}`,
    `  display name: ${job.batch.displayName ?? ""}`,
    `  requests: ${stats.requestCount}  succeeded: ${stats.successfulRequestCount}  failed: ${stats.failedRequestCount}  pending: ${stats.pendingRequestCount}`,
  ];
  if (job.output?.responsesFile) lines.push(`  responses file: ${job.output.responsesFile}`);
  process.stdout.write(`${lines.join("\n")}\n`);
}

/**
 * The client `batch submit` creates its job with, and what Ctrl-C (SIGINT, SIGTERM) does meanwhile:
 * during the input file's upload it stops the upload (no job can exist yet); once the creation
 * call is sent it is not cut, since the job may then exist on the server with its name known only
 * to the answer: the command waits for the answer, prints the name and exits 130. A second Ctrl-C
 * quits at once.
 */
function interruptibleSubmission(client: GeminiClient): {
  client: BatchApiClient;
  readonly interrupted: boolean;
  readonly uploadedFile: string | undefined;
  dispose(): void;
} {
  const upload = new AbortController();
  let interrupted = false;
  let creating = false;
  let uploadedFile: string | undefined;
  const onSignal = () => {
    if (interrupted) process.exit(EXIT_INTERRUPTED);
    interrupted = true;
    process.stderr.write(
      creating
        ? "gembed: interrupted while the job is being created; waiting for its name (Ctrl-C again to quit at once, without it)\n"
        : "gembed: interrupted, stopping before the job is created (Ctrl-C again to quit at once)\n",
    );
    if (!creating) upload.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const guarded: BatchApiClient = {
    batches: client.batches,
    files: {
      ...client.files,
      upload: async (source, params, options) => {
        const file = await client.files.upload(source, params, {
          ...options,
          signal: upload.signal,
        });
        uploadedFile = file.name;
        return file;
      },
    },
    asyncBatchEmbedContent: (model, batch, options) => {
      if (interrupted) return Promise.reject(upload.signal.reason);
      creating = true;
      return client.asyncBatchEmbedContent(model, batch, options);
    },
  };
  return {
    client: guarded,
    get interrupted() {
      return interrupted;
    },
    get uploadedFile() {
      return uploadedFile;
    },
    dispose() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

/** The exit code of a Ctrl-C (as `EXIT.interrupted` in run.ts). */
const EXIT_INTERRUPTED = 130;

/** A progress display on stderr: a bar on a terminal, a line per change otherwise. */
function progressDisplay(json: boolean | undefined) {
  const tty = process.stderr.isTTY === true && !json;
  let bar: cliProgress.SingleBar | undefined;
  let last = "";
  return {
    update(progress: BatchProgress) {
      const stats = progress.batchStats;
      const finished = stats.successfulRequestCount + stats.failedRequestCount;
      const state = shortState(progress.state);
      if (tty) {
        if (!bar) {
          bar = new cliProgress.SingleBar(
            {
              stream: process.stderr,
              format: "{job} [{bar}] {value}/{total} {state} {elapsed}s",
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(Math.max(1, stats.requestCount), finished, {
            job: progress.jobName,
            state,
            elapsed: 0,
          });
        }
        bar.setTotal(Math.max(1, stats.requestCount));
        bar.update(finished, { state, elapsed: Math.round(progress.elapsedMs / 1000) });
        return;
      }
      const line = `${progress.jobName} ${state} ${finished}/${stats.requestCount} (failed ${stats.failedRequestCount})`;
      if (line !== last) process.stderr.write(`${line}\n`);
      last = line;
    },
    stop() {
      bar?.stop();
    },
  };
}

/**
 * Writes a job's results as JSONL `{"id", "embedding"}` / `{"id", "error"}`, streaming: to `out`
 * (atomically), or to standard output when `out` is undefined.
 */
async function collect(
  job: BatchJob,
  out: string | undefined,
  options: { normalize: boolean; signal?: AbortSignal },
): Promise<{ written: number; failed: number }> {
  const model = job.batch.model ?? "models/gemini-embedding-001";
  // The vectors of `gembed embed`: the embedding function's own check and normalization.
  let embedder: EmbeddingRequests | undefined;
  let written = 0;
  let failed = 0;
  async function* lines(): AsyncGenerator<string> {
    for await (const result of job.results(options.signal ? { signal: options.signal } : {})) {
      written++;
      if (result.values) {
        embedder ??= requestsOf(
          new GeminiEmbeddingFunction({
            client: job.client as GeminiClient,
            modelName: model,
            config: { outputDimensionality: result.values.length },
            normalize: options.normalize,
          }),
        );
        const vector = embedder.toVector(result.values);
        yield `{"id":${JSON.stringify(result.key)},"embedding":[${vector.join(",")}]}\n`;
      } else {
        failed++;
        yield `${JSON.stringify({
          id: result.key,
          error: {
            code: result.error.code,
            status: result.error.status,
            message: result.error.message,
          },
        })}\n`;
      }
    }
  }
  if (out === undefined) {
    let printed = 0;
    try {
      // Waits for the pipe to drain: a slow reader (`| gzip`) never makes gembed buffer it all.
      // The wait ends at Ctrl-C too: a reader that stalls must not hold the interrupt back.
      for await (const line of lines()) {
        const flowing = process.stdout.write(line);
        printed++;
        if (!flowing) {
          await once(process.stdout, "drain", options.signal ? { signal: options.signal } : {});
        }
      }
    } catch (error) {
      if (options.signal?.aborted) {
        throw new InterruptedError(
          `interrupted: ${printed} result line(s) of ${job.name} sent to standard output before Ctrl-C. The results stay with the job: \`gembed batch collect ${job.name}\` writes them all again.`,
          { cause: error },
        );
      }
      throw error;
    }
  } else {
    // One writer per file, as for `ingest`: two collects into one file would share the
    // temporary `<out>.partial`, and one would end on a bare ENOENT.
    const lock = await lockFile(out, "the output file");
    try {
      await writeFileAtomic(out, lines(), { temporary: `${out}.partial` });
    } catch (error) {
      if (options.signal?.aborted) {
        throw new InterruptedError(
          `interrupted: ${out} was not written (an earlier file stays as it was). The results stay with the job: run the same command again.`,
          { cause: error },
        );
      }
      const code = (error as NodeJS.ErrnoException | undefined)?.code;
      if (typeof code !== "string" || error instanceof GembedError) throw error;
      throw new OutputWriteError(
        out,
        code,
        `${out} is left as it was; the results stay with the job: run the same command again`,
        error,
      );
    } finally {
      await lock.release();
    }
  }
  return { written, failed };
}

/** Each sub-command's help examples (the README promises examples in every `--help`). */
const EXAMPLES: Record<string, string[]> = {
  submit: [
    "gembed batch submit corpus.jsonl --dim 768      # rows {id?, text, title?}; prints the job name",
    "gembed batch submit queries.txt --task RETRIEVAL_QUERY --display-name nightly",
  ],
  status: ["gembed batch status batches/abc123", "gembed batch status batches/abc123 --json"],
  wait: [
    "gembed batch wait batches/abc123                  # Ctrl-C stops waiting, the job runs on",
    "gembed batch wait batches/abc123 --deadline 3600000 --json",
  ],
  collect: [
    "gembed batch collect batches/abc123 --out vectors.jsonl",
    "gembed batch collect batches/abc123 | head -n 3   # no --out: JSONL on standard output",
  ],
  cancel: ["gembed batch cancel batches/abc123"],
  delete: ["gembed batch delete batches/abc123            # after collect: removes the job"],
  list: ["gembed batch list --limit 20", "gembed batch list --json"],
};

function withExamples(command: Command): Command {
  const lines = EXAMPLES[command.name()];
  if (lines !== undefined) {
    command.addHelpText("after", `\nExamples:\n${lines.map((line) => `  $ ${line}`).join("\n")}`);
  }
  return command;
}

/**
 * Adds `gembed batch` and its sub-commands to the program.
 *
 * @example
 * ```ts
 * registerBatchCommand(program);
 * ```
 */
export function registerBatchCommand(program: Command): void {
  const batch = program
    .command("batch")
    .description(
      "embed large corpora through the Batch API (half the price): submit, status, wait, collect, cancel, delete, list",
    );
  batch.addHelpText(
    "after",
    `
Examples:
  $ job=$(gembed batch submit corpus.jsonl --dim 768)
  $ gembed batch wait "$job" && gembed batch collect "$job" --out vectors.jsonl
  $ gembed batch list

Run "gembed batch <command> --help" for each command's options and examples.`,
  );
  const common = (command: Command) =>
    withExamples(command)
      .option(
        "--base-url <url>",
        "API base URL (default: GOOGLE_GEMINI_BASE_URL, else Google's)",
        baseUrlOption,
      )
      .option("--json", "print JSON for scripts");

  common(
    batch
      .command("submit <input>")
      .description(
        "create a job from a JSONL file of {id?, text, title?} rows or a text file with one text per line",
      )
      .option("--model <model>", "embedding model", modelOption, "gemini-embedding-001")
      .option(
        "--dim <n>",
        "output dimensionality (128..3072); default the model's",
        integer("--dim", 1),
      )
      .addOption(
        new Option("--task <type>", "task type (default: RETRIEVAL_DOCUMENT)").choices([
          ...TASK_TYPES,
        ]),
      )
      // The name this option had: still taken, as `embed` takes it, and no longer shown.
      .addOption(new Option("--task-type <type>").choices([...TASK_TYPES]).hideHelp())
      .option("--display-name <name>", "the job's display name")
      .option(
        "--priority <n>",
        "priority (higher runs first)",
        integer("--priority", Number.MIN_SAFE_INTEGER),
      )
      .addOption(
        new Option("--input-mode <mode>", "inline requests or an uploaded JSONL file")
          .choices(["auto", "inline", "file"])
          .default("auto"),
      ),
  ).action(
    async (
      input: string,
      options: CommonOptions & {
        model: string;
        dim?: number | undefined;
        task?: TaskType | undefined;
        taskType?: TaskType | undefined;
        displayName?: string | undefined;
        priority?: number | undefined;
        inputMode: "auto" | "inline" | "file";
      },
    ) => {
      const taskType = taskOption(options);
      const rows = await readBatchInput(input);
      const client = clientFrom(options);
      const embedder = withFlagNames(
        () =>
          new GeminiEmbeddingFunction({
            client,
            modelName: options.model,
            config: options.dim !== undefined ? { outputDimensionality: options.dim } : {},
          }),
      );
      // The requests `gembed embed` sends, so a job's vectors equal the synchronous path's.
      const requests = rows.map((row) =>
        requestsOf(embedder).buildRequest(
          row.title !== undefined ? { text: row.text, title: row.title } : row.text,
          taskType,
        ),
      );
      const ids = rows.map((row, index) => row.id ?? String(index));
      if (new Set(ids).size !== ids.length) {
        throw new InvalidInputError([{ index: 0, reason: "ids must be unique" }], input);
      }
      const submission = interruptibleSubmission(client);
      let job: BatchJob;
      try {
        job = await BatchJob.create(submission.client, {
          model: options.model,
          requests,
          keys: ids,
          mode: options.inputMode,
          displayName: options.displayName,
          priority: options.priority,
        });
      } catch (error) {
        if (!submission.interrupted) throw error;
        // Stopped before the creation call: no job exists; an input file already uploaded is
        // deleted (best effort), as nothing will read it.
        const uploaded = submission.uploadedFile;
        if (uploaded !== undefined) await client.files.delete(uploaded).catch(() => undefined);
        throw new InterruptedError(
          "interrupted: no job was created, nothing is billed; run the same command again to submit.",
          { cause: error },
        );
      } finally {
        submission.dispose();
      }
      // The job's name always reaches standard output, Ctrl-C or not: it is the only handle on a
      // job that runs (and is billed) whatever happens here.
      if (options.json) printJob(job, true);
      else process.stdout.write(`${job.name}\n`);
      if (submission.interrupted) {
        throw new InterruptedError(
          `interrupted: job ${job.name} was created and keeps running. \`gembed batch status ${job.name}\` shows it, \`gembed batch cancel ${job.name}\` stops it.`,
        );
      }
    },
  );

  common(batch.command("status <job>").description("show a job's state and counts")).action(
    async (name: string, options: CommonOptions) => {
      printJob(await BatchJob.attach(clientFrom(options), jobName(name)), options.json);
    },
  );

  common(
    batch
      .command("wait <job>")
      .description("wait until a job ends, showing its progress")
      .option(
        "--poll-interval <ms>",
        "first wait between polls",
        integer("--poll-interval", 1),
        5_000,
      )
      .option(
        "--max-poll-interval <ms>",
        "longest wait between polls",
        integer("--max-poll-interval", 1),
        60_000,
      )
      .option(
        "--deadline <ms>",
        "give up after this long (the job keeps running)",
        integer("--deadline", 0),
      ),
  ).action(
    async (
      name: string,
      options: CommonOptions & { pollInterval: number; maxPollInterval: number; deadline?: number },
    ) => {
      const job = await BatchJob.attach(clientFrom(options), jobName(name));
      const display = progressDisplay(options.json);
      const interrupt = interruptSignal();
      try {
        await job.wait({
          pollInterval: options.pollInterval,
          maxPollInterval: options.maxPollInterval,
          deadline: options.deadline,
          onProgress: (progress) => display.update(progress),
          // Ctrl-C stops waiting; it does not cancel the job (use `gembed batch cancel`).
          signal: interrupt.signal,
          cancelOnAbort: false,
        });
      } catch (error) {
        if (interrupt.signal.aborted) {
          throw new InterruptedError(
            `interrupted: job ${job.name} keeps running (not cancelled). \`gembed batch wait ${job.name}\` waits again, \`gembed batch cancel ${job.name}\` stops it.`,
            { cause: error },
          );
        }
        throw error;
      } finally {
        display.stop();
        interrupt.dispose();
      }
      printJob(job, options.json);
    },
  );

  common(
    batch
      .command("collect <job>")
      .description(
        "write a finished job's vectors to a JSONL file of {id, embedding} (or {id, error})",
      )
      .option("--out <file>", "output JSONL file (default: standard output)")
      .option("--no-normalize", "keep the values as the API sent them (no L2 normalization)"),
  ).action(async (name: string, options: CommonOptions & { out?: string; normalize: boolean }) => {
    // A folder or an unwritable path is found before the results are read, not at the rename.
    if (options.out !== undefined) {
      await checkOutputFile(
        options.out,
        "--out",
        "leave out --out: collect writes the JSONL to standard output",
      );
    }
    const job = await BatchJob.attach(clientFrom(options), jobName(name));
    job.throwIfFailed();
    const interrupt = interruptSignal();
    const counts = await collect(job, options.out, {
      normalize: options.normalize,
      signal: interrupt.signal,
    }).finally(() => interrupt.dispose());
    if (options.out === undefined) {
      // Standard output holds the results: the counts go to stderr, out of the data's way.
      process.stderr.write(
        `${counts.written} result(s) written to standard output${counts.failed ? ` (${counts.failed} failed)` : ""}\n`,
      );
    } else if (options.json) {
      process.stdout.write(`${JSON.stringify({ name: job.name, out: options.out, ...counts })}\n`);
    } else {
      process.stdout.write(
        `${counts.written} result(s) written to ${options.out}${counts.failed ? ` (${counts.failed} failed)` : ""}\n`,
      );
    }
  });

  common(
    batch
      .command("delete <job>")
      .description("delete a job (and its results)")
      .option("--force", "delete a job still pending or running (it is not cancelled)"),
  ).action(async (name: string, options: CommonOptions & { force?: boolean }) => {
    const client = clientFrom(options);
    const job = await BatchJob.attach(client, jobName(name));
    const running = job.state === "BATCH_STATE_PENDING" || job.state === "BATCH_STATE_RUNNING";
    // Deleted, a running job can no longer be cancelled, and on the real API it runs (and
    // bills) on: refused unless asked for.
    if (running && !options.force) {
      throw new UsageError(
        `${job.name} is ${shortState(job.state)}: deleting it would not stop it, and it could no longer be cancelled. Run \`gembed batch cancel ${job.name}\` first, or pass --force to delete it anyway.`,
      );
    }
    await job.delete();
    if (running) {
      process.stderr.write(
        `gembed: ${name} was ${shortState(job.state)}; deleting does not cancel it (gembed batch cancel does)\n`,
      );
    }
    if (options.json) process.stdout.write(`${JSON.stringify({ name, deleted: true })}\n`);
    else process.stdout.write(`deleted ${name}\n`);
  });

  common(batch.command("cancel <job>").description("cancel a job")).action(
    async (name: string, options: CommonOptions) => {
      const job = await BatchJob.attach(clientFrom(options), jobName(name));
      await job.cancel();
      await job.refresh();
      printJob(job, options.json);
    },
  );

  common(
    batch
      .command("list")
      .description("list jobs")
      .option("--limit <n>", "at most this many jobs", integer("--limit", 1), 100),
  ).action(async (options: CommonOptions & { limit: number }) => {
    const client = clientFrom(options);
    const jobs: BatchJob[] = [];
    for await (const operation of client.batches.listAll({
      pageSize: Math.min(100, options.limit),
    })) {
      jobs.push(new BatchJob(client, operation));
      if (jobs.length >= options.limit) break;
    }
    if (options.json) {
      process.stdout.write(`${JSON.stringify(jobs.map(summary))}\n`);
      return;
    }
    for (const job of jobs) {
      const stats = parseBatchStats(job.batch.batchStats);
      process.stdout.write(
        `${job.name}\t${shortState(job.state)}\t${stats.successfulRequestCount + stats.failedRequestCount}/${stats.requestCount}\t${job.batch.displayName ?? ""}\n`,
      );
    }
  });
}
