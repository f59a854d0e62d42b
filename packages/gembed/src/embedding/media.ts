/**
 * Media inputs of `GeminiEmbeddingFunction` (gemini-embedding-2): bytes, an already uploaded
 * file, and a deliberate multi-part input. Each input becomes exactly ONE request (one
 * `Content`), so it gives exactly one vector; parts are aggregated only inside one input.
 *
 * Every input is checked against the model's rules (src/media-rules.ts) before any call. Media
 * goes inline (base64) when its request fits one call, else through the Files API (`fileData`);
 * uploads are cached by content hash per embedding function, so a retry or a resumed call never
 * uploads the same bytes twice.
 *
 * No `node:` import here: reading a path is the Node-only helper `media-node.ts`.
 *
 * @module
 */

import type { EmbedContentRequest, Part, TaskType } from "../api/types.js";
import type { BatchApiEmbedder } from "../batch/encode-batch.js";
import type { GeminiClient } from "../client/gemini-client.js";
import { type InputIssue, InvalidInputError, InvalidResponseError } from "../errors.js";
import {
  bytesMatchMimeType,
  checkMediaParts,
  estimateMediaTokens,
  type MediaPartFacts,
  modalityOf,
  modelTakesMedia,
  readMediaFacts,
  textOnlyModelMessage,
} from "../media-rules.js";
import { estimateTokens } from "../tokens.js";
import { describeType, isObject } from "../util/objects.js";
import { type ChunkItem, requestBytes } from "./chunking.js";
import type { EmbeddingRequests } from "./requests.js";
import {
  checkInput,
  type DocumentInput,
  type InputKind,
  type NormalizedInput,
} from "./validation.js";

/** Media bytes with their MIME type (e.g. `image/png`). */
export interface MediaBytes {
  mimeType: string;
  data: Uint8Array;
}

/** One image, PDF, audio clip or video, given as bytes: one vector. */
export interface MediaInput {
  media: MediaBytes;
}

/** A file already on the Files API (`uri` and `mimeType` of its `File`): one vector. */
export interface UploadedFileInput {
  fileUri: string;
  mimeType: string;
}

/** One part of a {@link PartsInput}. */
export type PartInput = string | { text: string } | MediaInput | UploadedFileInput;

/**
 * Several parts embedded together into ONE vector (e.g. a product photo with its description).
 * The first text part gets the task prompt a text input gets.
 */
export interface PartsInput {
  parts: PartInput[];
}

/** A media or multi-part input (gemini-embedding-2). */
export type MultimodalInput = MediaInput | UploadedFileInput | PartsInput;

/** Anything `encodeDocuments` and `encode` take: a text, `{ text, title }`, or a multimodal input. */
export type EmbeddingInput = DocumentInput | MultimodalInput;

/**
 * A media input that breaks the model's rules (MIME type, count, pages, length, size, or a
 * text-only model): `issues` names each input index, found before any network call.
 */
export class InvalidMediaInputError extends InvalidInputError {
  override name = "InvalidMediaInputError";
}

/** Whether an input is a media or multi-part input (not a text or `{ text, title }`). */
export function isMultimodalInput(input: unknown): input is MultimodalInput {
  return isObject(input) && ("media" in input || "fileUri" in input || "parts" in input);
}

/** The uploads of one embedding function, by content hash and MIME type. */
export class UploadCache {
  readonly #entries = new Map<string, Promise<{ fileUri: string; expiresAt: number }>>();
  /** Uploads actually sent (for tests and progress). */
  uploads = 0;

