import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { describeType, isObject } from "gembed/internal";
import ignore, { type Ignore } from "ignore";
import { glob, isDynamicPattern } from "tinyglobby";
import type { AdaptiveReads } from "./adaptive-reads.js";
import type { JsonValue, SourceDocument } from "./documents.js";
import { SourceError, type SourceIssue } from "./errors.js";
import { filesInside } from "./symlinks.js";

/** Options of {@link readSources}. */
export interface ReadSourcesOptions {
  /**
   * The folder relative inputs and globs are resolved from (ids do not depend on it: they start
   * at the folder an input names).
   * @default process.cwd()
   */
  cwd?: string | undefined;
  /**
   * What `-` reads.
   * @default process.stdin
   */
  stdin?: Readable | undefined;
  /**
   * Extensions (lowercase, with the dot) taken when walking a folder.
   * @default [".txt", ".md", ".markdown"]
   */
  folderExtensions?: string[] | undefined;
  /**
   * Files to leave out, in `.gitignore` syntax, matched against a file's id (`*.tmp.md` at any
   * depth, `drafts/` any folder of that name, `docs/old/` that folder only).
   * @default []
   */
  exclude?: string[] | undefined;
  /**
   * When set, an empty, binary or undecodable file, or a symbolic link leading out of the folder
   * walked, is passed to this function and left out,
   * instead of being a {@link SourceError}.
   */
  onSkip?: ((issue: SourceIssue) => void) | undefined;
  /**
   * How `.txt`/`.md` files are decoded. `utf8` refuses bytes that are not UTF-8 (a
   * {@link SourceError} naming the file and the byte offset) instead of turning them into U+FFFD.
   * @default "utf8"
   */
  encoding?: "utf8" | "latin1" | undefined;
}

/**
 * Folders a folder ingest never descends into: dependencies, version control, caches and build
 * output that are never the documents a user means (hidden folders are skipped anyway).
 */
export const SKIPPED_FOLDERS = [
  "node_modules",
  "bower_components",
  "__pycache__",
  "venv",
  "site-packages",
] as const;

export const JSONL_EXTENSIONS = new Set([".jsonl", ".ndjson"]);
export const MARKDOWN_EXTENSIONS = new Set([".md", ".markdown"]);

/** A path shown to the user: relative to `cwd` when inside it, else absolute; always with `/`. */
export function toDisplay(file: string, cwd: string): string {
  const relative = path.relative(cwd, file);
  const shown = relative.startsWith("..") || path.isAbsolute(relative) ? file : relative;
  return shown.split(path.sep).join("/");
}

/**
 * A file's id, whatever the working folder: its path from the folder the input named, that
 * folder's own name first. `gembed ingest corpus`, `cd corpus && gembed ingest .` and
 * `gembed ingest /abs/corpus` all give `corpus/a.md`; a file named directly is
 * `<its folder's name>/<file name>` (so `corpus/a.md` too), and a glob's match is its path from
 * the glob's fixed part (`corpus/**\/*.md` gives `corpus/…`).
 */
export function idFrom(root: string, file: string): string {
  const relative = path.relative(path.dirname(root), file);
  return relative.split(path.sep).join("/");
}

/**
 * What the ids of the files under a folder start with: its own name and `/` (`corpus/`; `` for
 * the file system's root).
 */
export function documentIdPrefix(folder: string): string {
  const name = path.basename(path.resolve(folder));
  return name === "" ? "" : `${name}/`;
}

/** The folder a glob's fixed part names (`docs/**\/*.md` -> `docs`, `*.md` -> `.`). */
export function globBase(pattern: string): string {
  const parts = pattern.split("/");
  const fixed: string[] = [];
  for (const part of parts.slice(0, -1)) {
    if (isDynamicPattern(part)) break;
    fixed.push(part);
  }
  return fixed.length === 0 ? "." : fixed.join("/") || "/";
}

