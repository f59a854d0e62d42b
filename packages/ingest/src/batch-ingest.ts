/**
 * `gembed ingest --batch` as a stream: the Batch API (half price) with the memory of the
 * synchronous stream, whatever the corpus size.
 *
 * 1. **Plan**: the chunks of the second pass (`streamChunks`) are looked up in the sink a group at
 *    a time, as {@link ingestStream} does (unchanged skipped, metadata-only rows written again
 *    with their stored vector, vectors kept by an earlier run reused, stale chunks removed). Each
 *    changed chunk becomes one line of the job's JSONL input file (`{"key", "request"}`, the
 *    request `buildRequest` gives, as the synchronous path sends it) and one line of a rows file
 *    beside it (the row without its vector), both written as they come: nothing but one group is
 *    held. A job takes at most {@link JOB_REQUESTS} requests (and stays under the 2 GB file
 *    limit); more make more jobs.
 * 2. **Submit**: the state file records each job's key range, display name, uploaded file and job
 *    name, and the fingerprint of its files (sha256 of their bytes, not the texts); then each input
 *    file is uploaded from disk (the resumable upload reads it in 8 MiB chunks) and its job
 *    created. All jobs are created before any is waited on, so they run at once.
 * 3. **Collect**: each job's results are downloaded as a stream, and each group of results is
 *    joined by key to its rows (a key is the row's line in the rows file; a job keeps one byte
 *    offset per row, bounded by the job size) and written through the sink. Items that failed
 *    inside a job are embedded through the synchronous path, a group at a time.
 *
 * A rerun with a state file first collects its jobs (attaching, never creating them again), then
 * plans what is still to do: a Ctrl-C that detached, or a kill -9 mid-download, loses nothing and
 * pays nothing twice.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { mkdir, open, readdir, rm } from "node:fs/promises";
import path from "node:path";
import {
  BatchJob,
  BatchJobError,
  BatchJobIncompleteError,
  type BatchProgress,
  type BatchRunJobState,
  type BatchRunState,
  BatchStateFileError,
  type DocumentInput,
  EmbeddingAbortedError,
  FileBatchStateStore,
  GembedAbortError,
  type GeminiEmbeddingFunction,
} from "gembed";
import { checkInteger, findSubmittedJob, otherJobErrors, requestsOf } from "gembed/internal";
import type { DocumentChunk, EmbeddingRow } from "./documents.js";
import { forEachGroup, type HashedChunk, lookupGroup } from "./group-lookup.js";
import { chunkToRow, type IngestSummary } from "./pipeline.js";
import {
  noProgress,
  type StreamIngestOptions,
  type StreamIngestProgress,
  type StreamSink,
} from "./stream-pipeline.js";
import type { StreamedChunk, StreamedUnchangedFile } from "./stream-sources.js";
import { type BackpressureWriter, backpressureWriter } from "./stream-writer.js";

/**
 * Requests per job at most. Collecting a job keeps one 8-byte offset and one byte per request
 * (2 MB at 200,000): this bounds what a run holds, whatever the corpus. A chunk is at most 8 KB of
 * text, so a job's input file stays under the 2 GB a file may hold.
 */
export const JOB_REQUESTS = 200_000;

/** Bytes of one job's input file at most (the files API takes 2 GB a file). */
const JOB_FILE_BYTES = 1_900_000_000;

/** What the state file of a streamed `--batch` ingest keeps beyond `encodeWithBatchApi`'s. */
export interface BatchIngestState extends BatchRunState {
  /** Marks a state written by {@link ingestBatch}; its files sit beside the state file. */
  ingest: {
    /** Per job (same order as `jobs`): sha256 of its input file and its rows file. */
    files: { input: string; rows: string }[];
  };
}

/** What `onJob` of {@link BatchIngestOptions} learns after each poll. */
export interface BatchIngestJobProgress extends BatchProgress {
  /** Which job, from 0. */
  jobIndex: number;
  /** Jobs of the run being collected. */
  jobCount: number;
}

