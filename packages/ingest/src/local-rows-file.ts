import { appendFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { checkInteger } from "gembed/internal";
import { writeFileAtomic } from "gembed/node";
import type { EmbeddingRow, JsonValue } from "./documents.js";
import { RowsFileError, RowsFileWriteError } from "./errors.js";

/** What the side file `<file>.gembed.json` records about a rows file. */
export interface RowsFileInfo {
  /** The embedding model of every vector in the file. */
  model: string;
  /** The vector size of every row. */
  dim: number;
}

/** One search hit. */
export interface RowHit {
  /** Cosine similarity, from -1 to 1. */
  score: number;
  id: string;
  row: EmbeddingRow;
}

/** Options of {@link LocalRowsFile.search}. */
export interface LocalSearchOptions {
  /**
   * How many hits at most.
   * @default 10
   */
  limit?: number | undefined;
  /** Keeps only the rows this returns true for (see `compileFilter` for Milvus-style filters). */
  where?: ((row: EmbeddingRow) => boolean) | undefined;
}

interface StoredRow {
  row: EmbeddingRow;
  vector: Float32Array;
  norm: number;
}

function norm(vector: Float32Array): number {
  let sum = 0;
  for (let index = 0; index < vector.length; index++) {
    const value = vector[index]!;
    sum += value * value;
  }
  return Math.sqrt(sum);
}

function isRow(value: unknown): value is EmbeddingRow {
  if (typeof value !== "object" || value === null) return false;
  const row = value as Record<string, unknown>;
  return (
    typeof row.id === "string" &&
    typeof row.text === "string" &&
    typeof row.content_hash === "string" &&
    Array.isArray(row.vector)
  );
}

/**
 * A local file of rows in the format Milvus's bulk import reads (`{"rows":[{…},…]}`, one row per
 * line, the fields of the gembed collection schema), with what makes ingest restartable:
 *
 * - new rows are first appended to a journal `<file>.partial.jsonl` (one line per row, appended
 *   batch by batch), so a crash loses at most the batch being written;
 * - {@link LocalRowsFile.commit} merges the journal into the file through a temporary file and a
 *   rename, so the file is always whole;
 * - {@link LocalRowsFile.open} reads both, so a second run knows every row already embedded and
 *   its content hash, and embeds only what is missing or changed.
 *
 * @example
 * ```ts
 * const file = await LocalRowsFile.open("rows.json", { model: "gemini-embedding-001", dim: 768 });
 * await file.append(rows);
 * await file.commit();
 * ```
 */
export class LocalRowsFile {
  /** The rows file. */
  readonly path: string;
  /** The journal of rows not yet merged. */
  readonly journalPath: string;
  /** The side file recording model and dim. */
  readonly infoPath: string;
  #info: RowsFileInfo | undefined;
  readonly #rows = new Map<string, StoredRow>();
  #journalRows = 0;
  /** The journal line of each row read from the journal, to name it in errors. */
  readonly #journalLines = new Map<string, number>();
  /** The journal ends in a torn line (a crash mid-write): the next append starts a new line. */
  #journalTorn = false;
  /** Something to write at commit: rows appended or removed, a journal to merge, a record missing. */
  #changed = false;

  private constructor(file: string, info: RowsFileInfo | undefined) {
    this.path = path.resolve(file);
    this.journalPath = `${this.path}.partial.jsonl`;
    this.infoPath = `${this.path}.gembed.json`;
    this.#info = info;
  }

  /**
   * Opens (or starts) a rows file. With `expect`, a file written for another model or dim is a
   * {@link RowsFileError}; without it (for search), model and dim come from the file.
   */
  static async open(file: string, expect?: RowsFileInfo): Promise<LocalRowsFile> {
    if (typeof file !== "string" || file.length === 0) {
      throw new TypeError("file must be a non-empty string");
    }
    const rowsFile = new LocalRowsFile(file, undefined);
    const infoText = await readFile(rowsFile.infoPath, "utf8").catch(() => undefined);
    let info: Partial<RowsFileInfo> | undefined;
    if (infoText !== undefined) {
      try {
        info = JSON.parse(infoText) as Partial<RowsFileInfo>;
      } catch (error) {
        // JSON.parse names no file: say which one, and what to do.
        throw new RowsFileError(
          `${rowsFile.infoPath} is not valid JSON (${(error as Error).message}); it records the model and dim of ${rowsFile.path}: write {"model":"…","dim":…} into it, or delete it and the next run records them again`,
          { cause: error },
        );
      }
    }
    if (info !== undefined) {
      if (typeof info.model !== "string" || typeof info.dim !== "number") {
        throw new RowsFileError(`${rowsFile.infoPath} is not a gembed rows-file record`);
      }
      rowsFile.#info = { model: info.model, dim: info.dim };
    }
    if (expect !== undefined && rowsFile.#info !== undefined) {
      const known = rowsFile.#info;
      if (known.model !== expect.model || known.dim !== expect.dim) {
        throw new RowsFileError(
          `${rowsFile.path} holds ${known.model} vectors of dim ${known.dim}; this run makes ${expect.model} vectors of dim ${expect.dim}. Use another output file.`,
        );
      }
    }
    await rowsFile.#load();
    // A file without its model-and-dim record gets one at the next commit.
    if (info === undefined && rowsFile.#rows.size > 0) rowsFile.#changed = true;
    if (rowsFile.#info === undefined && expect !== undefined) rowsFile.#info = { ...expect };
    if (expect !== undefined) {
      for (const { row } of rowsFile.#rows.values()) {
        if (row.vector.length !== expect.dim) {
          // Name the file the row is in: the journal may hold it while the rows file does not exist.
          const where = rowsFile.#journalLines.get(row.id);
          const file =
            where === undefined ? rowsFile.path : `${rowsFile.journalPath} (line ${where})`;
          throw new RowsFileError(
            `${file} holds vectors of dim ${row.vector.length} (row ${JSON.stringify(row.id)}); this run makes dim ${expect.dim}. Use another output file.`,
          );
        }
      }
    }
    return rowsFile;
  }

  async #load(): Promise<void> {
    const text = await readFile(this.path, "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      if (error.code === "EISDIR")
        throw new RowsFileError(`${this.path} is a folder, not a rows file`, { cause: error });
      throw error;
    });
    if (text !== undefined && text.trim().length > 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new RowsFileError(`${this.path} is not valid JSON`);
      }
      const rows = Array.isArray(parsed) ? parsed : (parsed as { rows?: unknown })?.rows;
      if (!Array.isArray(rows)) {
        throw new RowsFileError(`${this.path} is not a bulk-import file ({"rows":[…]})`);
      }
      for (const row of rows) {
        if (!isRow(row))
          throw new RowsFileError(
            `${this.path} holds a row without id, text, content_hash or vector`,
          );
        this.#put(row);
      }
    }
    const journal = await readFile(this.journalPath, "utf8").catch(() => "");
    this.#journalTorn = journal.length > 0 && !journal.endsWith("\n");
    // A journal left by an unfinished run is merged (and removed) at the next commit.
    if (journal.length > 0) this.#changed = true;
    // A crash can leave a torn last line: every whole line counts, a torn one is dropped.
    let lineNumber = 0;
    for (const line of journal.split("\n")) {
      lineNumber++;
      if (line.trim().length === 0) continue;
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch {
        continue;
      }
      if (isRow(row)) {
        this.#put(row);
        this.#journalLines.set(row.id, lineNumber);
        this.#journalRows++;
      }
    }
  }

  #put(row: EmbeddingRow): void {
    const vector = Float32Array.from(row.vector);
    this.#rows.set(row.id, { row, vector, norm: norm(vector) });
  }

  /** Model and dim of the file, when known. */
  get info(): RowsFileInfo | undefined {
    return this.#info === undefined ? undefined : { ...this.#info };
  }

  /** How many rows (file and journal). */
  get size(): number {
    return this.#rows.size;
  }

  /** Rows waiting in the journal (left by an unfinished run, or appended and not committed). */
  get pendingRows(): number {
    return this.#journalRows;
  }

  /** Content hashes of the rows that exist among `ids`. */
  contentHashes(ids: Iterable<string>): Map<string, string> {
    const hashes = new Map<string, string>();
    for (const id of ids) {
      const stored = this.#rows.get(id);
      if (stored !== undefined) hashes.set(id, stored.row.content_hash);
    }
    return hashes;
  }

  /** The row with this id. */
  get(id: string): EmbeddingRow | undefined {
    return this.#rows.get(id)?.row;
  }

  /** Every row, in insertion order. */
  rows(): EmbeddingRow[] {
    return [...this.#rows.values()].map((stored) => stored.row);
  }

  /**
   * Appends rows to the journal (one `write` per call, so a crash tears at most this batch) and
   * makes them visible to this object.
   */
  async append(rows: EmbeddingRow[]): Promise<void> {
    if (rows.length === 0) return;
    for (const row of rows) {
      if (this.#info !== undefined && row.vector.length !== this.#info.dim) {
        throw new RangeError(
          `row ${row.id} has ${row.vector.length} values, the file holds dim ${this.#info.dim}`,
        );
      }
    }
    await mkdir(path.dirname(this.path), { recursive: true });
    // After a torn last line, a newline first: else the first new row would be glued to it and
    // dropped by the next open.
    const separator = this.#journalTorn ? "\n" : "";
    await appendFile(
      this.journalPath,
      `${separator}${rows.map((row) => JSON.stringify(row)).join("\n")}\n`,
    ).catch((error: unknown) => {
      throw writeError(this.journalPath, error);
    });
    this.#journalTorn = false;
    for (const row of rows) this.#put(row);
    this.#journalRows += rows.length;
    this.#changed = true;
  }

  /** Drops rows (e.g. the chunks a shortened document no longer has); takes effect at commit. */
  remove(ids: Iterable<string>): number {
    let removed = 0;
    for (const id of ids) if (this.#rows.delete(id)) removed++;
    if (removed > 0) this.#changed = true;
    return removed;
  }

  /**
   * Writes every row to the file through a temporary file and a rename (the file is never seen
   * half written), records model and dim beside it, then deletes the journal. Writes nothing when
   * nothing changed since the file was opened or last committed (a run that found every row
   * unchanged leaves the file as it was; a run that embedded nothing creates no file).
   */
  async commit(): Promise<void> {
    if (!this.#changed) return;
    await mkdir(path.dirname(this.path), { recursive: true });
    const rows = this.#rows;
    // Written row by row: a large file never has to be one string in memory.
    await writeFileAtomic(
      this.path,
      (function* () {
        yield '{"rows":[\n';
        let first = true;
        for (const { row } of rows.values()) {
          yield `${first ? "" : ",\n"}${JSON.stringify(row)}`;
          first = false;
        }
        yield "\n]}\n";
      })(),
    ).catch((error: unknown) => {
      throw writeError(this.path, error);
    });
    if (this.#info !== undefined) {
      await writeFile(this.infoPath, `${JSON.stringify(this.#info)}\n`).catch((error: unknown) => {
        throw writeError(this.infoPath, error);
      });
    }
    await rm(this.journalPath, { force: true });
    this.#journalRows = 0;
    this.#journalTorn = false;
    this.#changed = false;
  }

  /** Deletes the file, its journal and its side file (e.g. once every row it held is elsewhere). */
  async delete(): Promise<void> {
    await rm(this.path, { force: true });
    await rm(this.journalPath, { force: true });
    await rm(this.infoPath, { force: true });
    this.#rows.clear();
    this.#journalRows = 0;
    this.#journalTorn = false;
    this.#changed = false;
  }

  /**
   * Exact cosine search: scores every row against `query` and returns the best `limit`, best
   * first.
   */
  search(query: Float32Array | number[], options: LocalSearchOptions = {}): RowHit[] {
    const limit = checkInteger(options.limit ?? 10, "limit", 1);
    const vector = query instanceof Float32Array ? query : Float32Array.from(query);
    const queryNorm = norm(vector);
    const hits: RowHit[] = [];
    for (const stored of this.#rows.values()) {
      if (stored.vector.length !== vector.length) {
        throw new RangeError(
          `the query has ${vector.length} values, row ${stored.row.id} has ${stored.vector.length}`,
        );
      }
      if (options.where !== undefined && !options.where(stored.row)) continue;
      let dot = 0;
      for (let index = 0; index < vector.length; index++)
        dot += vector[index]! * stored.vector[index]!;
      const denominator = queryNorm * stored.norm;
      hits.push({
        score: denominator === 0 ? 0 : dot / denominator,
        id: stored.row.id,
        row: stored.row,
      });
    }
    hits.sort((left, right) => right.score - left.score || (left.id < right.id ? -1 : 1));
    return hits.slice(0, limit);
  }
}

/** A write error that names the file, or the error itself when it is no system error. */
function writeError(file: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException)?.code;
  return typeof code === "string" ? new RowsFileWriteError(file, code, error) : (error as Error);
}

/** A field value of a row, for filters: `id`, `text`, `title`, `content_hash`, `metadata`. */
export function rowField(row: EmbeddingRow, name: string): JsonValue | undefined {
  switch (name) {
    case "id":
      return row.id;
    case "text":
      return row.text;
    case "title":
      return row.title;
    case "content_hash":
      return row.content_hash;
    case "metadata":
      return row.metadata;
    default:
      return undefined;
  }
}