/**
 * The byte offset of the first byte that is not part of valid UTF-8 (a Latin-1 `é` is one byte
 * 0xE9 with no continuation), or -1 when all of it is valid.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let index = 0;
  while (index < bytes.length) {
    const lead = bytes[index]!;
    let length: number;
    let minimum: number;
    if (lead < 0x80) {
      index++;
      continue;
    } else if (lead >= 0xc2 && lead <= 0xdf) {
      length = 2;
      minimum = 0x80;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      minimum = 0x800;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      minimum = 0x10000;
    } else {
      return index;
    }
    if (index + length > bytes.length) return index;
    let codePoint = lead & (0xff >> (length + 1));
    for (let offset = 1; offset < length; offset++) {
      const next = bytes[index + offset]!;
      if ((next & 0xc0) !== 0x80) return index;
      codePoint = (codePoint << 6) | (next & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and values past U+10FFFF are not UTF-8 either.
    if (codePoint < minimum || (codePoint >= 0xd800 && codePoint <= 0xdfff) || codePoint > 0x10ffff)
      return index;
    index += length;
  }
  return -1;
}

/** The first Markdown `# heading`, used as the title (a title improves retrieval). */
export function markdownTitle(text: string): string | undefined {
  const match = /^#[ \t]+(.+?)[ \t#]*$/m.exec(text);
  return match?.[1]?.trim() || undefined;
}

/** What a JSON value is, for a message: `number`, `null`, `an array`, `an empty string`. */
function describe(value: unknown): string {
  return value === "" ? "an empty string" : describeType(value);
}

/**
 * Parses one JSONL line `{id, text, title?, metadata?}`; returns the document or the reason it is
 * not one.
 */
export function parseJsonlRow(line: string, source: string): SourceDocument | string {
  let row: unknown;
  try {
    row = JSON.parse(line);
  } catch {
    return "not valid JSON";
  }
  if (!isObject(row)) return "not a JSON object";
  const { id, text, title, metadata } = row;
  if (id === undefined) return '"id" is missing';
  if (
    !(typeof id === "string" && id.length > 0) &&
    !(typeof id === "number" && Number.isFinite(id))
  )
    return `"id" must be a non-empty string or a number, got ${describe(id)}`;
  if (text === undefined) return '"text" is missing';
  if (typeof text !== "string") return `"text" must be a string, got ${describe(text)}`;
  if (text.trim().length === 0) return '"text" is empty or whitespace-only';
  if (title !== undefined && title !== null && typeof title !== "string")
    return '"title" must be a string';
  if (metadata !== undefined && metadata !== null && !isObject(metadata))
    return '"metadata" must be an object';
  const document: SourceDocument = { id: String(id), text, source };
  if (typeof title === "string" && title.trim().length > 0) document.title = title;
  // Parsed from JSON, so every value in it is a JsonValue.
  if (isObject(metadata)) document.metadata = metadata as Record<string, JsonValue>;
  return document;
}

async function readJsonl(
  stream: Readable,
  name: string,
  documents: SourceDocument[],
  issues: SourceIssue[],
): Promise<void> {
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let number = 0;
  let rows = 0;
  for await (const line of lines) {
    number++;
    if (line.trim().length === 0) continue;
    rows++;
    const source = `${name}:${number}`;
    const parsed = parseJsonlRow(line, source);
    if (typeof parsed === "string") issues.push({ source, reason: parsed });
    else documents.push(parsed);
  }
  // Like an empty .txt file: most likely the wrong file, or one not written yet.
  if (rows === 0) issues.push({ source: name, reason: "no rows (empty file)" });
}

async function readStreamText(stream: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(typeof part === "string" ? Buffer.from(part) : part);
  return Buffer.concat(parts).toString("utf8");
}

interface ReadContext {
  cwd: string;
  documents: SourceDocument[];
  issues: SourceIssue[];
  /** Where a bad file (empty, binary, undecodable) goes: `issues`, or `onSkip`. */
  bad: (issue: SourceIssue) => void;
  encoding: "utf8" | "latin1";
}

async function readTextFile(file: string, id: string, context: ReadContext): Promise<void> {
  const bytes = await readFile(file);
  // A PDF, an image or an archive (e.g. matched by a glob) would be embedded as noise.
  if (bytes.subarray(0, 8192).includes(0)) {
    context.bad({ source: id, reason: "not a text file (binary content)" });
    return;
  }
  let text: string;
  if (context.encoding === "latin1") {
    text = bytes.toString("latin1");
  } else {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      // Decoded leniently, `café` in Latin-1 would be embedded as `caf\uFFFD`, silently.
      context.bad({
        source: id,
        reason: `not valid UTF-8 at byte ${firstInvalidUtf8(bytes)} (--encoding latin1 reads Latin-1 files)`,
      });
      return;
    }
  }
  if (text.trim().length === 0) {
    context.bad({ source: id, reason: "empty file" });
    return;
  }
  const document: SourceDocument = { id, text, source: id };
  if (MARKDOWN_EXTENSIONS.has(path.extname(file).toLowerCase())) {
    const title = markdownTitle(text);
    if (title !== undefined) document.title = title;
  }
  context.documents.push(document);
}

