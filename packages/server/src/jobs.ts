/**
 * Batch jobs of the local server (`asyncBatchEmbedContent`): kept in the data folder, run in the
 * background in priority order (higher first, then oldest first), checkpointed so that a server
 * killed in the middle of a job finishes it after a restart with every item answered exactly once.
 *
 * Layout, per job `{id}` in `batches/`: `{id}.json` (the record, rewritten atomically),
 * `{id}.input.jsonl` (one input item a line), `{id}.part-{start}-{count}-{failed}.jsonl` (the
 * answers of items `start..start+count-1`, `failed` of them errors, each part written atomically
 * once), and for inline input `{id}.output.jsonl` (all the answers, written when the job succeeds).
 *
 * A job's state changes in one place, {@link JobManager.transition}, along the table
 * {@link TRANSITIONS}: a finished job (succeeded, failed, cancelled, expired) never changes again,
 * and a job that is cancelled or expires stops at once with the counts it had.
 *
 * @module
 */

import { createReadStream } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type BatchState,
  type EmbedContentBatch,
  type ModelInfo,
  type Operation,
  type Status,
  TERMINAL_BATCH_STATES,
} from "gembed";
import { isObject, TYPE_URLS } from "gembed/internal";
import type { FileStore } from "./files.js";
import { nestedDeeperThan } from "./json-depth.js";
import { embedQuantized } from "./local-model.js";
import type { ResolvedOptions } from "./options.js";
import { checkRequest, itemError, resolveModel, type Violation } from "./requests.js";
import { invalidArgument, rfc3339, ServerApiError } from "./status.js";
import {
  type DataFolders,
  isValidId,
  randomId,
  readJson,
  readLines,
  removeFile,
  writeAtomic,
  writeAtomicStream,
} from "./storage.js";
import { buildJson } from "./wire.js";

/** What the server keeps of a job. */
export interface JobRecord {
  id: string;
  model: string;
  displayName?: string;
  priority: number;
  /** Creation order, to break ties between jobs created in the same millisecond. */
  sequence: number;
  createdAt: number;
  updatedAt: number;
  endedAt?: number;
  state: BatchState;
  inputKind: "inline" | "file";
  inputFileName?: string;
  itemCount: number;
  /** Items answered and checkpointed so far. */
  progress: number;
  successful: number;
  failed: number;
  /** For file input: the generated responses file id. */
  responsesFile?: string;
  error?: Status;
}

type StopReason = "none" | "cancel" | "delete" | "close";

interface Runner {
  stop: StopReason;
  done: Promise<void>;
}

/** Callbacks the server counts with. */
export interface JobEvents {
  onItems(model: string, texts: number, tokens: number): void;
  onCreated(): void;
}

/**
 * The state changes a job may make; every change goes through {@link JobManager.transition}.
 * The four terminal states lead nowhere.
 */
const TRANSITIONS: Readonly<Record<BatchState, readonly BatchState[]>> = {
  BATCH_STATE_UNSPECIFIED: [],
  BATCH_STATE_PENDING: [
    "BATCH_STATE_RUNNING",
    "BATCH_STATE_CANCELLED",
    "BATCH_STATE_EXPIRED",
    "BATCH_STATE_FAILED",
  ],
  BATCH_STATE_RUNNING: [
    "BATCH_STATE_SUCCEEDED",
    "BATCH_STATE_FAILED",
    "BATCH_STATE_CANCELLED",
    "BATCH_STATE_EXPIRED",
  ],
  BATCH_STATE_SUCCEEDED: [],
  BATCH_STATE_FAILED: [],
  BATCH_STATE_CANCELLED: [],
  BATCH_STATE_EXPIRED: [],
};

