/**
 * Sources read as streams, for ingest at any size: a first pass over names, sizes, binary
 * sniffing, UTF-8 validity and JSONL syntax that holds no text in memory (so source problems are
 * still found before anything is paid for, and the corpus size is known for progress and ETA),
 * then a second pass that yields chunks as the files are read: JSONL line by line, a large text
 * file split as it is read, never the whole corpus at once.
 *
 * @module
 */

import { isUtf8 } from "node:buffer";
import { createWriteStream } from "node:fs";
import { mkdtemp, open, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import ignore from "ignore";
import { AdaptiveReads } from "./adaptive-reads.js";
import {
  type ChunkOptions,
  chunkDocument,
  findBreak,
  resolveChunkOptions,
  roomForTitle,
  wordStart,
} from "./chunk.js";
import type { DocumentChunk, SourceDocument } from "./documents.js";
import { SourceError, type SourceIssue } from "./errors.js";
import { FingerprintSet } from "./fingerprint-set.js";
import { InvalidUtf8Error, PieceDecoder } from "./piece-decoder.js";
import {
  filesOfInput,
  firstInvalidUtf8,
  idFrom,
  JSONL_EXTENSIONS,
  MARKDOWN_EXTENSIONS,
  markdownTitle,
  parseJsonlRow,
  type ReadSourcesOptions,
  toDisplay,
} from "./sources.js";
import { textLines } from "./text-lines.js";

/**
 * Text files at least this big are split as they are read (the first pass counts their chunks,
 * and on a rerun looks them up a group at a time); smaller ones are read whole, one at a time.
 */
export const LARGE_FILE_BYTES = 8 * 1024 * 1024;

/** Text files the first pass inspects ahead of the one it takes (see `planSources`). */
const INSPECT_AHEAD = 8;
/**
 * Files of at least this size wait for their turn: on a rerun a file under LARGE_FILE_BYTES is
 * held whole while it is looked up, so what is held ahead stays under INSPECT_AHEAD MiB.
 */
const AHEAD_BYTES = 1024 * 1024;

/** Issues kept in memory for the report; past this many, only their count. */
const MAX_ISSUES = 1_000;

/** One file the first pass found readable. */
export interface PlannedFile {
  /** Absolute path. */
  path: string;
  /** The document id (text files) or the name shown (JSONL files). */
  id: string;
  kind: "text" | "jsonl";
  bytes: number;
  /** For a large text file: its chunk count, known from the first pass. */
  chunks?: number;
  /** For a large Markdown file: the title found in its first 64 KiB. */
  title?: string;
  /**
   * Set by the first pass when every chunk of the file is stored unchanged (see
   * {@link UnchangedCheck}): the second pass does not read the file again, it counts it.
   */
  unchanged?: { documents: number; chunks: number };
}

/**
 * Tells whether every one of these chunks (one step of a file's) is stored unchanged in the
 * target: its content hash and metadata hash found under its id. Given to {@link planSources},
 * it lets the first pass mark a file whose every chunk is stored, so an unchanged rerun reads it
 * once (see `unchangedCheck` for a sink's). `compare` narrows the check to the content hash (a
 * large file's chunks looked up as it is read, before its chunk count, which is in every
 * chunk's metadata, is known) or to the metadata hash (the same chunks once it is known: their
 * texts are gone by then).
 * @default compare "all"
 */
export type UnchangedCheck = (
  chunks: DocumentChunk[],
  compare?: "all" | "content" | "metadata",
) => Promise<boolean>;

/** Chunks looked up at once by the first pass's {@link UnchangedCheck}. */
const CHECK_STEP = 256;

/** What the first pass found. */
export interface SourcePlan {
  files: PlannedFile[];
  /** Bytes of every file to read (standard input not counted). */
  bytes: number;
  /** Documents in the files (text files plus JSONL rows). */
  documents: number;
  /** Whether `-` (standard input) is read too, after the files. */
  stdin: boolean;
  /** Files left out by `onSkip` (empty, binary, not UTF-8). */
  skipped: SourceIssue[];
}

/** Options of {@link planSources} and {@link streamChunks}. */
export interface StreamSourcesOptions extends ReadSourcesOptions {
  /** How documents are split. */
  chunk?: ChunkOptions | undefined;
  /**
   * For {@link planSources} on a rerun: looks each file's chunks up as the first pass reads it
   * (text files of any size and JSONL files), and adds the document ids of a file found wholly
   * unchanged to `read` (the second pass, which skips it, would have).
   */
  unchanged?: { check: UnchangedCheck; read: FingerprintSet } | undefined;
  /**
   * How {@link planSources} reads small files (see {@link AdaptiveReads}); for tests.
   * @default synchronous until a call is slow
   */
  reads?: { sync?: boolean; slowMs?: number } | undefined;
  /**
   * Stops {@link planSources} (and the reads of {@link streamChunks}) at its next read once
   * aborted, with the signal's reason: a rerun's first pass over an unchanged corpus reads it
   * all, seconds at 2 GB, and Ctrl-C should not wait for its end.
   */
  signal?: AbortSignal | undefined;
}

class IssueList {
  readonly issues: SourceIssue[] = [];
  more = 0;
  push(issue: SourceIssue): void {
    if (this.issues.length < MAX_ISSUES) this.issues.push(issue);
    else this.more++;
  }
  error(): SourceError {
    const issues = [...this.issues];
    if (this.more > 0) issues.push({ source: "…", reason: `${this.more} more problem(s)` });
    return new SourceError(issues);
  }
}

/**
 * Splits a stream of text the way `splitText` splits the whole text (same pieces, same
 * boundaries), holding at most a few chunks of it: a piece is cut only once text that is not
 * whitespace lies past its end, so the cut sees what `splitText` would see.
 */
export async function* splitTextStream(
  parts: AsyncIterable<string>,
  options: ChunkOptions = {},
): AsyncGenerator<string> {
  const { maxChars, overlapChars } = resolveChunkOptions(options);
  let buffer = "";
  let started = false;
  const cut = function* (final: boolean): Generator<string> {
    for (;;) {
      const length = final ? buffer.length : buffer.length;
      if (length === 0) return;
      // Mid-stream, cut only with non-whitespace text past the hard end (else the trimmed whole
      // might end there, which `splitText` treats as the last piece).
      if (!final && !/\S/.test(buffer.slice(maxChars))) return;
      const hardEnd = Math.min(maxChars, buffer.length);
      const end =
        final && hardEnd === buffer.length
          ? hardEnd
          : findBreak(buffer, Math.floor(maxChars / 2), hardEnd);
      const piece = buffer.slice(0, end).trim();
      if (piece.length > 0) yield piece;
      if (end >= buffer.length) {
        buffer = "";
        return;
      }
      const next = wordStart(buffer, Math.max(end - overlapChars, 1), end);
      buffer = buffer.slice(next > 0 ? next : end);
    }
  };
  for await (const part of parts) {
    buffer += part;
    if (!started) {
      buffer = buffer.trimStart();
      if (buffer.length === 0) continue;
      started = true;
    }
    // Wait for twice a chunk before cutting, so one read gives several pieces at once.
    if (buffer.length >= maxChars * 2) yield* cut(false);
  }
  buffer = buffer.trimEnd();
  yield* cut(true);
}

/**
 * Decoded text of a file, piece by piece ({@link PieceDecoder}); invalid UTF-8 throws an
 * InvalidUtf8Error at its first byte.
 */
async function* decodeFile(
  file: string,
  encoding: "utf8" | "latin1",
  reads: AdaptiveReads,
  onBytes?: (bytes: number) => void,
): AsyncGenerator<string> {
  const decoder = new PieceDecoder(encoding, { fatal: true });
  // Each piece is decoded before the next is read (AdaptiveReads.pieces reuses its buffer).
  for await (const bytes of reads.pieces(file)) {
    const length = bytes.length;
    yield* decoder.decode(bytes);
    onBytes?.(length);
  }
  const last = decoder.end();
  if (last.length > 0) yield last;
}

/**
 * A text file under LARGE_FILE_BYTES, read whole in one go and decoded as {@link decodeFile}
 * decodes (a byte order mark dropped; invalid UTF-8 an InvalidUtf8Error at its first byte): one
 * read instead of a stream's open, reads and close, each a trip to libuv's threads.
 */
async function readSmallText(
  file: string,
  encoding: "utf8" | "latin1",
  reads: AdaptiveReads,
): Promise<{ text: string; bytes: number }> {
  return reads.readWith(file, (buffer) => {
    try {
      const decoder = new TextDecoder(encoding === "latin1" ? "latin1" : "utf-8", { fatal: true });
      return { text: decoder.decode(buffer), bytes: buffer.length };
    } catch {
      throw new InvalidUtf8Error(Math.max(firstInvalidUtf8(buffer), 0));
    }
  });
}

function invalidReason(byte: number): string {
  return `not valid UTF-8 at byte ${byte} (--encoding latin1 reads Latin-1 files)`;
}

/** ASCII white space as `\s` has it: tab, line feed, vertical tab, form feed, return, space. */
function isAsciiSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/**
 * {@link checkTextFile} for a file under LARGE_FILE_BYTES: read whole in one go, validated by
 * Node's native UTF-8 check, and decoded only when its text is needed (a rerun's lookup, or a
 * file that starts with non-ASCII bytes and might hold nothing but Unicode white space). One
 * read and no string for most files: the first pass read each in three (head, then a stream)
 * and decoded every byte.
 */
async function checkSmallTextFile(
  file: string,
  encoding: "utf8" | "latin1",
  planned: PlannedFile,
  chunk: ChunkOptions,
  check: UnchangedCheck | undefined,
  reads: AdaptiveReads,
): Promise<string | undefined> {
  // The bytes are checked (and decoded when needed) as they are read: they are not kept.
  const checked = await reads.readWith(file, (buffer): { problem?: string; text?: string } => {
    if (buffer.length === 0) return { problem: "empty file" };
    // A PDF, an image or an archive (e.g. matched by a glob) would be embedded as noise.
    if (buffer.subarray(0, 8192).includes(0)) {
      return { problem: "not a text file (binary content)" };
    }
    if (encoding === "utf8" && !isUtf8(buffer)) {
      return { problem: invalidReason(firstInvalidUtf8(buffer)) };
    }
    let first = 0;
    while (first < buffer.length && isAsciiSpace(buffer[first]!)) first++;
    if (first === buffer.length) return { problem: "empty file" };
    // Decoded as the second pass decodes it (a UTF-8 byte order mark dropped), so a rerun's
    // lookup sees the same texts.
    const decode = () => new TextDecoder(encoding === "latin1" ? "latin1" : "utf-8").decode(buffer);
    if (buffer[first]! >= 0x80) {
      const text = decode();
      return /\S/.test(text) ? { text } : { problem: "empty file" };
    }
    return check === undefined ? {} : { text: decode() };
  });
  if (checked.problem !== undefined) return checked.problem;
  if (check === undefined) return undefined;
  const text = checked.text!;
  // Chunked the way the second pass chunks it: same ids, texts, titles and metadata.
  const document: SourceDocument = { id: planned.id, text, source: planned.id };
  if (MARKDOWN_EXTENSIONS.has(path.extname(file).toLowerCase())) {
    const title = markdownTitle(text);
    if (title !== undefined) document.title = title;
  }
  const chunks = chunkDocument(document, chunk);
  let same = chunks.length > 0;
  for (let start = 0; same && start < chunks.length; start += CHECK_STEP)
    same = await check(chunks.slice(start, start + CHECK_STEP));
  if (same) planned.unchanged = { documents: 1, chunks: chunks.length };
  return undefined;
}

/** Why a text file cannot be a document (empty, binary, not UTF-8), or undefined when it can. */
async function checkTextFile(
  file: string,
  bytes: number,
  encoding: "utf8" | "latin1",
  planned: PlannedFile,
  chunk: ChunkOptions,
  check: UnchangedCheck | undefined,
  reads: AdaptiveReads,
): Promise<string | undefined> {
  if (bytes === 0) return "empty file";
  if (bytes < LARGE_FILE_BYTES) {
    return checkSmallTextFile(file, encoding, planned, chunk, check, reads);
  }
  // A PDF, an image or an archive (e.g. matched by a glob) would be embedded as noise.
  const head = Buffer.alloc(Math.min(8192, bytes));
  const handle = await open(file, "r");
  try {
    await handle.read(head, 0, head.length, 0);
  } finally {
    await handle.close();
  }
  if (head.includes(0)) return "not a text file (binary content)";
  let content = false;
  let chunks = 0;
  try {
    // The title (from the first 64 KiB) leaves room in each chunk: known before counting.
    if (MARKDOWN_EXTENSIONS.has(path.extname(file).toLowerCase())) {
      const head = Buffer.alloc(Math.min(65_536, bytes));
      const reader = await open(file, "r");
      try {
        await reader.read(head, 0, head.length, 0);
      } finally {
        await reader.close();
      }
      const found = markdownTitle(
        encoding === "latin1" ? head.toString("latin1") : head.toString("utf8"),
      );
      if (found !== undefined) planned.title = found;
    }
    // The chunk count goes into every chunk's metadata: count it now, without keeping the text.
    const parts = decodeFile(file, encoding, reads);
    const watched = (async function* () {
      for await (const part of parts) {
        if (!content && /\S/.test(part)) content = true;
        yield part;
      }
    })();
    // On a rerun the chunks are looked up as they are cut, a group at a time (one group of
    // texts held, never the file): by content first, as the count is not known yet (their
    // ids, `<id>#<index>`, are those of a file of more than one chunk, which a file with
    // groups looked up before its end is); once it is, by metadata. The file is marked
    // unchanged only when every chunk matched both: then the second pass does not read it.
    const title = planned.title;
    let same = check !== undefined;
    let group: string[] = [];
    let checked = 0;
    for await (const piece of splitTextStream(watched, roomForTitle(chunk, title))) {
      chunks++;
      if (!same) continue;
      group.push(piece);
      if (group.length < CHECK_STEP) continue;
      same = await check!(
        group.map((text, index) => fileChunk(planned.id, checked + index, 2, text, title)),
        "content",
      );
      checked += group.length;
      group = [];
    }
    if (same && chunks > 0) {
      same = await check!(
        group.map((text, index) => fileChunk(planned.id, checked + index, chunks, text, title)),
      );
      for (let start = 0; same && start < checked; start += CHECK_STEP) {
        const indexes = Array.from(
          { length: Math.min(CHECK_STEP, checked - start) },
          (_, offset) => start + offset,
        );
        same = await check!(
          indexes.map((index) => fileChunk(planned.id, index, chunks, "", title)),
          "metadata",
        );
      }
      if (same) planned.unchanged = { documents: 1, chunks };
    }
  } catch (error) {
    if (error instanceof InvalidUtf8Error) return invalidReason(error.byte);
    throw error;
  }
  if (!content) return "empty file";
  planned.chunks = chunks;
  return undefined;
}

/**
 * The first pass: resolves the inputs to files (folders, globs, `.gitignore`, `--exclude`), and
 * checks each without keeping its text: empty, binary and non-UTF-8 files (to `onSkip` when
 * given), every JSONL line's syntax and shape, duplicate ids. Throws one {@link SourceError}
 * naming every problem (the first 1,000) before anything is embedded. Standard input is not read
 * here (it can be read once only): its problems are reported as they are met.
 */
export async function planSources(
  inputs: string[],
  options: StreamSourcesOptions = {},
): Promise<SourcePlan> {
  if (!Array.isArray(inputs) || inputs.some((input) => typeof input !== "string")) {
    throw new TypeError("inputs must be an array of strings");
  }
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const extensions = options.folderExtensions ?? [".txt", ".md", ".markdown"];
  const excluded = ignore().add(options.exclude ?? []);
  const encoding = options.encoding ?? "utf8";
  const unchanged = options.unchanged;
  const issues = new IssueList();
  const plan: SourcePlan = { files: [], bytes: 0, documents: 0, stdin: false, skipped: [] };
  const bad = (issue: SourceIssue) => {
    if (options.onSkip) {
      plan.skipped.push(issue);
      options.onSkip(issue);
    } else issues.push(issue);
  };
  const ids = new FingerprintSet();
  const firstSource = new Map<string, string>();
  const seenFiles = new Set<string>();
  const addId = (id: string, source: string) => {
    if (!ids.add(id)) {
      const first = firstSource.get(id);
      issues.push({
        source,
        reason: `duplicate id "${id}"${first !== undefined ? ` (first in ${first})` : ""}`,
      });
    } else if (firstSource.size < 100_000) firstSource.set(id, source);
  };
  /** What the first pass finds of a text file, before it is taken into the plan (in order). */
  const reads = new AdaptiveReads({ ...options.reads, signal: options.signal });
  const inspectText = async (file: string, id: string, turn: Promise<void>) => {
    const info = await reads.stat(file);
    // Held in memory while it is looked up on a rerun: only small files are inspected ahead.
    if (info.size >= AHEAD_BYTES) await turn;
    const planned: PlannedFile = { path: file, id, kind: "text", bytes: info.size };
    const problem = await checkTextFile(
      file,
      info.size,
      encoding,
      planned,
      options.chunk ?? {},
      unchanged?.check,
      reads,
    );
    return { planned, problem };
  };
  type Inspection = Awaited<ReturnType<typeof inspectText>>;
  const take = async (file: string, id: string, inspection: Promise<Inspection> | undefined) => {
    if (inspection === undefined) {
      // A JSONL file, read here in order: its rows' ids go into the plan as they are met.
      const info = await stat(file);
      const name = toDisplay(file, cwd);
      let number = 0;
      let rows = 0;
      const lines = textLines(reads.pieces(file));
      // Looking the file's chunks up (a step at a time) while it may still be wholly unchanged;
      // its row ids are kept until then (one file's, for `read`).
      let same = unchanged !== undefined;
      let step: DocumentChunk[] = [];
      let documentIds: string[] = [];
      let chunkCount = 0;
      const lookUp = async () => {
        if (same && step.length > 0) same = await unchanged!.check(step);
        if (!same) documentIds = [];
        step = [];
      };
      for await (const line of lines) {
        number++;
        if (!/\S/.test(line)) continue;
        rows++;
        const source = `${name}:${number}`;
        const parsed = parseJsonlRow(line, source);
        if (typeof parsed === "string") {
          issues.push({ source, reason: parsed });
          same = false;
        } else {
          addId(parsed.id, source);
          if (same) {
            const chunks = chunkDocument(parsed, options.chunk ?? {});
            chunkCount += chunks.length;
            documentIds.push(parsed.id);
            step.push(...chunks);
            if (step.length >= CHECK_STEP) await lookUp();
          }
        }
      }
      await lookUp();
      if (rows === 0) issues.push({ source: name, reason: "no rows (empty file)" });
      const plannedJsonl: PlannedFile = { path: file, id: name, kind: "jsonl", bytes: info.size };
      if (same && rows > 0) {
        plannedJsonl.unchanged = { documents: rows, chunks: chunkCount };
        for (const id of documentIds) unchanged!.read.add(id);
      }
      plan.files.push(plannedJsonl);
      plan.documents += rows;
      plan.bytes += info.size;
      return;
    }
    const { planned, problem } = await inspection;
    if (problem !== undefined) {
      bad({ source: id, reason: problem });
      return;
    }
    addId(id, id);
    if (planned.unchanged !== undefined) unchanged!.read.add(id);
    plan.files.push(planned);
    plan.documents++;
    plan.bytes += planned.bytes;
  };
  for (const input of inputs) {
    if (input === "-") {
      plan.stdin = true;
      continue;
    }
    const found = await filesOfInput(input, cwd, extensions, reads);
    for (const issue of found.issues) issues.push(issue);
    for (const issue of found.bad) bad(issue);
    // Files taken in order (ids, duplicates and issues as before), text files inspected up to
    // INSPECT_AHEAD ahead: a file's stat, open, reads and close are each a trip to libuv's
    // threads, and one file at a time left the first pass waiting on them two thirds of its
    // time (0.7 s for 1,282 files of 64 KB). Those are synchronous on a fast disk (see
    // AdaptiveReads), where inspecting ahead costs nothing; they matter once reads are slow.
    const files = found.files
      .filter(({ file }) => {
        if (seenFiles.has(file)) return false;
        seenFiles.add(file);
        return true;
      })
      .map(({ file, root }) => ({ file, id: idFrom(root, file) }))
      .filter(({ id }) => !excluded.ignores(id));
    const inspections: (Promise<Inspection> | undefined)[] = [];
    const turns: (() => void)[] = [];
    let started = 0;
    for (const [index, { file, id }] of files.entries()) {
      for (; started < files.length && started <= index + INSPECT_AHEAD; started++) {
        const ahead = files[started]!;
        if (JSONL_EXTENSIONS.has(path.extname(ahead.file).toLowerCase())) continue;
        const turn = new Promise<void>((resolve) => {
          turns[started] = resolve;
        });
        const inspection = inspectText(ahead.file, ahead.id, turn);
        // Awaited in order below; a failure ahead is met there (not an unhandled rejection).
        inspection.catch(() => {});
        inspections[started] = inspection;
      }
      turns[index]?.();
      await reads.turn();
      try {
        await take(file, id, inspections[index]);
      } finally {
        inspections[index] = undefined;
      }
    }
  }
  if (issues.issues.length > 0) throw issues.error();
  return plan;
}

/** One chunk as the second pass yields it. */
export interface StreamedChunk {
  chunk: DocumentChunk;
  /** Bytes of source read since the chunk before (for progress). */
  bytes: number;
  unchanged?: undefined;
}

/** A file the first pass found wholly stored unchanged: counted, not read again. */
export interface StreamedUnchangedFile {
  chunk?: undefined;
  unchanged: { documents: number; chunks: number };
  /** The file's bytes (for progress). */
  bytes: number;
}

/** Hooks of {@link streamChunks}. */
export interface StreamChunksHooks {
  /**
   * Called with a problem met while reading (a file changed since the first pass, standard
   * input): with `onSkip` in the options and a file-level problem, the file is skipped; else the
   * problem is thrown as a {@link SourceError}.
   */
  onIssue?: (issue: SourceIssue) => void;
  /** Ids of every document read, to find duplicates on the way and for `--prune`. */
  read?: FingerprintSet;
}

/**
 * The second pass: yields the chunks of every planned file (and of standard input) in order, as
 * they are read. A JSONL file is read line by line; a text file under {@link LARGE_FILE_BYTES}
 * is read whole and split; a larger one is split as it is read. Holds one document (or one
 * window of a large file) at a time.
 */
export async function* streamChunks(
  plan: SourcePlan,
  options: StreamSourcesOptions = {},
  hooks: StreamChunksHooks = {},
): AsyncGenerator<StreamedChunk | StreamedUnchangedFile> {
  const chunkOptions = options.chunk ?? {};
  const encoding = options.encoding ?? "utf8";
  const read = hooks.read ?? new FingerprintSet();
  const reads = new AdaptiveReads({ ...options.reads, signal: options.signal });
  const fail = (issue: SourceIssue): never => {
    throw new SourceError([issue]);
  };
  const checkId = (id: string, source: string) => {
    if (!read.add(id)) fail({ source, reason: `duplicate id "${id}"` });
  };
  for (const file of plan.files) {
    // Its ids went to `read` in the first pass (given the same set as `hooks.read`).
    if (file.unchanged !== undefined) {
      yield { unchanged: file.unchanged, bytes: file.bytes };
      continue;
    }
    if (file.kind === "jsonl") {
      yield* jsonlChunks(reads.pieces(file.path), file.id, chunkOptions, checkId, fail);
      continue;
    }
    const markdown = MARKDOWN_EXTENSIONS.has(path.extname(file.path).toLowerCase());
    checkId(file.id, file.id);
    try {
      if (file.chunks === undefined) {
        await reads.turn();
        const { text, bytes } = await readSmallText(file.path, encoding, reads);
        const document: SourceDocument = { id: file.id, text, source: file.id };
        if (markdown) {
          const title = markdownTitle(text);
          if (title !== undefined) document.title = title;
        }
        const chunks = chunkDocument(document, chunkOptions);
        if (chunks.length === 0) {
          report({ source: file.id, reason: "empty file" }, options, hooks, fail);
          continue;
        }
        for (const [index, chunk] of chunks.entries())
          yield { chunk, bytes: index === 0 ? bytes : 0 };
      } else {
        yield* splitFileChunks(
          file.path,
          file.id,
          file.chunks,
          encoding,
          chunkOptions,
          file.title,
          reads,
        );
      }
    } catch (error) {
      if (error instanceof InvalidUtf8Error) {
        report({ source: file.id, reason: invalidReason(error.byte) }, options, hooks, fail);
        continue;
      }
      throw error;
    }
  }
  if (plan.stdin) {
    const stdin = options.stdin ?? process.stdin;
    // JSONL when its first non-blank character is `{`, else one document with id `stdin`.
    const iterator = stdin[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
    // The bytes read until one that is not whitespace, kept as read (a character cut between two
    // reads is decoded whole later).
    let head = "";
    const headParts: Buffer[] = [];
    let done = false;
    while (head.trim().length === 0) {
      const next = await iterator.next();
      if (next.done) {
        done = true;
        break;
      }
      const part = typeof next.value === "string" ? Buffer.from(next.value) : next.value;
      headParts.push(part);
      head += part.toString("utf8");
    }
    if (head.trim().length === 0) fail({ source: "stdin", reason: "empty input" });
    const rest = (async function* () {
      yield* headParts;
      if (done) return;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    })();
    if (head.trimStart().startsWith("{")) {
      yield* jsonlChunks(Readable.from(rest), "stdin", chunkOptions, checkId, fail);
    } else {
      // Plain text: spilled to a temporary file as it comes (never held whole), its chunks
      // counted there (their count is in every chunk's metadata), then split as it is read.
      checkId("stdin", "stdin");
      const folder = await mkdtemp(path.join(tmpdir(), "gembed-stdin-"));
      const spilled = path.join(folder, "stdin.txt");
      try {
        const bytes = (async function* () {
          for await (const part of rest) yield typeof part === "string" ? Buffer.from(part) : part;
        })();
        await pipeline(Readable.from(bytes), createWriteStream(spilled));
        let count: number;
        try {
          count = await countChunks(spilled, encoding, chunkOptions, reads);
          if (count === 0) fail({ source: "stdin", reason: "empty input" });
          yield* splitFileChunks(spilled, "stdin", count, encoding, chunkOptions, undefined, reads);
        } catch (error) {
          if (error instanceof InvalidUtf8Error)
            fail({ source: "stdin", reason: invalidReason(error.byte) });
          throw error;
        }
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
    }
  }
}

/** The chunks of a text file as `splitTextStream` cuts it while reading. */
async function countChunks(
  file: string,
  encoding: "utf8" | "latin1",
  chunkOptions: ChunkOptions,
  reads: AdaptiveReads,
  title?: string,
): Promise<number> {
  let count = 0;
  for await (const _piece of splitTextStream(
    decodeFile(file, encoding, reads),
    roomForTitle(chunkOptions, title),
  ))
    count++;
  return count;
}

/** Chunk `index` of `count` of a text file split as it is read (the first pass looks it up). */
function fileChunk(
  id: string,
  index: number,
  count: number,
  text: string,
  title: string | undefined,
): DocumentChunk {
  const chunk: DocumentChunk = {
    id: count === 1 ? id : `${id}#${index}`,
    documentId: id,
    index,
    count,
    text,
    metadata: { source: id, document_id: id, chunk: index, chunks: count },
    source: id,
  };
  if (title !== undefined) chunk.title = title;
  return chunk;
}

/**
 * Yields the chunks of a text file split as it is read, `count` of them (known beforehand: it is
 * in every chunk's metadata); a file that gives another count changed while it was read.
 */
async function* splitFileChunks(
  file: string,
  id: string,
  count: number,
  encoding: "utf8" | "latin1",
  chunkOptions: ChunkOptions,
  title: string | undefined,
  reads: AdaptiveReads,
): AsyncGenerator<StreamedChunk> {
  const fail = (reason: string): never => {
    throw new SourceError([{ source: id, reason }]);
  };
  let pending = 0;
  let index = 0;
  const parts = decodeFile(file, encoding, reads, (bytes) => {
    pending += bytes;
  });
  for await (const text of splitTextStream(parts, roomForTitle(chunkOptions, title))) {
    if (index >= count) fail("the file changed while it was read (more chunks)");
    yield { chunk: fileChunk(id, index, count, text, title), bytes: pending };
    pending = 0;
    index++;
  }
  if (index !== count) fail("the file changed while it was read (fewer chunks)");
}

function report(
  issue: SourceIssue,
  options: StreamSourcesOptions,
  hooks: StreamChunksHooks,
  fail: (issue: SourceIssue) => never,
): void {
  if (options.onSkip === undefined) fail(issue);
  options.onSkip(issue);
  hooks.onIssue?.(issue);
}

async function* jsonlChunks(
  stream: AsyncIterable<Uint8Array | string>,
  name: string,
  chunkOptions: ChunkOptions,
  checkId: (id: string, source: string) => void,
  fail: (issue: SourceIssue) => never,
): AsyncGenerator<StreamedChunk> {
  let number = 0;
  let rows = 0;
  for await (const line of textLines(stream)) {
    number++;
    // +1 for the newline the reader took away.
    const bytes = Buffer.byteLength(line) + 1;
    if (!/\S/.test(line)) continue;
    rows++;
    const source = `${name}:${number}`;
    const parsed = parseJsonlRow(line, source);
    if (typeof parsed === "string") fail({ source, reason: parsed });
    checkId(parsed.id, source);
    for (const [index, chunk] of chunkDocument(parsed, chunkOptions).entries())
      yield { chunk, bytes: index === 0 ? bytes : 0 };
  }
  if (rows === 0) fail({ source: name, reason: "no rows (empty file)" });
}