async function readFileInput(file: string, id: string, context: ReadContext): Promise<void> {
  if (JSONL_EXTENSIONS.has(path.extname(file).toLowerCase())) {
    // A JSONL row's id is its own; the file is named as the user sees it.
    await readJsonl(
      createReadStream(file),
      toDisplay(file, context.cwd),
      context.documents,
      context.issues,
    );
  } else {
    await readTextFile(file, id, context);
  }
}

/**
 * The `.gitignore` rules inside a folder: each file's patterns apply to the paths below its own
 * folder (those above the folder given are not read, so the folder gives the same files from
 * wherever it is named).
 */
export async function gitignoreRules(folder: string): Promise<{ base: string; rules: Ignore }[]> {
  const files = await glob("**/.gitignore", {
    cwd: folder,
    absolute: true,
    dot: true,
    ignore: SKIPPED_FOLDERS.map((name) => `**/${name}/**`),
  });
  const rules: { base: string; rules: Ignore }[] = [];
  for (const file of files.sort()) {
    const text = await readFile(file, "utf8").catch(() => "");
    rules.push({ base: path.dirname(path.normalize(file)), rules: ignore().add(text) });
  }
  return rules;
}

/** Whether one of the `.gitignore` rules of {@link gitignoreRules} ignores `file` (absolute). */
export function gitignored(file: string, rules: { base: string; rules: Ignore }[]): boolean {
  return rules.some(({ base, rules: folderRules }) => {
    const relative = path.relative(base, file);
    if (relative.startsWith("..") || path.isAbsolute(relative)) return false;
    return folderRules.ignores(relative.split(path.sep).join("/"));
  });
}

/**
 * Reads every input into documents, all of them before any network call:
 * - a `.txt`/`.md` file is one document (Markdown's first `# heading` is its title) whose id is
 *   `<its folder's name>/<its name>`;
 * - a `.jsonl`/`.ndjson` file gives one document per line `{id, text, title?, metadata?}`;
 * - a folder gives its `.txt`/`.md` files, recursively, in path order, with ids
 *   `<folder name>/<path inside>` whatever the working folder; hidden files and folders,
 *   {@link SKIPPED_FOLDERS} and what the folder's `.gitignore` files ignore are left out; a
 *   symbolic link whose real path leaves the folder, or that loops back to a folder holding it,
 *   is not followed (a problem like a binary file: thrown, or given to `onSkip`);
 * - a glob (`docs/**\/*.md`) gives the files it matches, ids from the glob's fixed part
 *   (`docs/…`), less what the `.gitignore` files under that part ignore and links leaving it, as
 *   in a folder;
 * - `exclude` patterns (`.gitignore` syntax) leave out the files whose id they match;
 * - `-` reads standard input: JSONL when its first non-blank character is `{`, else one document
 *   with id `stdin`.
 *
 * Every problem (missing file, bad JSONL line, empty, binary or non-UTF-8 file, duplicate id) is
 * collected and thrown together as one {@link SourceError}; with `onSkip`, an empty, binary or
 * undecodable file is given to it and left out instead.
 *
 * @example
 * ```ts
 * const documents = await readSources(["docs/", "extra.jsonl"]);
 * ```
 */
