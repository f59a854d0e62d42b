/**
 * The local bulk-import output at any size: rows in parts of at most {@link PART_BYTES} (part 1 is
 * the file named, e.g. `gembed.json`, then `gembed-2.json`, …), each in the JSON format Milvus's
 * bulk import reads (`{"rows":[…]}`, one row per line), with a {@link StateIndex} beside them so
 * that a rerun looks rows up by key. Nothing here holds more than one step of rows in memory.
 *
 * - Rows of each step are appended to the journal of the part being filled
 *   (`<part>.partial.jsonl`: the part's `{"rows":[` header, then one `row,` line each, one write
 *   per step), then recorded in the index: a crash loses at most the step being written.
 * - A journal that reaches the part size is sealed in place: its last `,` becomes the rows' end
 *   (one write) and it is renamed to the part, so the index's offsets stay right and no row is
 *   written twice. {@link RowParts.finish} merges a last journal into the last part when that
 *   stays under the part size, else seals it the same way. Parts that hold rows since replaced or
 *   removed are rewritten without them. Every rewrite goes through a temporary file and a rename,
 *   and a marker file says the index is being updated: a crash there rebuilds the index from the
 *   parts at the next open.
 *
 * @module
 */

import {
  closeSync,
  createReadStream,
  createWriteStream,
  fstatSync,
  openSync,
  write,
} from "node:fs";
import { open, readFile, rename, rm, stat, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import type { EmbeddingRow } from "./documents.js";
import { RowsFileError, RowsFileWriteError } from "./errors.js";
import { canonicalJson, sha256Hex } from "./hash.js";
import { jsonFloat32Bytes, jsonTextBytes } from "./json-escape.js";
import type { RowsFileInfo } from "./local-rows-file.js";
import { type IndexEntry, StateIndex } from "./state-index.js";
import { backpressureWriter } from "./stream-writer.js";

/** The largest part (bytes): big enough to be few, small enough to rewrite in seconds. */
export const PART_BYTES = 64 * 1024 * 1024;

/** The first line of a part: rows start right after it. */
const PART_HEADER = '{"rows":[\n';
const HEADER_BYTES = Buffer.byteLength(PART_HEADER);

/** What the side file `<file>.gembed.json` records. */
interface PartsInfo extends RowsFileInfo {
  /** Sealed parts. */
  parts?: number;
}

/** First 8 bytes (hex) of the SHA-256 of a row's canonical metadata. */
export function metadataHash(metadata: unknown): string {
  return sha256Hex(canonicalJson(metadata ?? {})).slice(0, 16);
}

/** The path of part `number` of the output `base` (`rows.json`, `rows-2.json`, …). */
export function partPath(base: string, number: number): string {
  if (number === 1) return base;
  const extension = path.extname(base);
  return `${base.slice(0, base.length - extension.length)}-${number}${extension}`;
}

function isRow(value: unknown): value is EmbeddingRow {
  if (typeof value !== "object" || value === null) return false;
  const row = value as Record<string, unknown>;
  return (
    typeof row.id === "string" && typeof row.content_hash === "string" && Array.isArray(row.vector)
  );
}

/** A row line of a part or journal (`{…},`, `{…} ` or `{…}`), parsed; undefined for others. */
function parseRowLine(line: string): EmbeddingRow | undefined {
  const row = classifyRowLine(line);
  return typeof row === "string" ? undefined : row;
}

/** A row line parsed, or why it is not one. */
function classifyRowLine(line: string): EmbeddingRow | string {
  const trimmed = line.trim();
  if (!trimmed.startsWith("{")) return "not a JSON row";
  const body = trimmed.endsWith(",") ? trimmed.slice(0, -1) : trimmed;
  let row: unknown;
  try {
    row = JSON.parse(body) as unknown;
  } catch (error) {
    return `not valid JSON (${(error as Error).message})`;
  }
  if (!isRow(row)) return "a JSON object without id, content_hash or vector";
  // Vectors are written as float32 values with at most 9 digits (json-escape.ts): read back as
  // the same float32s (a double written by an earlier version is a float32 already).
  const vector = row.vector;
  for (let index = 0; index < vector.length; index++) {
    const value = vector[index];
    if (typeof value === "number") vector[index] = Math.fround(value);
  }
  return row;
}

/** One row line of a file with its offset in the row body (after a part's header). */
export interface RowLine {
  row: EmbeddingRow;
  offset: number;
  /** Offset just past the line's newline. */
  end: number;
  /** 1-based line number in the file. */
  line: number;
}

/** Options of {@link readRowLines}. */
export interface ReadRowLinesOptions {
  /** A journal (`*.partial.jsonl`: rows only) rather than a sealed part (`{"rows":[` … `]}`). */
  journal: boolean;
  /**
   * Told of each journal line dropped because it is not a row (the torn last line is dropped
   * without a word: see {@link readRowLines}).
   */
  onDropped?: ((line: number, reason: string) => void) | undefined;
}

/**
 * The rows of one part or journal file, line by line, with their offsets in the row body (a
 * part's header line not counted, so a journal's offsets are its part's).
 *
 * What is not a row is handled by where it is, on purpose:
 * - a sealed part is only ever written whole (a temporary file and a rename), so a line in it
 *   that is neither its header, its `]}` end, blank, nor a row means the file was damaged or
 *   edited: a {@link RowsFileError} naming `file:line`. Skipping it would lose its row for good
 *   at the next rewrite of the part, silently; and a file that does not start with `{"rows":[`
 *   is not a gembed rows file at all;
 * - a journal is appended a step at a time, so a crash (kill -9, power loss) tears its last line:
 *   a last line without its newline is dropped, even when what it holds parses (that step is
 *   embedded again). A line before the last that is not a row (a torn write that a later run
 *   appended after, as `LocalRowsFile` does) is dropped too, and told to `onDropped`: its row was
 *   lost by the crash already, and the rows after it are kept.
 */
export async function* readRowLines(
  file: string,
  options: boolean | ReadRowLinesOptions,
): AsyncGenerator<RowLine> {
  const { journal: isJournal, onDropped } =
    typeof options === "boolean" ? { journal: options, onDropped: undefined } : options;
  // A journal's size tells whether its last line ended with its newline (readline does not).
  const size = isJournal ? (await stat(file)).size : 0;
  const lines = createInterface({
    input: createReadStream(file),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  // Offsets count from the end of the header line: a part's, and a journal's since journals
  // start with it too (one written before that had none: its offsets count from its start).
  let bodyStart = isJournal ? 0 : HEADER_BYTES;
  let headered = !isJournal;
  let position = 0;
  let number = 0;
  let ended = false;
  for await (const line of lines) {
    number++;
    const offset = position - bodyStart;
    position += Buffer.byteLength(line) + 1;
    if (number === 1 && line.trim() === PART_HEADER.trim()) {
      headered = true;
      bodyStart = position;
      continue;
    }
    if (!isJournal && number === 1)
      throw new RowsFileError(
        `${file} is not a rows file of gembed ingest (those start with {"rows":[, one row per line)`,
      );
    if (line.trim().length === 0) continue;
    // A part's end; in a journal, a seal that wrote it and did not rename the journal yet.
    if (headered && line.trim() === "]}") {
      ended = true;
      continue;
    }
    const row = ended ? "a line after the rows' closing ]}" : classifyRowLine(line);
    if (typeof row !== "string") {
      if (!isJournal || position <= size)
        yield { row, offset, end: position - bodyStart, line: number };
      continue;
    }
    if (!isJournal)
      throw new RowsFileError(
        `${file}:${number}: ${row}, where a row was expected: the file was damaged or edited. Restore it, or delete that line and the .index file beside part 1 (it is rebuilt from the parts; the next run embeds that chunk again)`,
      );
    // The torn last line of a crash: dropped without a word, as expected after kill -9.
    if (position > size) continue;
    onDropped?.(number, row);
  }
}

/** How a sealed part ends: the last row's `,` became a space, then the closing `]}`. */
const SEALED_END = " \n]}\n";

/** The last `bytes` bytes of a file (latin1; fewer when it is shorter). */
async function fileTail(file: string, bytes: number): Promise<string> {
  const handle = await open(file, "r");
  try {
    const { size } = await handle.stat();
    const length = Math.min(bytes, size);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer.toString("latin1");
  } finally {
    await handle.close();
  }
}

/** Whether a file begins with `text` (ASCII). */
async function startsWith(file: string, text: string): Promise<boolean> {
  const handle = await open(file, "r");
  try {
    const buffer = Buffer.alloc(text.length);
    const { bytesRead } = await handle.read(buffer, 0, text.length, 0);
    return bytesRead === text.length && buffer.toString("latin1") === text;
  } finally {
    await handle.close();
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

const writeToFile = promisify(write);

const lineEncoder = new TextEncoder();

/**
 * Row lines encoded into one growing buffer: `JSON.stringify(row)`'s bytes key by key, except
 * that the text's JSON is made as bytes by the WebAssembly escaper and the vector is written as
 * float32 values of at most 9 digits (json-escape.ts): the same text, and the same float32s as
 * JSON.stringify's up to 17 digits give (read back with `Math.fround`). A third of a row line's
 * bytes, and most of an ingest's main thread in them before (tested in
 * test/ingest-json-escape.test.ts).
 */
class RowEncoder {
  buffer: Buffer;
  size = 0;

  constructor(buffer: Buffer = Buffer.alloc(0)) {
    this.buffer = buffer;
  }

  room(bytes: number): void {
    if (this.size + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafeSlow(
      Math.max(this.size + bytes, this.buffer.length * 2, 64 * 1024),
    );
    this.buffer.copy(grown, 0, 0, this.size);
    this.buffer = grown;
  }

  /** encodeInto, not `buffer.write(text, size, "utf8")`: 6x faster on Node 20. */
  put(text: string): void {
    this.room(text.length * 3);
    this.size += lineEncoder.encodeInto(text, this.buffer.subarray(this.size)).written;
  }

  putBytes(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buffer.set(bytes, this.size);
    this.size += bytes.length;
  }

  row(row: EmbeddingRow): void {
    this.room(1);
    this.buffer[this.size++] = 0x7b; // {
    let first = true;
    for (const key of Object.keys(row)) {
      const value = (row as unknown as Record<string, unknown>)[key];
      if (value === undefined || typeof value === "function" || typeof value === "symbol") continue;
      this.put(`${first ? "" : ","}${JSON.stringify(key)}:`);
      first = false;
      const bytes =
        key === "text" && typeof value === "string"
          ? jsonTextBytes(value)
          : key === "vector" && Array.isArray(value)
            ? jsonFloat32Bytes(value)
            : undefined;
      if (bytes === undefined) this.put(JSON.stringify(value));
      else this.putBytes(bytes);
    }
    this.room(1);
    this.buffer[this.size++] = 0x7d; // }
  }

  /** The bytes so far, copied out (for a stream that keeps them), and the encoder emptied. */
  take(): Buffer {
    const bytes = Buffer.from(this.buffer.subarray(0, this.size));
    this.size = 0;
    return bytes;
  }
}

/** Writes all of `bytes` at the end of an append-mode file (a write may take only part). */
async function appendAll(descriptor: number, bytes: Buffer): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await writeToFile(descriptor, bytes, done, bytes.length - done);
    done += bytesWritten;
  }
}

function writeError(file: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException)?.code;
  return typeof code === "string" ? new RowsFileWriteError(file, code, error) : (error as Error);
}

/** Options of {@link RowParts.open}. */
export interface RowPartsOptions {
  /**
   * Largest part, bytes (tests use small parts; users keep the default).
   * @default PART_BYTES
   */
  partBytes?: number | undefined;
  /**
   * Told of what an unfinished run's journal held that is not a row (dropped; see
   * {@link readRowLines}).
   * @default one `gembed: warning: …` line on stderr
   */
  onWarning?: ((message: string) => void) | undefined;
}

/** A warning as the CLI prints its own (not Node's process-warning format). */
function warnOnStderr(message: string): void {
  process.stderr.write(`gembed: warning: ${message}\n`);
}

/** Reads the model-and-dim record of an output, when there is one. */
async function readInfo(infoPath: string): Promise<PartsInfo | undefined> {
  const text = await readFile(infoPath, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  let info: Partial<PartsInfo>;
  try {
    info = JSON.parse(text) as Partial<PartsInfo>;
  } catch (error) {
    throw new RowsFileError(
      `${infoPath} is not valid JSON (${(error as Error).message}); it records the model and dim of the rows beside it: write {"model":"…","dim":…} into it, or delete it and the next run records them again`,
      { cause: error },
    );
  }
  if (typeof info.model !== "string" || typeof info.dim !== "number")
    throw new RowsFileError(`${infoPath} is not a gembed rows-file record`);
  return {
    model: info.model,
    dim: info.dim,
    ...(typeof info.parts === "number" ? { parts: info.parts } : {}),
  };
}

/**
 * A local bulk-import output in parts, with its on-disk state index.
 *
 * @example
 * ```ts
 * const parts = await RowParts.open("rows.json", { model: "gemini-embedding-001", dim: 768 });
 * await parts.append(rows);
 * await parts.finish();
 * ```
 */
export class RowParts {
  /** Part 1, the file named. */
  readonly path: string;
  /** The model-and-dim record. */
  readonly infoPath: string;
  readonly #partBytes: number;
  #info: PartsInfo;
  #index!: StateIndex;
  /** Sealed parts. */
  #parts = 0;
  /** Bytes in the journal of part `#parts + 1`. */
  #journalBytes = 0;
  /**
   * The journal, open for appends from the first append of a run until it is sealed, merged or
   * the parts are closed: one open per run rather than one per step. A plain descriptor (not a
   * `FileHandle`) so that the synchronous `close()` can close it.
   */
  #journalDescriptor: number | undefined;
  /** The buffer steps are encoded into (see `append`), and whether an append is using it. */
  #scratch: Buffer = Buffer.alloc(0);
  #appending = false;
  /** Parts holding rows replaced or removed in this run: rewritten by `finish`. */
  readonly #dead = new Set<number>();
  #changed = false;
  #emptyAtOpen = false;
  /** Settles when the last append started has ended (see `append`). */
  #appendTail: Promise<void> = Promise.resolve();
  #appendedRows = 0;

  private constructor(base: string, info: PartsInfo, partBytes: number) {
    this.path = path.resolve(base);
    this.infoPath = `${this.path}.gembed.json`;
    this.#info = info;
    this.#partBytes = partBytes;
  }

  /** The part the journal fills. */
  get journalPart(): number {
    return this.#parts + 1;
  }

  /** The journal file. */
  get journalPath(): string {
    return `${partPath(this.path, this.journalPart)}.partial.jsonl`;
  }

  get #indexPath(): string {
    return `${this.path}.index`;
  }

  get #dirtyPath(): string {
    return `${this.path}.index.rebuild`;
  }

  /** Every part file written, in order. */
  get partPaths(): string[] {
    return Array.from({ length: this.#parts }, (_, index) => partPath(this.path, index + 1));
  }

  /** Model and dim. */
  get info(): RowsFileInfo {
    return { model: this.#info.model, dim: this.#info.dim };
  }

  /**
   * Opens (or starts) an output: checks model and dim against its record, finishes what a crash
   * left (a torn journal line, a part rewrite whose index update did not end), and replays the
   * journal into the index.
   */
  static async open(
    base: string,
    expect: RowsFileInfo,
    options: RowPartsOptions = {},
  ): Promise<RowParts> {
    const partBytes = options.partBytes ?? PART_BYTES;
    const probe = new RowParts(base, { ...expect }, partBytes);
    const info = await readInfo(probe.infoPath);
    if (info !== undefined && (info.model !== expect.model || info.dim !== expect.dim)) {
      throw new RowsFileError(
        `${probe.path} holds ${info.model} vectors of dim ${info.dim}; this run makes ${expect.model} vectors of dim ${expect.dim}. Use another output file.`,
      );
    }
    const parts = new RowParts(base, { ...expect }, partBytes);
    const baseInfo = await stat(parts.path).catch(() => undefined);
    if (baseInfo?.isDirectory())
      throw new RowsFileError(`${parts.path} is a folder, not a rows file`);
    parts.#parts = info?.parts ?? (baseInfo !== undefined ? 1 : 0);
    // A seal that renamed its part but did not record it.
    while (await exists(partPath(parts.path, parts.#parts + 1))) parts.#parts++;
    let rebuild = (await exists(parts.#dirtyPath)) || !(await exists(parts.#indexPath));
    // No part count recorded beside an existing file: written by `LocalRowsFile` (before parts
    // existed, or by a `--batch` run), which rewrites the file whole: the offsets are not ours.
    if (!rebuild && info?.parts === undefined && baseInfo !== undefined) rebuild = true;
    if (rebuild) await rm(parts.#indexPath, { force: true });
    try {
      parts.#index = StateIndex.open(parts.#indexPath);
    } catch {
      // Not an index (a crash while it was created, a stray file): it is only a cache of the
      // parts, so it is made again from them.
      await rm(parts.#indexPath, { force: true });
      parts.#index = StateIndex.open(parts.#indexPath);
      rebuild = true;
    }
    if (rebuild) {
      await writeFile(parts.#dirtyPath, "");
      for (let number = 1; number <= parts.#parts; number++) {
        for await (const { row, offset, line } of readRowLines(
          partPath(parts.path, number),
          false,
        )) {
          if (row.vector.length !== expect.dim) {
            throw new RowsFileError(
              `${partPath(parts.path, number)} (line ${line}) holds vectors of dim ${row.vector.length} (row ${JSON.stringify(row.id)}); this run makes dim ${expect.dim}. Use another output file.`,
            );
          }
          parts.#record(row, number, offset);
        }
      }
      await rm(parts.#dirtyPath, { force: true });
    }
    // A journal left by an unfinished run: its whole lines are rows paid for.
    const journal = parts.journalPath;
    if (await exists(journal)) {
      let dropped = 0;
      let first: { line: number; reason: string } | undefined;
      let end = await parts.#replayJournal(expect.dim, (line, reason) => {
        dropped++;
        first ??= { line, reason };
      });
      if (first !== undefined) {
        // Sealing copies the journal's bytes into a part, which must hold rows only: the
        // journal is written again without the dropped lines, and its offsets recorded again.
        await parts.#rewriteJournal();
        end = await parts.#replayJournal(expect.dim);
        (options.onWarning ?? warnOnStderr)(
          `${journal}:${first.line}: ${dropped} line(s) dropped that are not rows (${first.reason}): a write torn by a crash; the rows after them are kept`,
        );
      }
      const tail = await fileTail(journal, SEALED_END.length);
      if (tail === SEALED_END) {
        // A seal that wrote the journal's end and did not rename it: its rows are a whole part.
        await rename(journal, partPath(parts.path, parts.journalPart));
        parts.#parts++;
        await parts.#writeInfo();
        parts.#changed = true;
        return parts;
      }
      if (!(await startsWith(journal, PART_HEADER))) {
        // Left by an earlier version (rows only, or torn before its first row): given the header
        // the seal needs.
        await parts.#rewriteJournal();
        end = await parts.#replayJournal(expect.dim);
      }
      // A torn last line is cut off, so the next row starts on a line of its own.
      const size = (await stat(journal)).size;
      if (size !== HEADER_BYTES + end) await truncate(journal, HEADER_BYTES + end);
      parts.#journalBytes = end;
      if (end > 0) parts.#changed = true;
    }
    // No part and no row in a journal: nothing stored (the index's count of entries trails what
    // a killed run wrote, so it does not tell; an entry without a row is for nothing).
    parts.#emptyAtOpen = parts.#parts === 0 && parts.#journalBytes === 0;
    return parts;
  }

  /**
   * Records the journal's rows in the index; returns the offset just past its last whole row
   * line (a torn last line is not counted: see {@link readRowLines}).
   */
  async #replayJournal(
    dim: number,
    onDropped?: (line: number, reason: string) => void,
  ): Promise<number> {
    const journal = this.journalPath;
    let end = 0;
    for await (const { row, offset, end: lineEnd, line } of readRowLines(journal, {
      journal: true,
      onDropped,
    })) {
      if (row.vector.length !== dim) {
        throw new RowsFileError(
          `${journal} (line ${line}) holds vectors of dim ${row.vector.length} (row ${JSON.stringify(row.id)}); this run makes dim ${dim}. Use another output file.`,
        );
      }
      this.#record(row, this.journalPart, offset);
      end = lineEnd;
    }
    return end;
  }

  /** Writes the journal again with its row lines only (through a temporary file and a rename). */
  async #rewriteJournal(): Promise<void> {
    const journal = this.journalPath;
    const temporary = `${journal}.${process.pid}.tmp`;
    const output = createWriteStream(temporary);
    const { write, end } = backpressureWriter(output);
    try {
      await write(PART_HEADER);
      const encoder = new RowEncoder();
      for await (const { row } of readRowLines(journal, true)) {
        encoder.row(row);
        encoder.put(",\n");
        await write(encoder.take());
      }
      await end();
      await rename(temporary, journal);
    } catch (error) {
      output.destroy();
      await rm(temporary, { force: true });
      throw writeError(journal, error);
    }
  }

  #record(row: EmbeddingRow, part: number, offset: number): void {
    const before = this.#index.put(row.id, {
      contentHash: row.content_hash,
      metadataHash: metadataHash(row.metadata),
      part,
      offset,
    });
    if (before !== undefined) this.#dead.add(before);
  }

  /**
   * Sizes the index for about `entries` chunks and documents at once (from the first pass), so
   * it is not rebuilt again and again as it fills.
   */
  reserve(entries: number): void {
    this.#index.reserve(entries);
  }

  /**
   * Whether the output held no row when it was opened (no part, no row in a journal): a first
   * run. Until this run writes an id, it has no row; see `rowPartsSink`.
   */
  get emptyAtOpen(): boolean {
    return this.#emptyAtOpen;
  }

  /** Rows appended since the output was opened. */
  get appendedRows(): number {
    return this.#appendedRows;
  }

  /** The index entries of the ids that have a row. */
  lookup(ids: Iterable<string>): Map<string, IndexEntry> {
    const found = new Map<string, IndexEntry>();
    for (const id of ids) {
      const entry = this.#index.get(id);
      if (entry !== undefined) found.set(id, entry);
    }
    return found;
  }

  /** Reads one row back from its part (or the journal). */
  async readRow(entry: IndexEntry): Promise<EmbeddingRow | undefined> {
    const inJournal = entry.part === this.journalPart;
    const file = inJournal ? this.journalPath : partPath(this.path, entry.part);
    const handle = await open(file, "r");
    try {
      let position = entry.offset + HEADER_BYTES;
      const pieces: Buffer[] = [];
      for (;;) {
        const block = Buffer.alloc(64 * 1024);
        const { bytesRead } = await handle.read(block, 0, block.length, position);
        if (bytesRead === 0) break;
        const newline = block.subarray(0, bytesRead).indexOf(10);
        if (newline >= 0) {
          pieces.push(block.subarray(0, newline));
          break;
        }
        pieces.push(block.subarray(0, bytesRead));
        position += bytesRead;
      }
      return parseRowLine(Buffer.concat(pieces).toString("utf8"));
    } finally {
      await handle.close();
    }
  }

  /** The stored vectors of the ids that have a row. */
  async storedVectors(ids: string[]): Promise<Map<string, number[]>> {
    const vectors = new Map<string, number[]>();
    for (const [id, entry] of this.lookup(ids)) {
      const row = await this.readRow(entry);
      if (row !== undefined && row.id === id) vectors.set(id, row.vector);
    }
    return vectors;
  }

  /**
   * Appends a step's rows to the journal (one write) and records them in the index. Appends made
   * at once are made one after another: two writes under way at once on an append-mode file land
   * in the order the kernel takes them, which need not be the order their offsets were counted in
   * (seen once in a loaded test run).
   */
  async append(rows: EmbeddingRow[]): Promise<void> {
    const before = this.#appendTail;
    let release: () => void = () => {};
    this.#appendTail = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      await before;
      await this.#append(rows);
    } finally {
      release();
    }
  }

  async #append(rows: EmbeddingRow[]): Promise<void> {
    if (rows.length === 0) return;
    for (const row of rows) {
      if (row.vector.length !== this.#info.dim) {
        throw new RangeError(
          `row ${row.id} has ${row.vector.length} values, the file holds dim ${this.#info.dim}`,
        );
      }
    }
    // The rows are encoded straight into the buffer written, with their `,\n`: no string of a
    // row line, no joined copy of a step's rows. It is one buffer for every step, grown as needed
    // (a fresh buffer of megabytes per step was an mmap, its pages faulted in, and an munmap),
    // unless another append is using it (appends run one at a time: a guard kept all the same).
    const owns = !this.#appending;
    const encoder = new RowEncoder(owns ? this.#scratch : undefined);
    if (owns) this.#appending = true;
    const ends: number[] = [];
    const journal = this.journalPath;
    try {
      if (this.#journalDescriptor === undefined) {
        this.#journalDescriptor = openSync(journal, "a");
        // A new journal starts with the part's header, written with its first rows: sealed, it
        // becomes the part by a rename (see #seal).
        if (fstatSync(this.#journalDescriptor).size === 0) encoder.put(PART_HEADER);
      }
      const bodyStart = encoder.size;
      for (const row of rows) {
        encoder.row(row);
        encoder.put(",\n");
        ends.push(encoder.size - bodyStart);
      }
      await appendAll(this.#journalDescriptor, encoder.buffer.subarray(0, encoder.size));
    } catch (error) {
      throw writeError(journal, error);
    } finally {
      if (owns) {
        this.#scratch = encoder.buffer;
        this.#appending = false;
      }
    }
    const start = this.#journalBytes;
    let offset = start;
    for (const [index, row] of rows.entries()) {
      this.#record(row, this.journalPart, offset);
      offset = start + ends[index]!;
    }
    this.#journalBytes = offset;
    this.#appendedRows += rows.length;
    this.#changed = true;
    if (this.#journalBytes >= this.#partBytes) await this.#seal();
  }

  /**
   * Removes the rows of a document that its new chunk count no longer has (a shortened
   * document), and records that count. Returns how many rows were removed.
   */
  removeStale(documentId: string, count: number): number {
    const before = this.#index.documentChunks(documentId);
    if (before === count) return 0;
    this.#index.setDocumentChunks(documentId, count);
    if (before === undefined) return 0;
    const keep = new Set(chunkIds(documentId, count));
    let removed = 0;
    for (const id of chunkIds(documentId, before)) {
      if (keep.has(id)) continue;
      if (this.#forget(id)) removed++;
    }
    return removed;
  }

  /**
   * Records the chunk count of a document that had no row before this run (nothing to remove):
   * {@link removeStale} without its lookup.
   */
  recordDocument(documentId: string, count: number): void {
    this.#index.setDocumentChunks(documentId, count);
  }

  #forget(id: string): boolean {
    const entry = this.#index.get(id);
    if (entry === undefined) return false;
    this.#index.delete(id);
    this.#dead.add(entry.part);
    this.#changed = true;
    return true;
  }

  /**
   * Removes the rows of documents under `prefixes` that `read` does not hold (`--prune`):
   * reads every part once, row by row. Returns how many rows were removed.
   */
  async prune(prefixes: string[], read: { has(id: string): boolean }): Promise<number> {
    const gone: { id: string; documentId: string }[] = [];
    const files = [
      ...this.partPaths.map((file) => ({ file, journal: false })),
      { file: this.journalPath, journal: true },
    ];
    for (const { file, journal } of files) {
      if (!(await exists(file))) continue;
      for await (const { row } of readRowLines(file, journal)) {
        const documentId = row.metadata?.document_id;
        if (
          typeof documentId === "string" &&
          !read.has(documentId) &&
          prefixes.some((prefix) => documentId.startsWith(prefix))
        )
          gone.push({ id: row.id, documentId });
        // Forgotten in slices: the list never grows past a part's worth of ids.
        if (gone.length >= 10_000) this.#forgetAll(gone);
      }
    }
    this.#forgetAll(gone);
    return this.#removedCount;
  }

  #removedCount = 0;

  #forgetAll(gone: { id: string; documentId: string }[]): number {
    let removed = 0;
    for (const { id, documentId } of gone) {
      if (this.#forget(id)) removed++;
      this.#index.deleteDocument(documentId);
    }
    gone.length = 0;
    this.#removedCount += removed;
    return 0;
  }

  /**
   * Seals the journal into a new part: it holds the part's header and rows already, so its last
   * row's `,` becomes the end (one positioned write) and it is renamed to the part. Its offsets
   * stay right. Copying it into a new file was a second write of every row (a tenth of an
   * ingest's time, the system's writeback of it included).
   */
  async #seal(): Promise<void> {
    this.#closeJournal();
    if (this.#journalBytes === 0) return;
    const number = this.journalPart;
    const target = partPath(this.path, number);
    try {
      const handle = await open(this.journalPath, "r+");
      try {
        // Over the last `,\n`: a crash before this write leaves the journal as it was, after it a
        // sealed journal that the next open renames (see `open`).
        await handle.write(SEALED_END, HEADER_BYTES + this.#journalBytes - 2, "latin1");
      } finally {
        await handle.close();
      }
      await rename(this.journalPath, target);
    } catch (error) {
      throw writeError(target, error);
    }
    this.#parts = number;
    await this.#writeInfo();
    this.#journalBytes = 0;
  }

  async #writeInfo(): Promise<void> {
    await writeFile(
      this.infoPath,
      `${JSON.stringify({ model: this.#info.model, dim: this.#info.dim, parts: this.#parts })}\n`,
    ).catch((error: unknown) => {
      throw writeError(this.infoPath, error);
    });
  }

  /**
   * Rewrites part `number` with its rows that are still current, then the journal's when
   * `withJournal` (a merge), and records the new offsets.
   */
  async #rewrite(number: number, withJournal: boolean): Promise<void> {
    const target = partPath(this.path, number);
    const temporary = `${target}.${process.pid}.tmp`;
    await writeFile(this.#dirtyPath, "");
    const sources = [{ file: target, part: number, journal: false }];
    if (withJournal) this.#closeJournal();
    if (withJournal)
      sources.push({ file: this.journalPath, part: this.journalPart, journal: true });
    const output = createWriteStream(temporary);
    const { write, end } = backpressureWriter(output);
    try {
      await write(PART_HEADER);
      let position = 0;
      const encoder = new RowEncoder();
      let pending: Buffer | undefined;
      for (const source of sources) {
        if (!(await exists(source.file))) continue;
        for await (const { row, offset } of readRowLines(source.file, source.journal)) {
          const entry = this.#index.get(row.id);
          if (entry === undefined || entry.part !== source.part || entry.offset !== offset)
            continue;
          if (pending !== undefined) {
            await write(pending);
            await write(",\n");
            position += pending.length + 2;
          }
          encoder.row(row);
          pending = encoder.take();
          this.#index.put(row.id, { ...entry, part: number, offset: position });
        }
      }
      if (pending !== undefined) await write(pending);
      await write(pending !== undefined ? " \n]}\n" : "]}\n");
      await end();
      await rename(temporary, target);
    } catch (error) {
      output.destroy();
      await rm(temporary, { force: true });
      throw writeError(target, error);
    }
    if (withJournal) {
      await rm(this.journalPath, { force: true });
      this.#journalBytes = 0;
    }
    await rm(this.#dirtyPath, { force: true });
  }

  /**
   * Ends a run: the journal goes into the last part when it fits there, else into a part of its
   * own; parts holding replaced or removed rows are rewritten without them. Safe to call after an
   * interrupted run (what the journal holds is kept either way).
   */
  async finish(): Promise<void> {
    this.#closeJournal();
    if (!this.#changed && this.#dead.size === 0) return;
    if (this.#journalBytes > 0) {
      const last = this.#parts;
      const lastSize = last > 0 ? (await stat(partPath(this.path, last))).size : 0;
      if (last > 0 && lastSize + this.#journalBytes <= this.#partBytes) {
        await this.#rewrite(last, true);
        this.#dead.delete(last);
      } else {
        await this.#seal();
      }
    }
    for (const number of [...this.#dead].sort((left, right) => left - right)) {
      if (number >= 1 && number <= this.#parts) await this.#rewrite(number, false);
    }
    this.#dead.clear();
    await this.#writeInfo();
    this.#changed = false;
  }

  #closeJournal(): void {
    if (this.#journalDescriptor === undefined) return;
    closeSync(this.#journalDescriptor);
    this.#journalDescriptor = undefined;
  }

  /** Closes the index (and the journal, when a run ended without `finish`). */
  close(): void {
    this.#closeJournal();
    this.#index.close();
  }
}

/** The chunk ids of a document split into `count` chunks. */
export function chunkIds(documentId: string, count: number): string[] {
  return count === 1
    ? [documentId]
    : Array.from({ length: count }, (_, index) => `${documentId}#${index}`);
}

/**
 * Every current row of an output (parts, then a journal an unfinished run left), one at a time:
 * for `gembed search --file` and for Parquet, without holding the rows.
 */
export async function* streamOutputRows(base: string): AsyncGenerator<EmbeddingRow> {
  const absolute = path.resolve(base);
  const info = await readInfo(`${absolute}.gembed.json`);
  let parts = info?.parts ?? ((await exists(absolute)) ? 1 : 0);
  while (await exists(partPath(absolute, parts + 1))) parts++;
  const seen = new Set<string>();
  const files = Array.from({ length: parts }, (_, index) => ({
    file: partPath(absolute, index + 1),
    journal: false,
  }));
  files.push({ file: `${partPath(absolute, parts + 1)}.partial.jsonl`, journal: true });
  // A finished output holds each id once; a journal may hold a newer version of a row.
  const journal = files.at(-1)!;
  const newer = new Set<string>();
  if (await exists(journal.file))
    for await (const { row } of readRowLines(journal.file, true)) newer.add(row.id);
  for (const { file, journal: isJournal } of files) {
    if (!(await exists(file))) continue;
    // A journal line that is not a row is told once (the pass above read it too).
    let dropped = 0;
    let first: { line: number; reason: string } | undefined;
    const onDropped = (line: number, reason: string) => {
      dropped++;
      first ??= { line, reason };
    };
    for await (const { row } of readRowLines(file, { journal: isJournal, onDropped })) {
      if (!isJournal && newer.has(row.id)) continue;
      if (isJournal) {
        if (seen.has(row.id)) continue;
        seen.add(row.id);
      }
      yield row;
    }
    if (first !== undefined)
      warnOnStderr(
        `${file}:${first.line}: ${dropped} line(s) skipped that are not rows (${first.reason}): a write torn by a crash`,
      );
  }
}

/** Model and dim recorded beside an output, when recorded. */
export async function outputInfo(base: string): Promise<RowsFileInfo | undefined> {
  const info = await readInfo(`${path.resolve(base)}.gembed.json`);
  return info === undefined ? undefined : { model: info.model, dim: info.dim };
}
