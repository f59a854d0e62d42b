/**
 * Media parts on the local server (gemini-embedding-2): `inlineData` (base64) and `fileData`
 * referencing the server's own Files API, checked with the same rules as the client
 * (src/media-rules.ts), counted toward the token quota with the documented estimates, and turned
 * into a deterministic feature of the local model.
 *
 * The local model gives media a vector from its BYTES (a SHA-256 of them becomes one extra
 * "word" of the input): the same bytes give the same vector, inline or uploaded, and an image
 * with a caption shares the caption's words. It has no cross-modal meaning: a photo of a cat is
 * not near the text "cat". It stands in for the real model in tests and offline work only.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { type ModelInfo, modelTakesMedia } from "gembed";
import {
  checkMediaParts,
  estimateMediaTokens,
  isObject,
  type MediaPartFacts,
  readMediaFacts,
  textOnlyModelMessage,
} from "gembed/internal";
import type { FileRecord } from "./files.js";
import type { Violation } from "./requests.js";

/** What the server's media parts need of its Files API. */
export interface MediaFiles {
  /** The record of `files/{id}`; throws when there is none. */
  get(name: string): FileRecord;
  /** Where the file's bytes are. */
  dataPath(id: string): string;
}

/** The parts of one content, checked. */
export interface CheckedParts {
  /** The text parts, joined by newlines. */
  text: string;
  /** One word per media part, from its bytes' hash (appended to the text the model embeds). */
  mediaWords: string;
  /** Estimated tokens of the media parts. */
  mediaTokens: number;
  /** How many media parts. */
  mediaCount: number;
}

/** Files larger than this are not read for their header facts (pages, length). */
const MAX_FACTS_BYTES = 64 * 1024 * 1024;

/** How often a media part's word is repeated in the local model's input (its weight). */
const MEDIA_WORD_REPEAT = 16;

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function pickField(object: Record<string, unknown>, camel: string, snake: string): unknown {
  return object[camel] ?? object[snake];
}

function readBytes(path: string, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  const handle = openSync(path, "r");
  try {
    let offset = 0;
    while (offset < size) {
      const read = readSync(handle, bytes, offset, size - offset, offset);
      if (read === 0) break;
      offset += read;
    }
    return bytes.subarray(0, offset);
  } finally {
    closeSync(handle);
  }
}

/**
 * Checks the parts of one content: texts, `inlineData`/`inline_data` and `fileData`/`file_data`.
 * Problems go to `violations` under `{prefix}content`; returns the checked parts when none.
 */
export function checkContentParts(
  parts: unknown[],
  model: ModelInfo,
  prefix: string,
  violations: Violation[],
  files: MediaFiles | undefined,
): CheckedParts | undefined {
  const field = `${prefix}content`;
  const start = violations.length;
  const texts: string[] = [];
  const words: string[] = [];
  const facts: MediaPartFacts[] = [];
  for (let position = 0; position < parts.length; position++) {
    const part = parts[position];
    const at = `${field}.parts[${position}]`;
    if (!isObject(part)) {
      violations.push({ field, description: "contains an empty Part." });
      break;
    }
    if (typeof part.text === "string") {
      if (part.text.trim().length === 0) {
        violations.push({ field, description: "contains an empty Part." });
        break;
      }
      texts.push(part.text);
      continue;
    }
    const inline = pickField(part, "inlineData", "inline_data");
    const file = pickField(part, "fileData", "file_data");
    if (isObject(inline)) {
      const mimeType = pickField(inline, "mimeType", "mime_type");
      const data = inline.data;
      if (typeof mimeType !== "string" || mimeType.length === 0) {
        violations.push({ field: `${at}.inline_data.mime_type`, description: "is required." });
        continue;
      }
      if (typeof data !== "string" || data.length === 0 || !BASE64.test(data)) {
        violations.push({
          field: `${at}.inline_data.data`,
          description: "must be non-empty base64 data.",
        });
        continue;
      }
      const bytes = new Uint8Array(Buffer.from(data, "base64"));
      facts.push({ mimeType, sizeBytes: bytes.byteLength, ...readMediaFacts(bytes, mimeType) });
      words.push(`m${createHash("sha256").update(bytes).digest("hex").slice(0, 32)}`);
      continue;
    }
    if (isObject(file)) {
      const mimeType = pickField(file, "mimeType", "mime_type");
      const uri = pickField(file, "fileUri", "file_uri");
      if (typeof uri !== "string" || uri.length === 0) {
        violations.push({ field: `${at}.file_data.file_uri`, description: "is required." });
        continue;
      }
      const id = /(?:^|\/)files\/([A-Za-z0-9_-]+)$/.exec(uri)?.[1];
      let record: FileRecord | undefined;
      try {
        record = id !== undefined && files !== undefined ? files.get(id) : undefined;
      } catch {
        record = undefined;
      }
      if (record === undefined || id === undefined || files === undefined) {
        violations.push({
          field: `${at}.file_data.file_uri`,
          description: `File ${id ?? uri} does not exist or you do not have permission to access it.`,
        });
        continue;
      }
      const type = typeof mimeType === "string" && mimeType.length > 0 ? mimeType : record.mimeType;
      const bytes =
        record.sizeBytes <= MAX_FACTS_BYTES
          ? readBytes(files.dataPath(record.id), record.sizeBytes)
          : undefined;
      facts.push({
        mimeType: type,
        sizeBytes: record.sizeBytes,
        ...(bytes ? readMediaFacts(bytes, type) : {}),
      });
      // The stored hash is base64 of the hex digest: the same word as the same bytes inline.
      const hex = Buffer.from(record.sha256Hash, "base64").toString("utf8");
      words.push(`m${hex.slice(0, 32)}`);
      continue;
    }
    violations.push({ field, description: "contains an empty Part." });
    break;
  }
  if (violations.length > start) return undefined;
  if (facts.length > 0) {
    if (!modelTakesMedia(model.id)) {
      violations.push({ field, description: `${textOnlyModelMessage(model.id)}.` });
      return undefined;
    }
    for (const reason of checkMediaParts(model.id, facts)) {
      violations.push({ field, description: `${reason}.` });
    }
    if (violations.length > start) return undefined;
  }
  let mediaTokens = 0;
  for (const part of facts) mediaTokens += estimateMediaTokens(part);
  return {
    text: texts.join("\n"),
    // Each media word repeated: a media part weighs about as much as a sentence (1 + ln 16).
    mediaWords: words.map((word) => ` ${word}`.repeat(MEDIA_WORD_REPEAT)).join(""),
    mediaTokens,
    mediaCount: facts.length,
  };
}