export async function readSources(
  inputs: string[],
  options: ReadSourcesOptions = {},
): Promise<SourceDocument[]> {
  if (!Array.isArray(inputs) || inputs.some((input) => typeof input !== "string")) {
    throw new TypeError("inputs must be an array of strings");
  }
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const extensions = options.folderExtensions ?? [".txt", ".md", ".markdown"];
  const excluded = ignore().add(options.exclude ?? []);
  const issues: SourceIssue[] = [];
  const onSkip = options.onSkip;
  const context: ReadContext = {
    cwd,
    documents: [],
    issues,
    bad: onSkip ?? ((issue) => issues.push(issue)),
    encoding: options.encoding ?? "utf8",
  };
  const documents = context.documents;
  const seenFiles = new Set<string>();
  const readOnce = async (file: string, root: string) => {
    if (seenFiles.has(file)) return;
    seenFiles.add(file);
    const id = idFrom(root, file);
    if (excluded.ignores(id)) return;
    await readFileInput(file, id, context);
  };
  for (const input of inputs) {
    if (input === "-") {
      const text = await readStreamText(options.stdin ?? process.stdin);
      if (text.trimStart().startsWith("{")) {
        const { Readable } = await import("node:stream");
        await readJsonl(Readable.from([text]), "stdin", documents, issues);
      } else if (text.trim().length > 0) {
        documents.push({ id: "stdin", text, source: "stdin" });
      } else {
        issues.push({ source: "stdin", reason: "empty input" });
      }
      continue;
    }
    const found = await filesOfInput(input, cwd, extensions);
    for (const issue of found.issues) issues.push(issue);
    for (const issue of found.bad) context.bad(issue);
    for (const { file, root } of found.files) await readOnce(file, root);
  }
  const seenIds = new Map<string, string>();
  for (const document of documents) {
    const first = seenIds.get(document.id);
    if (first !== undefined) {
      issues.push({
        source: document.source,
        reason: `duplicate id "${document.id}" (first in ${first})`,
      });
    } else {
      seenIds.set(document.id, document.source);
    }
  }
  if (issues.length > 0) throw new SourceError(issues);
  return documents;
}

/** What one input (a file, a folder or a glob) names: each file with the root its id is taken from. */
export interface InputFiles {
  files: { file: string; root: string }[];
  /** Problems of the input itself (no such file, an empty folder, a pattern matching nothing). */
  issues: SourceIssue[];
  /** Links not followed (out of the folder, or a loop): bad sources, like a binary file. */
  bad: SourceIssue[];
}

/**
 * The files of one input, as both passes of ingest see them (`readSources` and the streaming
 * `planSources`): a file named directly is read wherever it is; a folder gives its files with
 * `extensions` less the usual folders (`SKIPPED_FOLDERS`) and what its `.gitignore` files ignore;
 * a glob gives what it matches less what the `.gitignore` files of its fixed part ignore (as a
 * folder does), its ids taken from its fixed part. No link out of the folder (or
 * the glob's fixed part) is followed.
 */
export async function filesOfInput(
  input: string,
  cwd: string,
  extensions: readonly string[],
  reads?: AdaptiveReads,
): Promise<InputFiles> {
  const skipped = SKIPPED_FOLDERS.map((name) => `**/${name}/**`);
  const absolute = path.resolve(cwd, input);
  const info = await stat(absolute).catch(() => undefined);
  if (info?.isFile()) {
    return { files: [{ file: absolute, root: path.dirname(absolute) }], issues: [], bad: [] };
  }
  if (info?.isDirectory()) {
    const pattern = `**/*.{${extensions.map((extension) => extension.replace(/^\./, "")).join(",")}}`;
    const rules = await gitignoreRules(absolute);
    const files = (
      await glob(pattern, { cwd: absolute, absolute: true, onlyFiles: true, ignore: skipped })
    )
      .map((file) => path.normalize(file))
      .filter((file) => !gitignored(file, rules))
      .sort();
    const issues =
      files.length === 0 ? [{ source: input, reason: "no .txt or .md file in folder" }] : [];
    const checked = await filesInside(absolute, files, (file) => idFrom(absolute, file), reads);
    return {
      files: checked.inside.map((file) => ({ file, root: absolute })),
      issues,
      bad: checked.issues,
    };
  }
  if (isDynamicPattern(input)) {
    const root = path.resolve(cwd, globBase(input));
    // The .gitignore files of the glob's fixed part apply as they do to a folder: `corpus` and
    // `"corpus/**/*.md"` give the same files.
    const rules = await gitignoreRules(root);
    const files = (await glob(input, { cwd, absolute: true, onlyFiles: true, ignore: skipped }))
      .map((file) => path.normalize(file))
      .filter((file) => !gitignored(file, rules))
      .sort();
    const issues =
      files.length === 0 ? [{ source: input, reason: "the pattern matches no file" }] : [];
    const checked = await filesInside(root, files, (file) => idFrom(root, file), reads);
    return { files: checked.inside.map((file) => ({ file, root })), issues, bad: checked.issues };
  }
  return { files: [], issues: [{ source: input, reason: "no such file or folder" }], bad: [] };
}