  /**
   * The URI of these bytes on the Files API, uploading them only when not already uploaded (or
   * when the earlier upload expires within the hour). `data` may be a path (Node): the file is
   * then streamed, never read whole into memory; `hash` is the SHA-256 (hex) of its bytes. Concurrent callers share one upload; a
   * failed upload is forgotten so the next call tries again.
   */
  async fileUriOf(
    client: GeminiClient,
    media: { mimeType: string; data: Uint8Array | string },
    hash: string,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const key = `${hash} ${media.mimeType}`;
    const cached = this.#entries.get(key);
    if (cached !== undefined) {
      try {
        const entry = await cached;
        if (entry.expiresAt > Date.now() + 3_600_000) return entry.fileUri;
      } catch {
        // The earlier upload failed: upload again below.
      }
    }
    const upload = (async () => {
      this.uploads++;
      const options: { signal?: AbortSignal } = {};
      if (signal) options.signal = signal;
      const file = await client.files.upload(
        media.data,
        { mimeType: media.mimeType, displayName: `gembed-${hash.slice(0, 16)}` },
        options,
      );
      if (typeof file.uri !== "string" || file.uri.length === 0) {
        throw new InvalidResponseError("files.upload answered a File without a uri.");
      }
      const expires = file.expirationTime ? Date.parse(file.expirationTime) : Number.NaN;
      return {
        fileUri: file.uri,
        expiresAt: Number.isFinite(expires) ? expires : Date.now() + 47 * 3_600_000,
      };
    })();
    this.#entries.set(key, upload);
    try {
      return (await upload).fileUri;
    } catch (error) {
      if (this.#entries.get(key) === upload) this.#entries.delete(key);
      throw error;
    }
  }
}

/** A part checked: text, media bytes (with their hash, filled later), or an uploaded file. */
type CheckedPart =
  | { kind: "text"; text: string }
  | { kind: "bytes"; media: MediaBytes; facts: MediaPartFacts }
  | { kind: "file"; fileUri: string; mimeType: string; facts: MediaPartFacts };

function checkMediaBytes(value: unknown, field: string, issues: InputIssue[], index: number) {
  if (!isObject(value)) {
    issues.push({
      index,
      field,
      reason: `expected { mimeType, data }, got ${describeType(value)}`,
    });
    return undefined;
  }
  const { mimeType, data } = value as { mimeType?: unknown; data?: unknown };
  if (typeof mimeType !== "string" || mimeType.length === 0) {
    issues.push({ index, field: `${field}.mimeType`, reason: "must be a non-empty string" });
    return undefined;
  }
  if (!(data instanceof Uint8Array)) {
    issues.push({
      index,
      field: `${field}.data`,
      reason: `must be a Uint8Array, got ${describeType(data)}`,
    });
    return undefined;
  }
  if (data.byteLength === 0) {
    issues.push({ index, field: `${field}.data`, reason: "is empty" });
    return undefined;
  }
  if (modalityOf(mimeType) !== undefined && !bytesMatchMimeType(data, mimeType)) {
    issues.push({
      index,
      field,
      reason: `the bytes are not ${mimeType} (their header says otherwise)`,
    });
    return undefined;
  }
  const facts: MediaPartFacts = {
    mimeType,
    sizeBytes: data.byteLength,
    ...readMediaFacts(data, mimeType),
  };
  return { kind: "bytes" as const, media: { mimeType, data }, facts };
}

function checkPart(
  value: unknown,
  field: string,
  issues: InputIssue[],
  index: number,
): CheckedPart | undefined {
  if (typeof value === "string") {
    if (value.trim().length === 0) {
      issues.push({ index, field, reason: "empty or whitespace-only text" });
      return undefined;
    }
    return { kind: "text", text: value };
  }
  if (!isObject(value)) {
    issues.push({
      index,
      field,
      reason: `expected a text or media part, got ${describeType(value)}`,
    });
    return undefined;
  }
  const at = (name: string) => (field === "" ? name : `${field}.${name}`);
  if ("media" in value) return checkMediaBytes(value.media, at("media"), issues, index);
  if ("fileUri" in value) {
    const { fileUri, mimeType } = value as { fileUri?: unknown; mimeType?: unknown };
    if (typeof fileUri !== "string" || fileUri.trim().length === 0) {
      issues.push({ index, field: at("fileUri"), reason: "must be a non-empty string" });
      return undefined;
    }
    if (typeof mimeType !== "string" || mimeType.length === 0) {
      issues.push({ index, field: at("mimeType"), reason: "must be a non-empty string" });
      return undefined;
    }
    return { kind: "file", fileUri, mimeType, facts: { mimeType } };
  }
  if ("text" in value) {
    const text = (value as { text?: unknown }).text;
    if (typeof text !== "string" || text.trim().length === 0) {
      issues.push({ index, field: at("text"), reason: "empty or not a string" });
      return undefined;
    }
    return { kind: "text", text };
  }
  issues.push({
    index,
    field,
    reason: "expected a text, { text }, { media } or { fileUri, mimeType }",
  });
  return undefined;
}

/** Checks one multimodal input; returns its parts, or undefined with issues pushed. */
function checkMultimodal(
  input: MultimodalInput,
  index: number,
  model: string,
  issues: InputIssue[],
): CheckedPart[] | undefined {
  const before = issues.length;
  let parts: CheckedPart[] = [];
  if ("parts" in input) {
    const raw = (input as { parts: unknown }).parts;
    if (!Array.isArray(raw) || raw.length === 0) {
      issues.push({ index, field: "parts", reason: "must be a non-empty array" });
      return undefined;
    }
    raw.forEach((part, position) => {
      const checked = checkPart(part, `parts[${position}]`, issues, index);
      if (checked) parts.push(checked);
    });
  } else {
    const checked = checkPart(input, "", issues, index);
    parts = checked ? [checked] : [];
  }
  if (issues.length > before) return undefined;
  const media = parts.flatMap((part) => (part.kind === "text" ? [] : [part.facts]));
  if (media.length > 0 && !modelTakesMedia(model)) {
    issues.push({ index, reason: textOnlyModelMessage(model) });
    return undefined;
  }
  for (const reason of checkMediaParts(model, media)) issues.push({ index, reason });
  return issues.length > before ? undefined : parts;
}

async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Base64 with web globals only (the core has no `Buffer`): `btoa` over 32 KiB slices. */
function base64(data: Uint8Array): string {
  const parts: string[] = [];
  // A multiple of 3 bytes per slice, so the slices' base64 join without padding in between.
  const step = 3 * 10_923;
  for (let offset = 0; offset < data.byteLength; offset += step) {
    parts.push(btoa(String.fromCharCode(...data.subarray(offset, offset + step))));
  }
  return parts.join("");
}

/** What {@link prepareMultimodalItems} needs from the embedding function. */
export interface MultimodalContext {
  /** The model id, without `models/`. */
  model: string;
  client: GeminiClient;
  uploads: UploadCache;
  /** Most bytes of JSON per call: a request over it sends its media through the Files API. */
  maxBytesPerCall: number;
  /** The chunk item of a text input (the function's own, so text inputs stay identical). */
  textItem: (input: NormalizedInput, index: number) => ChunkItem;
  /** The request of a text with the task (used for the first text part of a multi-part input). */
  textRequest: (text: string) => EmbedContentRequest;
  signal?: AbortSignal | undefined;
}

/** Inputs prepared (and uploads in flight) at once. */
const UPLOAD_CONCURRENCY = 8;

/** `{"requests":[` and `]}`, and a little room, around one request. */
const ENVELOPE_ROOM = 64;

/**
 * Checks every input (texts with the text rules, media with the model's media rules) and throws
 * {@link InvalidMediaInputError} naming every bad index before any call; then builds one request
 * per input, uploading media whose request would not fit one call. Returns one chunk item per
 * input, in input order.
 */
export async function prepareMultimodalItems(
  inputs: readonly unknown[],
  kind: InputKind,
  context: MultimodalContext,
): Promise<ChunkItem[]> {
  const issues: InputIssue[] = [];
  const checked: ({ text: NormalizedInput } | { parts: CheckedPart[] } | undefined)[] = [];
  for (let index = 0; index < inputs.length; index++) {
    const input = inputs[index];
    if (kind !== "queries" && isMultimodalInput(input)) {
      const parts = checkMultimodal(input, index, context.model, issues);
      checked.push(parts ? { parts } : undefined);
    } else {
      const text = checkInput(input, index, kind, issues);
      checked.push(text ? { text } : undefined);
    }
  }
  if (issues.length > 0) throw new InvalidMediaInputError(issues, kind);

  // Requests are built a few at a time: an input over the call limit waits for its upload, and
  // uploads of different inputs overlap (the Files API takes one file per upload).
  const items = new Array<ChunkItem | undefined>(checked.length);
  let next = 0;
  const worker = async () => {
    while (next < checked.length) {
      const index = next++;
      const entry = checked[index];
      if (entry === undefined) continue;
      items[index] =
        "text" in entry
          ? context.textItem(entry.text, index)
          : await buildItem(entry.parts, index, context);
    }
  };
  await Promise.all(Array.from({ length: Math.min(UPLOAD_CONCURRENCY, checked.length) }, worker));
  return items.filter((item): item is ChunkItem => item !== undefined);
}

async function buildItem(
  parts: CheckedPart[],
  index: number,
  context: MultimodalContext,
): Promise<ChunkItem> {
  const firstText = parts.findIndex((part) => part.kind === "text");
  // The task prompt (and, for models with a task type, taskType and title) of a text input.
  const base = context.textRequest(
    firstText >= 0 ? (parts[firstText] as { text: string }).text : "media",
  );
  let tokens = 0;
  const wire: Part[] = [];
  for (let position = 0; position < parts.length; position++) {
    const part = parts[position] as CheckedPart;
    if (part.kind === "text") {
      const text = position === firstText ? (base.content.parts[0]?.text ?? part.text) : part.text;
      wire.push({ text });
      tokens += estimateTokens(text);
    } else if (part.kind === "file") {
      wire.push({ fileData: { mimeType: part.mimeType, fileUri: part.fileUri } });
      tokens += estimateMediaTokens(part.facts);
    } else {
      wire.push({ inlineData: { mimeType: part.media.mimeType, data: base64(part.media.data) } });
      tokens += estimateMediaTokens(part.facts);
    }
  }
  const request: EmbedContentRequest = { ...base, content: { parts: wire } };
  if (firstText < 0) {
    // A media-only input: no text is invented for it (docs/multimodal.md, "Task for media").
    delete request.taskType;
    delete request.title;
  }
  let bytes = requestJsonBytes(request);
  if (bytes + ENVELOPE_ROOM > context.maxBytesPerCall) {
    // Too big for one call inline: send the media through the Files API, biggest first, until
    // the request fits.
    const order = parts
      .map((part, position) => ({ part, position }))
      .filter((entry) => entry.part.kind === "bytes")
      .sort(
        (left, right) =>
          (right.part as { media: MediaBytes }).media.data.byteLength -
          (left.part as { media: MediaBytes }).media.data.byteLength,
      );
    for (const { part, position } of order) {
      if (bytes + ENVELOPE_ROOM <= context.maxBytesPerCall) break;
      const media = (part as { media: MediaBytes }).media;
      const hash = await sha256Hex(media.data);
      const fileUri = await context.uploads.fileUriOf(context.client, media, hash, context.signal);
      wire[position] = { fileData: { mimeType: media.mimeType, fileUri } };
      bytes = requestJsonBytes(request);
    }
  }
  return { index, request, bytes, tokens };
}

function requestJsonBytes(request: EmbedContentRequest): number {
  return requestBytes(request);
}

/** What {@link multimodalBatchEmbedder} needs of `GeminiEmbeddingFunction`. */
interface BatchCapableFunction {
  readonly modelName: string;
  readonly client: GeminiClient;
  readonly uploads: UploadCache;
  encode(
    texts: EmbeddingInput[],
    options: { taskType: TaskType; signal?: AbortSignal | undefined },
  ): Promise<Float32Array[]>;
}

/**
 * The embedder the Batch API path uses for inputs holding media: every input checked first, every
 * media part uploaded (a JSONL line carries `fileData` references, never megabytes of base64),
 * then `buildRequest` answers the prepared request of each multimodal input. Text inputs keep the
 * function's own request (`requests`), so they give the same vectors as in a text-only job.
 */
export async function multimodalBatchEmbedder(
  embedding: BatchCapableFunction,
  requests: EmbeddingRequests,
  inputs: readonly EmbeddingInput[],
  kind: InputKind,
  taskType: TaskType,
  signal: AbortSignal | undefined,
): Promise<BatchApiEmbedder> {
  const items = await prepareMultimodalItems(inputs, kind, {
    model: embedding.modelName,
    client: embedding.client,
    uploads: embedding.uploads,
    // 0: every media part goes through the Files API.
    maxBytesPerCall: 0,
    textItem: (input, index) => ({
      index,
      request: requests.buildRequest(input, taskType),
      bytes: 0,
      tokens: 0,
    }),
    textRequest: (text) => requests.buildRequest(text, taskType),
    signal,
  });
  const prepared = new Map<unknown, EmbedContentRequest>();
  for (const item of items) {
    const input = inputs[item.index];
    if (isMultimodalInput(input)) prepared.set(input, item.request);
  }
  return {
    modelName: embedding.modelName,
    client: embedding.client,
    buildRequest: (input, requestTaskType) =>
      prepared.get(input) ?? requests.buildRequest(input, requestTaskType),
    toVector: (values) => requests.toVector(values),
    // Items the job failed are re-embedded on the synchronous path, media included.
    encode: (texts, options) => embedding.encode(texts as EmbeddingInput[], options),
  };
}
