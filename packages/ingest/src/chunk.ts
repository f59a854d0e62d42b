import { estimateTokens } from "gembed";
import { checkInteger, checkNumber } from "gembed/internal";
import type { DocumentChunk, SourceDocument } from "./documents.js";

/** Options of {@link splitText} and {@link chunkDocument}. */
export interface ChunkOptions {
  /**
   * Largest chunk, in estimated tokens (see `estimateTokens`): use the model's input limit.
   * @default 2048 (gemini-embedding-001's input limit)
   */
  maxTokens?: number | undefined;
  /**
   * Tokens repeated at the start of the next chunk, so that a sentence cut at a boundary is whole
   * in one of the two chunks.
   * @default a tenth of `maxTokens`
   */
  overlapTokens?: number | undefined;
}

const CHARS_PER_TOKEN = 4;

/** Checks chunk options and turns them into characters (4 per token). */
export function resolveChunkOptions(options: ChunkOptions): {
  maxChars: number;
  overlapChars: number;
} {
  const maxTokens = checkInteger(options.maxTokens ?? 2048, "maxTokens", 8);
  const overlapTokens = checkNumber(
    options.overlapTokens ?? Math.floor(maxTokens / 10),
    "overlapTokens",
  );
  if (!Number.isInteger(overlapTokens) || overlapTokens < 0 || overlapTokens > maxTokens / 2) {
    throw new RangeError(
      `overlapTokens must be an integer from 0 to maxTokens / 2 (${maxTokens / 2}), got ${overlapTokens}`,
    );
  }
  return { maxChars: maxTokens * CHARS_PER_TOKEN, overlapChars: overlapTokens * CHARS_PER_TOKEN };
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** The best place to end a chunk in `text[from, to)`: a paragraph, a line, a sentence, a space. */
export function findBreak(text: string, from: number, to: number): number {
  const window = text.slice(from, to);
  const candidates = [/\n\s*\n/g, /\n/g, /[.!?。！？]["')\]]?\s/g, /\s/g];
  for (const pattern of candidates) {
    let last = -1;
    for (const match of window.matchAll(pattern)) last = match.index + match[0].length;
    if (last > 0) return from + last;
  }
  // No whitespace at all: cut hard, but never between the two halves of a surrogate pair.
  return isHighSurrogate(text.charCodeAt(to - 1)) ? to - 1 : to;
}

/** The start of the word at or after `position` (so an overlap does not begin mid-word). */
export function wordStart(text: string, position: number, limit: number): number {
  if (position <= 0) return 0;
  if (/\s/.test(text[position - 1] ?? "")) return position;
  for (let index = position; index < limit; index++) {
    if (/\s/.test(text[index] ?? "")) return index + 1;
  }
  return isHighSurrogate(text.charCodeAt(position - 1)) ? position - 1 : position;
}

/**
 * Splits a text into overlapping pieces of at most `maxTokens` estimated tokens, ending each
 * piece at a paragraph, line, sentence or word boundary when one is in its second half.
 * A text within the limit comes back whole (trimmed). Empty pieces are dropped.
 *
 * @example
 * ```ts
 * splitText(longText, { maxTokens: 2048, overlapTokens: 200 }); // ["…", "…"]
 * ```
 */
export function splitText(text: string, options: ChunkOptions = {}): string[] {
  const { maxChars, overlapChars } = resolveChunkOptions(options);
  const whole = text.trim();
  if (whole.length === 0) return [];
  if (estimateTokens(whole) * CHARS_PER_TOKEN <= maxChars) return [whole];
  const pieces: string[] = [];
  let start = 0;
  while (start < whole.length) {
    const hardEnd = Math.min(start + maxChars, whole.length);
    const end =
      hardEnd === whole.length
        ? hardEnd
        : findBreak(whole, start + Math.floor(maxChars / 2), hardEnd);
    const piece = whole.slice(start, end).trim();
    if (piece.length > 0) pieces.push(piece);
    if (end >= whole.length) break;
    // Step back by the overlap, to a word start, but always move forward.
    const next = wordStart(whole, Math.max(end - overlapChars, start + 1), end);
    start = next > start ? next : end;
  }
  return pieces;
}

/**
 * Chunk options that leave room for a title: the API counts a document's title in the model's
 * input, so a chunk of `maxTokens` with a title would have its end cut off. The chunk size shrinks
 * by the title's tokens (to half of `maxTokens` at most); the overlap stays, within half a chunk.
 */
export function roomForTitle(options: ChunkOptions, title: string | undefined): ChunkOptions {
  if (title === undefined || title.length === 0) return options;
  const maxTokens = options.maxTokens ?? 2048;
  const room = Math.max(8, Math.ceil(maxTokens / 2), maxTokens - estimateTokens(title));
  if (room >= maxTokens) return options;
  const overlap = options.overlapTokens ?? Math.floor(maxTokens / 10);
  return { maxTokens: room, overlapTokens: Math.min(overlap, Math.floor(room / 2)) };
}

/**
 * Splits a document into chunks with ids derived from the document's id: the id itself when the
 * document fits, else `${id}#0`, `${id}#1`, … Each chunk's metadata carries `source`,
 * `document_id`, `chunk` and `chunks` next to the document's own metadata.
 */
export function chunkDocument(
  document: SourceDocument,
  options: ChunkOptions = {},
): DocumentChunk[] {
  const pieces = splitText(document.text, roomForTitle(options, document.title));
  return pieces.map((text, index) => {
    const chunk: DocumentChunk = {
      id: pieces.length === 1 ? document.id : `${document.id}#${index}`,
      documentId: document.id,
      index,
      count: pieces.length,
      text,
      metadata: {
        ...document.metadata,
        source: document.source,
        document_id: document.id,
        chunk: index,
        chunks: pieces.length,
      },
      source: document.source,
    };
    if (document.title !== undefined) chunk.title = document.title;
    return chunk;
  });
}