/** Options of {@link ingestBatch}. */
export interface BatchIngestOptions extends Omit<StreamIngestOptions, "embedder"> {
  /** The embedding function: its requests, vectors, client and synchronous path. */
  embedder: GeminiEmbeddingFunction;
  /** The resume file; the jobs' input and rows files are written beside it. */
  stateFile: string;
  /** First wait between two polls of a job, in ms. @default 5_000 */
  pollInterval?: number | undefined;
  /** Longest wait between two polls of a job, in ms. @default 60_000 */
  maxPollInterval?: number | undefined;
  /** Called after each poll of a job. */
  onJob?: ((progress: BatchIngestJobProgress) => void) | undefined;
  /**
   * Requests per job at most (tests set it low to see several jobs).
   * @default {@link JOB_REQUESTS}
   */
  jobRequests?: number | undefined;
}

/** The paths of job `index`'s files (from 1, as the display names). */
export function batchJobFiles(stateFile: string, index: number): { input: string; rows: string } {
  return {
    input: `${stateFile}.job-${index + 1}.input.jsonl`,
    rows: `${stateFile}.job-${index + 1}.rows.jsonl`,
  };
}

/** Writes lines to a job file (with backpressure), hashing its bytes as they go. */
class SpoolWriter {
  readonly #stream: WriteStream;
  readonly #writer: BackpressureWriter;
  readonly #hash = createHash("sha256");
  bytes = 0;
  constructor(readonly path: string) {
    this.#stream = createWriteStream(path, { mode: 0o600 });
    this.#writer = backpressureWriter(this.#stream);
  }
  async write(text: string): Promise<void> {
    this.bytes += Buffer.byteLength(text);
    this.#hash.update(text);
    await this.#writer.write(text);
  }
  /** Flushes to disk and gives the file's sha256. */
  async close(): Promise<string> {
    await this.#writer.end();
    const handle = await open(this.path, "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    return this.#hash.digest("hex");
  }
  /** Stops writing (an error on the way): the file is removed by the caller. */
  destroy(): void {
    this.#stream.destroy();
  }
}

/** sha256 of a file, read as a stream. */
async function fileHash(file: string): Promise<string | undefined> {
  const hash = createHash("sha256");
  try {
    for await (const piece of createReadStream(file)) hash.update(piece as Buffer);
  } catch {
    return undefined;
  }
  return hash.digest("hex");
}

/** Byte offset of every line start of a rows file, and its end: `count + 1` entries. */
async function lineOffsets(file: string, count: number): Promise<Float64Array> {
  const offsets = new Float64Array(count + 1);
  let line = 0;
  let position = 0;
  for await (const piece of createReadStream(file)) {
    const bytes = piece as Buffer;
    for (let at = bytes.indexOf(10); at !== -1; at = bytes.indexOf(10, at + 1)) {
      line++;
      if (line <= count) offsets[line] = position + at + 1;
    }
    position += bytes.length;
  }
  if (line !== count) {
    throw new BatchStateFileError(
      file,
      `${file} holds ${line} rows, not the ${count} its batch job was created with: a file of a gembed --batch run cut short or edited. Delete the state file beside it to start anew (the job's results stay readable with gembed batch collect).`,
    );
  }
  return offsets;
}

/** Reads the rows at `positions` (line numbers) of a rows file, coalescing runs of lines. */
async function readRows(
  file: string,
  offsets: Float64Array,
  positions: number[],
): Promise<Map<number, EmbeddingRow>> {
  const rows = new Map<number, EmbeddingRow>();
  const sorted = [...positions].sort((a, b) => a - b);
  const handle = await open(file, "r");
  try {
    for (let first = 0; first < sorted.length; ) {
      let last = first;
      while (last + 1 < sorted.length && sorted[last + 1] === (sorted[last] as number) + 1) last++;
      const start = offsets[sorted[first] as number] as number;
      const end = offsets[(sorted[last] as number) + 1] as number;
      const buffer = Buffer.alloc(end - start);
      await handle.read(buffer, 0, buffer.length, start);
      const lines = buffer.toString("utf8").split("\n");
      for (let line = first; line <= last; line++)
        rows.set(sorted[line] as number, JSON.parse(lines[line - first] as string) as EmbeddingRow);
      first = last + 1;
    }
  } finally {
    await handle.close();
  }
  return rows;
}

/**
 * Ingests a stream of chunks (see `streamChunks`) through the Batch API, with bounded memory and a
 * resume file (see the module comment). Returns what the synchronous {@link ingestStream} returns;
 * `embedded` counts the rows written from jobs (also those of jobs an earlier run created).
 *
 * @throws `EmbeddingAbortedError` naming the jobs when `signal` aborts once jobs exist (they keep
 *   running; the state file keeps them); `BatchJobIncompleteError` when a job ended `FAILED`,
 *   `CANCELLED` or `EXPIRED` (the other jobs' rows are written first; a rerun embeds only what is
 *   missing); `BatchStateFileError` for a state file this ingest cannot resume.
 */
export async function ingestBatch(
  chunks: AsyncIterable<StreamedChunk | StreamedUnchangedFile>,
  options: BatchIngestOptions,
): Promise<IngestSummary> {
  const batchSize = checkInteger(options.batchSize ?? 256, "batchSize", 1);
  const jobRequests = checkInteger(options.jobRequests ?? JOB_REQUESTS, "jobRequests", 1);
  if (requestsOf(options.embedder) === undefined)
    throw new TypeError("ingestBatch takes a GeminiEmbeddingFunction as its embedder");
  const store = new FileBatchStateStore(options.stateFile);
  // One run at a time per state file: two would each create jobs and pay twice.
  const lock = await store.lock();
  try {
    const run = new BatchRun(options, batchSize, store);
    // Jobs an earlier run created (detached by Ctrl-C, or killed): collected before planning.
    const earlier = await store.load();
    if (earlier !== undefined) run.collectedEarlier = await run.resume(earlier);
    // Job files of a run killed while planning (no state names them): never submitted.
    else await removeStrayJobFiles(options.stateFile);
    const state = await run.plan(chunks, jobRequests);
    if (state !== undefined) await run.submitAndCollect(state);
    return run.summary();
  } finally {
    await lock.release();
  }
}

/** One `ingestBatch` call: its counts and its three steps. */
class BatchRun {
  readonly progress: StreamIngestProgress = noProgress();
  reused = 0;
  removed = 0;
  /** Rows written from the jobs of an earlier run (the plan then finds them unchanged). */
  collectedEarlier = 0;
  readonly #options: BatchIngestOptions;
  readonly #batchSize: number;
  readonly #store: FileBatchStateStore;
  readonly #model: string;
  readonly #dim: number;
  readonly #sink: StreamSink;