/** True when the table allows a job in state `from` to go to `to`. */
export function canTransition(from: BatchState, to: BatchState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The answer to one input item: its JSON line, and whether it is an error. */
interface ItemAnswer {
  line: string;
  failed: boolean;
}

/** Input items (lines of JSON) nested deeper than this are answered with an error. */
const MAX_ITEM_DEPTH = 100;

const CHECKPOINT_ITEMS = 200;
const CHECKPOINT_MS = 200;

/** The batch jobs of one server. */
export class JobManager {
  private readonly records = new Map<string, JobRecord>();
  private readonly runners = new Map<string, Runner>();
  private sequence = 0;
  private closed = false;

  constructor(
    private readonly folders: DataFolders,
    private readonly files: FileStore,
    private readonly options: ResolvedOptions["batch"],
    private readonly events: JobEvents,
  ) {}

  private recordPath(id: string): string {
    return path.join(this.folders.batches, `${id}.json`);
  }
  private inputPath(id: string): string {
    return path.join(this.folders.batches, `${id}.input.jsonl`);
  }
  private outputPath(id: string): string {
    return path.join(this.folders.batches, `${id}.output.jsonl`);
  }

  private async save(record: JobRecord): Promise<void> {
    if (!this.records.has(record.id)) return;
    await writeAtomic(this.recordPath(record.id), JSON.stringify(record));
  }

  /**
   * The answered parts of a job, in order. `failed` is read from the part's name (undefined for a
   * part written by an older server, whose name does not carry it).
   */
  private async parts(id: string): Promise<Part[]> {
    const prefix = `${id}.part-`;
    const found: Part[] = [];
    for (const entry of await readdir(this.folders.batches)) {
      if (!entry.startsWith(prefix) || !entry.endsWith(".jsonl")) continue;
      const match = /^(\d+)-(\d+)(?:-(\d+))?\.jsonl$/.exec(entry.slice(prefix.length));
      if (match === null) continue;
      found.push({
        start: Number(match[1]),
        count: Number(match[2]),
        failed: match[3] === undefined ? undefined : Number(match[3]),
        file: path.join(this.folders.batches, entry),
      });
    }
    return found.sort((left, right) => left.start - right.start);
  }

  private async removeParts(id: string): Promise<void> {
    for (const part of await this.parts(id)) await removeFile(part.file);
  }

  /**
   * The one place a job's state changes, along {@link TRANSITIONS}: sets the state, the times and
   * (for a failure, cancel or expiry) the error. Returns false, changing nothing, when the table
   * does not allow it (e.g. cancelling a job that has just succeeded).
   */
  private transition(record: JobRecord, to: BatchState, error?: Status, now = Date.now()): boolean {
    if (!canTransition(record.state, to)) return false;
    record.state = to;
    record.updatedAt = now;
    if (TERMINAL_BATCH_STATES.has(to)) record.endedAt = now;
    if (error !== undefined) record.error = error;
    return true;
  }

  /** Loads the jobs of the data folder and resumes the unfinished ones from their checkpoints. */
  async load(): Promise<void> {
    const entries = await readdir(this.folders.batches);
    // Temporary files of writes cut short by a crash: never renamed, never read.
    for (const entry of entries) {
      if (entry.endsWith(".tmp")) await removeFile(path.join(this.folders.batches, entry));
    }
    for (const entry of entries) {
      if (!/^[a-z0-9-]+\.json$/.test(entry)) continue;
      const record = await readJson<JobRecord>(path.join(this.folders.batches, entry));
      if (record === undefined || !isValidId(record.id)) continue;
      this.sequence = Math.max(this.sequence, record.sequence + 1);
      if (!TERMINAL_BATCH_STATES.has(record.state)) {
        // The record may lag behind the parts written before a crash: the parts are the truth.
        let progress = 0;
        let successful = 0;
        let failed = 0;
        for (const part of await this.parts(record.id)) {
          if (part.start !== progress) break;
          const partFailed = part.failed ?? (await countFailedLines(part.file));
          failed += partFailed;
          successful += part.count - partFailed;
          progress += part.count;
        }
        record.progress = progress;
        record.successful = successful;
        record.failed = failed;
      }
      this.records.set(record.id, record);
    }
    // Parts of finished jobs, left behind by a crash between the final save and their removal.
    for (const entry of entries) {
      const match = /^([a-z0-9-]+)\.part-\d+-\d+\.jsonl$/.exec(entry);
      const owner = match === null ? undefined : this.records.get(match[1] as string);
      if (owner !== undefined && TERMINAL_BATCH_STATES.has(owner.state)) {
        await removeFile(path.join(this.folders.batches, entry));
      }
    }
    this.schedule();
  }

  /** Creates a job from the body of `asyncBatchEmbedContent`. */
  async create(urlModel: ModelInfo, body: unknown, now = Date.now()): Promise<JobRecord> {
    if (!isObject(body) || !isObject(body.batch)) {
      throw invalidArgument("* AsyncBatchEmbedContentRequest.batch: batch is required.");
    }
    const batch = body.batch;
    if (batch.model !== undefined) {
      if (typeof batch.model !== "string") {
        throw invalidArgument("* EmbedContentBatch.model: must be a string.");
      }
      const model = resolveModel(batch.model, "asyncBatchEmbedContent");
      if (model.id !== urlModel.id) {
        throw invalidArgument(
          `* EmbedContentBatch.model: model "${batch.model}" does not match the model of the URL, "models/${urlModel.id}".`,
        );
      }
    }
    const displayName = batch.displayName ?? batch.display_name;
    if (displayName !== undefined && typeof displayName !== "string") {
      throw invalidArgument("* EmbedContentBatch.display_name: must be a string.");
    }
    const priority = parsePriority(batch.priority);
    const input = batch.inputConfig ?? batch.input_config;
    if (!isObject(input)) {
      throw invalidArgument("* EmbedContentBatch.input_config: input_config is required.");
    }
    const fileName = input.fileName ?? input.file_name;
    const requests = isObject(input.requests) ? input.requests.requests : undefined;
    if ((fileName === undefined) === (requests === undefined)) {
      throw invalidArgument(
        "* EmbedContentBatch.input_config: exactly one of file_name and requests must be set.",
      );
    }
    const id = randomId(36);
    let itemCount: number;
    let inputKind: JobRecord["inputKind"];
    let inputFileName: string | undefined;
    if (fileName !== undefined) {
      if (typeof fileName !== "string") {
        throw invalidArgument("* EmbedContentBatch.input_config.file_name: must be a string.");
      }
      const file = this.files.get(fileName);
      inputKind = "file";
      inputFileName = `files/${file.id}`;
      // Copied line by line, blank lines dropped: memory stays flat however large the file is.
      itemCount = await copyItems(this.files.dataPath(file.id), this.inputPath(id));
      if (itemCount === 0) {
        await removeFile(this.inputPath(id));
        throw invalidArgument(`* EmbedContentBatch.input_config.file_name: ${fileName} is empty.`);
      }
    } else {
      if (!Array.isArray(requests) || requests.length === 0) {
        throw invalidArgument(
          "* EmbedContentBatch.input_config.requests.requests: at least one request is required.",
        );
      }
      inputKind = "inline";
      const tooDeep = requests.findIndex((item) => nestedDeeperThan(item, MAX_ITEM_DEPTH));
      if (tooDeep >= 0) {
        throw invalidArgument(
          `* EmbedContentBatch.input_config.requests.requests[${tooDeep}]: nested deeper than ${MAX_ITEM_DEPTH} levels.`,
        );
      }
      const lines = requests.map((item) => JSON.stringify(item ?? null));
      itemCount = lines.length;
      // The output of an inline job is sent inside the job's JSON, which cannot be streamed: its
      // size is bounded here, before any work, rather than failing when the job is read.
      let outputBytes = 0;
      for (let index = 0; index < lines.length; index++) {
        const dimension = requestedDimension(requests[index], urlModel);
        outputBytes +=
          INLINE_ITEM_BYTES + VALUE_BYTES * dimension + (lines[index] as string).length;
      }
      if (outputBytes > this.options.maxInlineOutputBytes) {
        throw invalidArgument(
          `* EmbedContentBatch.input_config.requests: the inline output of this batch could reach ${outputBytes} bytes, over the ${this.options.maxInlineOutputBytes}-byte limit of inline output; use an input file (input_config.file_name).`,
        );
      }
      await writeAtomic(this.inputPath(id), `${lines.join("\n")}\n`);
    }
    const record: JobRecord = {
      id,
      model: urlModel.id,
      priority,
      sequence: this.sequence++,
      createdAt: now,
      updatedAt: now,
      state: "BATCH_STATE_PENDING",
      inputKind,
      itemCount,
      progress: 0,
      successful: 0,
      failed: 0,
    };
    if (typeof displayName === "string") record.displayName = displayName;
    if (inputFileName !== undefined) record.inputFileName = inputFileName;
    this.records.set(id, record);
    try {
      await this.save(record);
    } catch (error) {
      // Not saved (a full data folder): the job must not exist, or the client's retry of this
      // refused creation would make a second one.
      this.records.delete(id);
      await removeFile(this.inputPath(id)).catch(() => undefined);
      throw error;
    }
    this.events.onCreated();
    this.schedule();
    return record;
  }

  /** The job `batches/{id}` or `{id}`, or the 404. */
  get(name: string): JobRecord {
    const id = name.startsWith("batches/") ? name.slice("batches/".length) : name;
    const record = isValidId(id) ? this.records.get(id) : undefined;
    if (record === undefined) {
      throw new ServerApiError(404, `Batch ${id} not found.`, undefined, "NOT_FOUND");
    }
    return record;
  }

  /** Jobs, newest first. */
  list(): JobRecord[] {
    return [...this.records.values()].sort(
      (left, right) => right.createdAt - left.createdAt || right.sequence - left.sequence,
    );
  }

  /** Counts of jobs by state, for the metrics. */
  countByState(): Map<BatchState, number> {
    const counts = new Map<BatchState, number>();
    for (const record of this.records.values()) {
      counts.set(record.state, (counts.get(record.state) ?? 0) + 1);
    }
    return counts;
  }

  /** Cancels a job (a finished job is left as it is). */
  async cancel(name: string, now = Date.now()): Promise<void> {
    const record = this.get(name);
    await this.end(
      record,
      "BATCH_STATE_CANCELLED",
      { code: 1, message: "The batch was cancelled.", status: "CANCELLED" },
      now,
    );
  }

  /**
   * Ends an unfinished job as cancelled or expired: the state changes first (so the job is never
   * scheduled again and its runner writes nothing more), then the runner is stopped and awaited,
   * the record saved with the counts it had, and its parts removed. False when the job had
   * already finished.
   */
  private async end(
    record: JobRecord,
    to: "BATCH_STATE_CANCELLED" | "BATCH_STATE_EXPIRED",
    error: Status,
    now: number,
  ): Promise<boolean> {
    // Every item answered, the output being written: the work is done and paid for, so the job
    // finishes (succeeds) rather than being thrown away by a cancel that came too late.
    const finishing = this.runners.get(record.id);
    if (finishing !== undefined && record.progress >= record.itemCount) await finishing.done;
    if (!this.transition(record, to, error, now)) return false;
    const runner = this.runners.get(record.id);
    if (runner !== undefined) {
      runner.stop = "cancel";
      await runner.done;
    }
    if (!this.records.has(record.id)) return true;
    await this.save(record);
    await this.removeParts(record.id);
    this.schedule();
    return true;
  }

  /** Deletes a job and everything it wrote (a running job stops). */
  async delete(name: string): Promise<void> {
    const record = this.get(name);
    this.records.delete(record.id);
    const runner = this.runners.get(record.id);
    if (runner !== undefined) {
      runner.stop = "delete";
      await runner.done;
    }
    await removeFile(this.recordPath(record.id));
    await removeFile(this.inputPath(record.id));
    await removeFile(this.outputPath(record.id));
    await this.removeParts(record.id);
    this.schedule();
  }

  /** `updateEmbedContentBatch`: changes `displayName` and/or `priority`. */
  async update(name: string, updateMask: string | undefined, body: unknown): Promise<JobRecord> {
    const record = this.get(name);
    if (!isObject(body)) throw invalidArgument("* EmbedContentBatch: body must be an object.");
    const fields = (updateMask ?? "")
      .split(",")
      .map((field) => field.trim())
      .filter((field) => field.length > 0);
    if (fields.length === 0) throw invalidArgument("* update_mask: update_mask is required.");
    for (const field of fields) {
      if (field === "displayName" || field === "display_name") {
        const value = body.displayName ?? body.display_name;
        if (typeof value !== "string") {
          throw invalidArgument("* EmbedContentBatch.display_name: must be a string.");
        }
        record.displayName = value;
      } else if (field === "priority") {
        if (record.state !== "BATCH_STATE_PENDING") {
          throw new ServerApiError(
            400,
            "* EmbedContentBatch.priority: the priority of a job can only change while it is pending.",
            undefined,
            "FAILED_PRECONDITION",
          );
        }
        record.priority = parsePriority(body.priority);
      } else {
        throw invalidArgument(`* update_mask: field "${field}" cannot be updated.`);
      }
    }
    record.updatedAt = Date.now();
    await this.save(record);
    return record;
  }

  /** Ends the jobs past their lifetime; returns how many. */
  async sweep(now = Date.now()): Promise<number> {
    let count = 0;
    for (const record of [...this.records.values()]) {
      if (TERMINAL_BATCH_STATES.has(record.state)) continue;
      if (record.createdAt + this.options.jobLifetimeMs > now) continue;
      const error: Status = {
        code: 4,
        message: "The batch job expired before it could finish.",
        status: "DEADLINE_EXCEEDED",
      };
      if (await this.end(record, "BATCH_STATE_EXPIRED", error, now)) count++;
    }
    return count;
  }

  /** Stops the running jobs after checkpointing their work; they resume on the next start. */
  async close(): Promise<void> {
    this.closed = true;
    const waits: Promise<void>[] = [];
    for (const runner of this.runners.values()) {
      runner.stop = "close";
      waits.push(runner.done);
    }
    await Promise.all(waits);
  }

  /** Starts the best runnable jobs while there is room. */
  private schedule(): void {
    if (this.closed) return;
    while (this.runners.size < this.options.concurrency) {
      let best: JobRecord | undefined;
      for (const record of this.records.values()) {
        if (TERMINAL_BATCH_STATES.has(record.state) || this.runners.has(record.id)) continue;
        if (
          best === undefined ||
          record.priority > best.priority ||
          (record.priority === best.priority &&
            (record.createdAt < best.createdAt ||
              (record.createdAt === best.createdAt && record.sequence < best.sequence)))
        ) {
          best = record;
        }
      }
      if (best === undefined) return;
      const chosen = best;
      const runner: Runner = { stop: "none", done: Promise.resolve() };
      this.runners.set(chosen.id, runner);
      runner.done = this.run(chosen, runner)
        .catch((error: unknown) => this.fail(chosen, error))
        .finally(() => {
          this.runners.delete(chosen.id);
          this.schedule();
        });
    }
  }

  private async fail(record: JobRecord, error: unknown): Promise<void> {
    if (!this.records.has(record.id)) return;
    const failed = this.transition(record, "BATCH_STATE_FAILED", {
      code: 13,
      message: `The batch job failed: ${error instanceof Error ? error.message : String(error)}`,
      status: "INTERNAL",
    });
    if (failed) await this.save(record).catch(() => undefined);
  }

  private async run(record: JobRecord, runner: Runner): Promise<void> {
    // Let the creating request answer first, so a new job is seen PENDING.
    await sleep(0);
    if (runner.stop !== "none") return;
    const model = resolveModel(record.model, "asyncBatchEmbedContent");
    // The input is read lazily from the checkpoint on: one line of the input file is item i, and
    // the items before `progress` are already answered in the parts.
    const input = readLines(this.inputPath(record.id), record.progress);
    try {
      await this.runItems(record, runner, model, input);
    } finally {
      await input.return(undefined);
    }
  }

  private async runItems(
    record: JobRecord,
    runner: Runner,
    model: ModelInfo,
    input: AsyncGenerator<string>,
  ): Promise<void> {
    if (record.state === "BATCH_STATE_PENDING") {
      if (!this.transition(record, "BATCH_STATE_RUNNING")) return;
      await this.save(record);
    }
    const delay = this.options.delayPerItemMs;
    while (record.progress < record.itemCount) {
      if (runner.stop !== "none") return;
      const start = record.progress;
      const lines: string[] = [];
      let successful = 0;
      let failed = 0;
      const began = Date.now();
      while (
        start + lines.length < record.itemCount &&
        lines.length < CHECKPOINT_ITEMS &&
        (lines.length === 0 || Date.now() - began < CHECKPOINT_MS)
      ) {
        if (delay > 0) await sleep(delay);
        const stop = runner.stop as StopReason;
        if (stop === "cancel" || stop === "delete") return;
        const next = await input.next();
        const answer = this.answer(record, model, next.done === true ? "null" : next.value);
        if (answer.failed) failed++;
        else successful++;
        lines.push(answer.line);
        if ((runner.stop as StopReason) === "close") break;
      }
      if (lines.length === 0) return;
      const part = path.join(
        this.folders.batches,
        `${record.id}.part-${start}-${lines.length}-${failed}.jsonl`,
      );
      // A job cancelled or expired while this part was computed writes nothing more.
      if (record.state !== "BATCH_STATE_RUNNING") return;
      await writeAtomic(part, `${lines.join("\n")}\n`);
      const stop = runner.stop as StopReason;
      if (stop === "cancel" || stop === "delete" || record.state !== "BATCH_STATE_RUNNING") {
        await removeFile(part);
        return;
      }
      record.progress = start + lines.length;
      record.successful += successful;
      record.failed += failed;
      record.updatedAt = Date.now();
      await this.save(record);
      // Give the HTTP side a turn between checkpoints.
      await sleep(0);
    }
    // Every item is answered: the job finishes even if a close came in meanwhile (the work is
    // done; throwing it away would lose it). A cancel or an expiry has already ended it.
    if (runner.stop === "delete" || record.progress < record.itemCount) return;
    if (record.state !== "BATCH_STATE_RUNNING") return;
    await this.finish(record);
  }

  /** The answer to one input item (a line of the job's input). */
  private answer(record: JobRecord, model: ModelInfo, line: string): ItemAnswer {
    let item: unknown;
    try {
      item = JSON.parse(line);
    } catch {
      return failure(invalidArgument("Invalid JSON payload received in this line."), "");
    }
    if (nestedDeeperThan(item, MAX_ITEM_DEPTH)) {
      return failure(
        invalidArgument(
          `Invalid JSON payload received in this line: nested deeper than ${MAX_ITEM_DEPTH} levels.`,
        ),
        "",
      );
    }
    const object = isObject(item) ? item : {};
    const tail =
      record.inputKind === "file"
        ? object.key !== undefined
          ? `,"key":${JSON.stringify(object.key)}`
          : ""
        : object.metadata !== undefined
          ? `,"metadata":${JSON.stringify(object.metadata)}`
          : "";
    const violations: Violation[] = [];
    const checked = checkItem(object.request, model, violations, this.files);
    if (checked === undefined) {
      return failure(
        violations.length > 0
          ? itemError(violations)
          : invalidArgument("* request: request is required."),
        tail,
      );
    }
    if (checked instanceof ServerApiError) return failure(checked, tail);
    const values = embedQuantized(
      checked.text,
      checked.model,
      checked.dimension,
      checked.taskType,
      checked.title,
    );
    this.events.onItems(model.id, 1, checked.tokens);
    const answer = buildJson(
      [`{"response":{"tokenCount":"${checked.tokens}","embedding":{"values":[`, `]}}${tail}}`],
      [values],
    ).toString("utf8");
    return { line: answer, failed: false };
  }

  /**
   * Writes the output of a job whose items are all answered, and marks it succeeded. The parts are
   * streamed one after the other into the output file (atomically: a temporary file, fsync,
   * rename), so memory stays flat however large the output is.
   */
  private async finish(record: JobRecord): Promise<void> {
    const files: string[] = [];
    let covered = 0;
    for (const part of await this.parts(record.id)) {
      if (part.start !== covered) continue;
      files.push(part.file);
      covered += part.count;
    }
    if (covered !== record.itemCount) {
      throw new Error(`answers cover ${covered} of ${record.itemCount} items`);
    }
    const body = concatenate(files);
    const now = Date.now();
    if (record.inputKind === "file") {
      const fileId = `batch-${record.id}`.slice(0, 64);
      await writeAtomicStream(this.files.dataPath(fileId), body);
      if (!this.files.has(fileId)) {
        await this.files.register(
          fileId,
          { displayName: `batch-${record.id}`, mimeType: "application/jsonl", source: "GENERATED" },
          now,
        );
      }
      record.responsesFile = `files/${fileId}`;
    } else {
      await writeAtomicStream(this.outputPath(record.id), body);
    }
    if (!this.records.has(record.id)) return;
    if (!this.transition(record, "BATCH_STATE_SUCCEEDED", undefined, now)) return;
    await this.save(record);
    await this.removeParts(record.id);
  }

  /** The `EmbedContentBatch` of a job, as JSON text (inline output included). */
  async batchJson(
    record: JobRecord,
    withType: boolean,
    output?: string | undefined,
  ): Promise<string> {
    const batch: EmbedContentBatch & { "@type"?: string } = {
      model: `models/${record.model}`,
      displayName: record.displayName ?? "",
      inputConfig: record.inputFileName !== undefined ? { fileName: record.inputFileName } : {},
    };
    const ordered: Record<string, unknown> = withType
      ? { "@type": TYPE_URLS.embedContentBatch }
      : {};
    Object.assign(ordered, { name: `batches/${record.id}` }, batch);
    if (record.displayName === undefined) delete ordered.displayName;
    output ??= await this.outputJson(record);
    if (output !== undefined) ordered.output = "\u0000OUTPUT\u0000";
    ordered.createTime = rfc3339(record.createdAt);
    ordered.updateTime = rfc3339(record.updatedAt);
    if (record.endedAt !== undefined) ordered.endTime = rfc3339(record.endedAt);
    const pending = TERMINAL_BATCH_STATES.has(record.state)
      ? 0
      : record.itemCount - record.successful - record.failed;
    const stats: Record<string, string> = { requestCount: String(record.itemCount) };
    if (record.successful > 0) stats.successfulRequestCount = String(record.successful);
    if (record.failed > 0) stats.failedRequestCount = String(record.failed);
    if (pending > 0) stats.pendingRequestCount = String(pending);
    ordered.batchStats = stats;
    ordered.state = record.state;
    ordered.priority = String(record.priority);
    const text = JSON.stringify(ordered);
    if (output === undefined) return text;
    // Spliced, not `replace`d: `$&` or `$'` in an item's metadata are not patterns. The last
    // occurrence: only the fields before `output` (e.g. displayName) can hold user text.
    const placeholder = '"\\u0000OUTPUT\\u0000"';
    const at = text.lastIndexOf(placeholder);
    return text.slice(0, at) + output + text.slice(at + placeholder.length);
  }

  /** The `output` of a finished job, as JSON text. */
  private async outputJson(record: JobRecord): Promise<string | undefined> {
    if (record.state !== "BATCH_STATE_SUCCEEDED") return undefined;
    if (record.responsesFile !== undefined) {
      return JSON.stringify({ responsesFile: record.responsesFile });
    }
    // Bounded at creation by `maxInlineOutputBytes`. A missing output of a succeeded job is an
    // error, not an answer without output (that would look like a job with no results).
    const text = await readFile(this.outputPath(record.id), "utf8");
    const lines = text.split("\n").filter((line) => line.length > 0);
    return `{"inlinedResponses":{"inlinedResponses":[${lines.join(",")}]}}`;
  }

  /** The long-running `Operation` of a job, as JSON text. */
  async operationJson(record: JobRecord): Promise<string> {
    // Read once: the output goes in `metadata.output` and in `response`.
    const output = await this.outputJson(record);
    const metadata = await this.batchJson(record, true, output);
    const name = JSON.stringify(`batches/${record.id}`);
    let text = `{"name":${name},"metadata":${metadata}`;
    if (TERMINAL_BATCH_STATES.has(record.state)) {
      text += `,"done":true`;
      if (record.error !== undefined) text += `,"error":${JSON.stringify(record.error)}`;
      if (output !== undefined) {
        // Both places, as the API page asks: `metadata.output` and `response`.
        text += `,"response":{"@type":"${TYPE_URLS.embedContentBatchOutput}",${output.slice(1)}`;
      }
    }
    return `${text}}`;
  }

  /** For tests: the operation as an object. */
  async operation(record: JobRecord): Promise<Operation> {
    return JSON.parse(await this.operationJson(record)) as Operation;
  }
}

/** One answered part of a job. */
interface Part {
  start: number;
  count: number;
  /** How many of its answers are errors (undefined: a part named by an older server). */
  failed: number | undefined;
  file: string;
}

/** The answer line of a failed item: its google.rpc.Status, then its key or metadata. */
function failure(error: ServerApiError, tail: string): ItemAnswer {
  return { line: `{"error":${JSON.stringify(error.toStatus())}${tail}}`, failed: true };
}

/** The failed answers of a part written by an older server (its name has no count). */
async function countFailedLines(file: string): Promise<number> {
  let failed = 0;
  for await (const line of readLines(file)) {
    if (line.length === 0) continue;
    const answer = JSON.parse(line) as { error?: unknown };
    if (answer.error !== undefined) failed++;
  }
  return failed;
}

/** The bytes of several files, one after the other. */
async function* concatenate(files: string[]): AsyncGenerator<Buffer> {
  for (const file of files) {
    yield* createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
  }
}

/**
 * Copies the non-blank lines of a JSONL file to `target` (atomically), one item a line, and
 * returns how many there are. Lines are gathered into chunks of about 1 MiB before writing.
 */
async function copyItems(source: string, target: string): Promise<number> {
  let count = 0;
  async function* items(): AsyncGenerator<string> {
    let chunk = "";
    for await (const line of readLines(source)) {
      if (line.trim().length === 0) continue;
      count++;
      chunk += `${line}\n`;
      if (chunk.length >= 1 << 20) {
        yield chunk;
        chunk = "";
      }
    }
    if (chunk.length > 0) yield chunk;
  }
  await writeAtomicStream(target, items());
  return count;
}

function checkItem(
  request: unknown,
  model: ModelInfo,
  violations: Violation[],
  files?: FileStore,
): ReturnType<typeof checkRequest> | ServerApiError {
  if (request === undefined) return undefined;
  try {
    return checkRequest(request, model, "", violations, files);
  } catch (error) {
    if (error instanceof ServerApiError) return error;
    throw error;
  }
}

/** A value as written (`-0.020785617,`), and the envelope of one inline answer, in bytes. */
const VALUE_BYTES = 13;
const INLINE_ITEM_BYTES = 100;

/** The output size an inline item asks for (its model's default when unset or invalid). */
function requestedDimension(item: unknown, model: ModelInfo): number {
  const request = isObject(item) && isObject(item.request) ? item.request : {};
  const config = request.embedContentConfig ?? request.embed_content_config;
  const sources = [request, isObject(config) ? config : {}];
  for (const source of sources) {
    const raw = source.outputDimensionality ?? source.output_dimensionality;
    const value = typeof raw === "string" ? Number(raw) : raw;
    if (typeof value === "number" && Number.isInteger(value) && value > 0) {
      return Math.min(value, model.maxDimension);
    }
  }
  return model.defaultDimension;
}

function parsePriority(value: unknown): number {
  if (value === undefined || value === null) return 0;
  const number = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== "number" || !Number.isSafeInteger(number)) {
    throw invalidArgument(
      `Invalid value at 'batch.priority' (TYPE_INT64), ${JSON.stringify(value)}`,
    );
  }
  return number;
}
