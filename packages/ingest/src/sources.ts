import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { describeType, isObject } from "gembed/internal";
import { glob, isDynamicPattern } from "tinyglobby";
import type { JsonValue, SourceDocument } from "./documents.js";
import { SourceError, type SourceIssue } from "./errors.js";

/** Options of {@link readSources}. */
export interface ReadSourcesOptions {
  /**
   * The folder ids and globs are relative to.
   * @default process.cwd()
   */
  cwd?: string;
  /**
   * What `-` reads.
   * @default process.stdin
   */
  stdin?: Readable;
  /**
   * Extensions (lowercase, with the dot) taken when walking a folder.
   * @default [".txt", ".md", ".markdown"]
   */
  folderExtensions?: string[];
}

const JSONL_EXTENSIONS = new Set([".jsonl", ".ndjson"]);
const MARKDOWN_EXTENSIONS = new Set([".md", ".markdown"]);

function toId(file: string, cwd: string): string {
  const relative = path.relative(cwd, file);
  const id = relative.startsWith("..") || path.isAbsolute(relative) ? file : relative;
  return id.split(path.sep).join("/");
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

async function readTextFile(
  file: string,
  cwd: string,
  documents: SourceDocument[],
  issues: SourceIssue[],
): Promise<void> {
  const id = toId(file, cwd);
  const bytes = await readFile(file);
  // A PDF, an image or an archive (e.g. matched by a glob) would be embedded as noise.
  if (bytes.subarray(0, 8192).includes(0)) {
    issues.push({ source: id, reason: "not a text file (binary content)" });
    return;
  }
  const text = bytes.toString("utf8");
  if (text.trim().length === 0) {
    issues.push({ source: id, reason: "empty file" });
    return;
  }
  const document: SourceDocument = { id, text, source: id };
  if (MARKDOWN_EXTENSIONS.has(path.extname(file).toLowerCase())) {
    const title = markdownTitle(text);
    if (title !== undefined) document.title = title;
  }
  documents.push(document);
}

async function readFileInput(
  file: string,
  cwd: string,
  documents: SourceDocument[],
  issues: SourceIssue[],
): Promise<void> {
  if (JSONL_EXTENSIONS.has(path.extname(file).toLowerCase())) {
    await readJsonl(createReadStream(file), toId(file, cwd), documents, issues);
  } else {
    await readTextFile(file, cwd, documents, issues);
  }
}

/**
 * Reads every input into documents, all of them before any network call:
 * - a `.txt`/`.md` file is one document whose id is its path relative to `cwd` (Markdown's first
 *   `# heading` is its title);
 * - a `.jsonl`/`.ndjson` file gives one document per line `{id, text, title?, metadata?}`;
 * - a folder gives its `.txt`/`.md` files, recursively, in path order;
 * - a glob (`docs/**\/*.md`) gives the files it matches;
 * - `-` reads standard input: JSONL when its first non-blank character is `{`, else one document
 *   with id `stdin`.
 *
 * Every problem (missing file, bad JSONL line, empty file, duplicate id) is collected and thrown
 * together as one {@link SourceError}.
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
  const documents: SourceDocument[] = [];
  const issues: SourceIssue[] = [];
  const seenFiles = new Set<string>();
  const readOnce = async (file: string) => {
    if (seenFiles.has(file)) return;
    seenFiles.add(file);
    await readFileInput(file, cwd, documents, issues);
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
    const absolute = path.resolve(cwd, input);
    const info = await stat(absolute).catch(() => undefined);
    if (info?.isFile()) {
      await readOnce(absolute);
    } else if (info?.isDirectory()) {
      const pattern = `**/*.{${extensions.map((extension) => extension.replace(/^\./, "")).join(",")}}`;
      const files = await glob(pattern, { cwd: absolute, absolute: true, onlyFiles: true });
      files.sort();
      if (files.length === 0)
        issues.push({ source: input, reason: "no .txt or .md file in folder" });
      for (const file of files) await readOnce(path.normalize(file));
    } else if (isDynamicPattern(input)) {
      const files = await glob(input, { cwd, absolute: true, onlyFiles: true });
      files.sort();
      if (files.length === 0) issues.push({ source: input, reason: "the pattern matches no file" });
      for (const file of files) await readOnce(path.normalize(file));
    } else {
      issues.push({ source: input, reason: "no such file or folder" });
    }
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