  constructor(options: BatchIngestOptions, batchSize: number, store: FileBatchStateStore) {
    this.#options = options;
    this.#batchSize = batchSize;
    this.#store = store;
    this.#model = options.embedder.modelName;
    this.#dim = options.embedder.dim;
    this.#sink = options.sink;
  }

  #report(): void {
    this.#options.onProgress?.({ ...this.progress });
  }

  async #write(rows: EmbeddingRow[]): Promise<void> {
    if (rows.length === 0) return;
    try {
      await this.#sink.write(rows);
    } catch (error) {
      await this.#options.onWriteFailure?.(rows, error);
      throw error;
    }
    this.progress.written += rows.length;
  }

  summary(): IngestSummary {
    const { progress } = this;
    return {
      documents: progress.documents,
      chunks: progress.chunks,
      // The rows of an earlier run's jobs, written here, are found unchanged by the plan: they
      // were embedded by this run, not found unchanged.
      skipped: Math.max(0, progress.skipped - this.collectedEarlier),
      embedded: progress.embedded,
      updated: progress.updated,
      reused: this.reused,
      written: progress.written,
      removed: this.removed,
    };
  }

  /** Collects the jobs of a state an earlier run left; returns the rows written from them. */
  async resume(stored: BatchRunState): Promise<number> {
    const state = stored as BatchIngestState;
    const where = this.#store.path;
    if (state.ingest === undefined || !Array.isArray(state.ingest.files)) {
      const names = state.jobs.flatMap((job) => (job.name ? [job.name] : []));
      throw new BatchStateFileError(
        where,
        `${where} was written by an earlier gembed whose --batch ingest held its input in memory (job(s) ${names.join(", ") || "not created"}); this one cannot resume it. Collect the job(s) with gembed batch collect if wanted, then delete ${where} to start anew.`,
      );
    }
    if (
      state.model !== modelResource(this.#model) ||
      state.ingest.files.length !== state.jobs.length
    ) {
      throw new BatchStateFileError(
        where,
        `${where} holds job(s) of ${state.model}, not of ${modelResource(this.#model)}: run the ingest it was written for, or delete it to start anew.`,
      );
    }
    // The files the jobs were created from must be those beside the state: their hashes.
    for (let index = 0; index < state.jobs.length; index++) {
      const files = batchJobFiles(where, index);
      const expected = state.ingest.files[index]!;
      const [input, rows] = await Promise.all([fileHash(files.input), fileHash(files.rows)]);
      if (input !== expected.input || rows !== expected.rows) {
        throw new BatchStateFileError(
          where,
          `${files.input} or ${files.rows} is missing or not the file its batch job was created from; delete ${where} (and its job files) to start anew (the job(s) stay readable with gembed batch collect).`,
        );
      }
    }
    const before = this.progress.embedded;
    // A job of an earlier run that ended FAILED, CANCELLED or EXPIRED is not an error here: the
    // plan that follows finds its chunks missing and embeds them in this run.
    await this.submitAndCollect(state, { throwOnJobError: false });
    return this.progress.embedded - before;
  }

  /**
   * The plan pass: looks each group up, writes what needs no embedding, and writes the rest to
   * job files. Returns the state of the jobs to create (saved), or undefined when nothing is to be
   * embedded.
   */
  async plan(
    chunks: AsyncIterable<StreamedChunk | StreamedUnchangedFile>,
    jobRequests: number,
  ): Promise<BatchIngestState | undefined> {
    const { progress } = this;
    const options = this.#options;
    const sink = this.#sink;
    const model = this.#model;
    const dim = this.#dim;
    const where = this.#store.path;
    const requests = requestsOf(options.embedder)!;
    await mkdir(path.dirname(path.resolve(where)), { recursive: true });
    const jobs: { start: number; end: number; hashes?: { input: string; rows: string } }[] = [];
    let input: SpoolWriter | undefined;
    let rows: SpoolWriter | undefined;
    let count = 0;
    const closeJob = async () => {
      if (input === undefined || rows === undefined) return;
      const job = jobs[jobs.length - 1]!;
      job.end = count;
      job.hashes = { input: await input.close(), rows: await rows.close() };
      input = undefined;
      rows = undefined;
    };
    const spool = async (chunk: DocumentChunk, hash: string) => {
      const request = requests.buildRequest(
        chunk.title === undefined
          ? chunk.text
          : ({ text: chunk.text, title: chunk.title } as DocumentInput),
        "RETRIEVAL_DOCUMENT",
      );
      // The job names the model: a line without it is ~30 bytes shorter (as encodeWithBatchApi).
      const { model: _model, ...sent } = request;
      const line = `${JSON.stringify({ key: String(count), request: sent })}\n`;
      const full =
        input !== undefined &&
        (count - jobs[jobs.length - 1]!.start >= jobRequests ||
          input.bytes + Buffer.byteLength(line) > JOB_FILE_BYTES);
      if (full) await closeJob();
      if (input === undefined) {
        const files = batchJobFiles(where, jobs.length);
        jobs.push({ start: count, end: count });
        input = new SpoolWriter(files.input);
        rows = new SpoolWriter(files.rows);
      }
      const { vector: _vector, ...row } = chunkToRow(chunk, hash, new Float32Array(0));
      await input.write(line);
      await rows!.write(`${JSON.stringify(row)}\n`);
      count++;
    };

    const documents = new Map<string, { same: boolean }>();
    const flush = async (group: HashedChunk[]) => {
      const decision = await lookupGroup(group, {
        sink,
        dim,
        documents,
        reuse: options.reuse,
        embed: ({ chunk, hash }) => spool(chunk, hash),
      });
      progress.skipped += decision.unchanged;
      await this.#write(decision.updated);
      progress.updated += decision.updated.length;
      await this.#write(decision.reused);
      this.reused += decision.reused.length;
      if (decision.stale.length > 0 && sink.removeStale !== undefined)
        this.removed += await sink.removeStale(decision.stale);
      this.#report();
    };
    try {
      const grouping = { size: this.#batchSize, model, dim, signal: options.signal, progress };
      await forEachGroup(chunks, grouping, flush);
      await closeJob();
    } catch (error) {
      // Nothing was submitted: the job files go (no state names them).
      input?.destroy();
      rows?.destroy();
      await removeJobFiles(where, jobs.length);
      throw error;
    }
    if (count === 0) return undefined;
    const fingerprint = createHash("sha256");
    for (const job of jobs) fingerprint.update(`${job.hashes!.input}${job.hashes!.rows}`);
    const hex = fingerprint.digest("hex");
    const base = `gembed-ingest-${hex.slice(0, 12)}`;
    const state: BatchIngestState = {
      version: 1,
      fingerprint: hex,
      model: modelResource(model),
      count,
      createdAt: new Date().toISOString(),
      jobs: jobs.map((job, index) => ({
        start: job.start,
        end: job.end,
        mode: "file",
        displayName: jobs.length === 1 ? base : `${base}-${index + 1}of${jobs.length}`,
      })),
      ingest: { files: jobs.map((job) => job.hashes!) },
    };
    await this.#store.save(state);
    return state;
  }

  /**
   * Creates the jobs not yet created, then collects every job; clears the state when done. A job
   * that ended for good throws `BatchJobIncompleteError` once the others are written (unless
   * `throwOnJobError` is false).
   */
  async submitAndCollect(
    state: BatchIngestState,
    { throwOnJobError = true }: { throwOnJobError?: boolean } = {},
  ): Promise<void> {
    const options = this.#options;
    const { signal } = options;
    // The embedding function's client: its upload reads a path again from an offset on a retry.
    const client = options.embedder.client;
    const where = this.#store.path;
    const save = () => this.#store.save(state);
    const created: BatchJob[] = [];
    const names = () => state.jobs.flatMap((job) => (job.name ? [job.name] : []));
    const detached = (error: unknown, doing: string): EmbeddingAbortedError =>
      new EmbeddingAbortedError(
        `Aborted by the caller while ${doing}; batch job(s) ${names().join(", ") || "(none created)"} keep running (not cancelled) and ${where} keeps them.`,
        [],
        [],
        error,
        names(),
      );
    try {
      for (let index = 0; index < state.jobs.length; index++) {
        const entry = state.jobs[index]!;
        const keySpace = { start: entry.start, end: entry.end };
        if (entry.name === undefined && entry.submittedAt !== undefined) {
          // Killed between the create call and saving its answer: find the job before paying again.
          const found = await findSubmittedJob(client, entry, signal);
          if (found !== undefined) entry.name = found;
        }
        if (entry.name !== undefined) {
          created.push(await BatchJob.attach(client, entry.name, { keySpace, signal }));
          continue;
        }
        if (entry.fileName === undefined) {
          const file = await client.files.upload(
            batchJobFiles(where, index).input,
            { displayName: `${entry.displayName}-input`, mimeType: "application/jsonl" },
            signal ? { signal } : {},
          );
          entry.fileName = file.name;
          await save();
        }
        entry.submittedAt = new Date().toISOString();
        await save();
        const operation = await client.asyncBatchEmbedContent(
          state.model,
          {
            model: state.model,
            displayName: entry.displayName,
            inputConfig: { fileName: entry.fileName },
          },
          signal ? { signal } : {},
        );
        const job = new BatchJob(client, operation, keySpace);
        entry.name = job.name;
        await save();
        created.push(job);
      }
    } catch (error) {
      if (error instanceof GembedAbortError) {
        await save();
        throw detached(error, "creating batch jobs");
      }
      throw error;
    }
    const jobErrors: BatchJobError[] = [];
    for (let index = 0; index < created.length; index++) {
      const job = created[index]!;
      const entry = state.jobs[index]!;
      try {
        await job.wait({
          pollInterval: options.pollInterval,
          maxPollInterval: options.maxPollInterval,
          signal,
          // Ctrl-C detaches: the job runs on and the state keeps it.
          cancelOnAbort: false,
          onProgress: (progress) =>
            options.onJob?.({ ...progress, jobIndex: index, jobCount: created.length }),
        });
      } catch (error) {
        if (error instanceof GembedAbortError) throw detached(error, "waiting for batch jobs");
        if (error instanceof BatchJobError) {
          // Its rows are planned again by the next run: the other jobs are collected first.
          jobErrors.push(error);
          if (!job.output) continue;
        } else {
          // A job that cannot be reached: the state keeps them all for a rerun.
          throw error;
        }
      }
      try {
        await this.#collect(job, entry, index, jobErrors.at(-1)?.jobName === job.name);
      } catch (error) {
        // An abort met while writing (a Milvus write stopped by the signal) detaches alike.
        if (error instanceof GembedAbortError || signal?.aborted === true)
          throw detached(error, "reading batch results");
        throw error;
      }
    }
    // Every job read (or ended for good): their rows are written, the state has done its work.
    await this.#store.clear();
    await removeJobFiles(where, state.jobs.length);
    const first = jobErrors[0];
    if (first !== undefined && throwOnJobError) {
      throw new BatchJobIncompleteError(
        `${first.message}${otherJobErrors(jobErrors)}; the other jobs' rows were written, and the next run embeds only the missing chunk(s)`,
        first,
        { vectors: [], missingIndices: [], jobErrors, failures: [] },
      );
    }
  }

  /** Reads one job's results as a stream and writes them, a group at a time, by key. */
  async #collect(job: BatchJob, entry: BatchRunJobState, index: number, failed: boolean) {
    const options = this.#options;
    const files = batchJobFiles(this.#store.path, index);
    const offsets = await lineOffsets(files.rows, entry.end - entry.start);
    const requests = requestsOf(options.embedder)!;
    let group: { position: number; values: number[] }[] = [];
    let resync: EmbeddingRow[] = [];
    const flush = async () => {
      if (group.length === 0) return;
      const rows = await readRows(
        files.rows,
        offsets,
        group.map((item) => item.position),
      );
      const written: EmbeddingRow[] = [];
      for (const { position, values } of group) {
        const row = rows.get(position)!;
        written.push({ ...row, vector: Array.from(requests.toVector(values)) });
      }
      group = [];
      await this.#write(written);
      this.progress.embedded += written.length;
      this.#report();
    };
    const embedFailed = async () => {
      if (resync.length === 0) return;
      const rows = resync;
      resync = [];
      const vectors = await options.embedder.encodeDocuments(
        rows.map((row) => (row.title === "" ? row.text : { text: row.text, title: row.title })),
        options.signal ? { signal: options.signal } : {},
      );
      const written = rows.map((row, position) => ({
        ...row,
        vector: Array.from(vectors[position] as Float32Array),
      }));
      await this.#write(written);
      this.progress.embedded += written.length;
      this.#report();
    };
    const failedItems: number[] = [];
    try {
      for await (const item of job.results({
        keySpace: { start: entry.start, end: entry.end },
        signal: options.signal,
      })) {
        const position = item.index - entry.start;
        if (item.values !== undefined) {
          group.push({ position, values: item.values });
          if (group.length >= this.#batchSize) await flush();
        } else {
          failedItems.push(position);
          if (failedItems.length >= this.#batchSize) {
            // Items that failed inside the job: the synchronous path, a group at a time.
            const rows = await readRows(files.rows, offsets, failedItems.splice(0));
            resync.push(...rows.values());
            await embedFailed();
          }
        }
      }
    } catch (error) {
      // What was read is written (nothing paid for is lost); a job that did not succeed may lack
      // keys: the next run plans those chunks again.
      await flush();
      if (!failed) throw error;
    }
    await flush();
    if (failedItems.length > 0) {
      const rows = await readRows(files.rows, offsets, failedItems);
      resync.push(...rows.values());
    }
    await embedFailed();
  }
}

/** `models/<id>`. */
function modelResource(model: string): string {
  return model.startsWith("models/") ? model : `models/${model}`;
}

/** Removes the input and rows files of `count` jobs (missing ones are fine). */
async function removeJobFiles(stateFile: string, count: number): Promise<void> {
  for (let index = 0; index < count; index++) {
    const files = batchJobFiles(stateFile, index);
    await rm(files.input, { force: true });
    await rm(files.rows, { force: true });
  }
}

/** Removes the job files beside `stateFile` (`<state>.job-<n>.input.jsonl` / `.rows.jsonl`). */
async function removeStrayJobFiles(stateFile: string): Promise<void> {
  const folder = path.dirname(path.resolve(stateFile));
  const prefix = `${path.basename(stateFile)}.job-`;
  const names = await readdir(folder).catch(() => [] as string[]);
  for (const name of names) {
    if (name.startsWith(prefix) && /^\d+\.(input|rows)\.jsonl$/.test(name.slice(prefix.length)))
      await rm(path.join(folder, name), { force: true });
  }
}
