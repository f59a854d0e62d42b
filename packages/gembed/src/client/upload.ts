/**
 * The resumable upload (`files.upload`): a source read in fixed-size chunks, so that a 2 GB file
 * never sits in memory (at most the chunk being sent and the one being filled), each chunk sent
 * and, after a failure, resumed from what the upload session says it holds.
 *
 * @module
 */

import { openFile } from "#platform";
import type { File } from "../api/types.js";
import { InvalidResponseError, UploadResumeError } from "../errors.js";
import { isObject } from "../util/objects.js";
import { utf8Bytes } from "../util/utf8.js";
import {
  checkNamed,
  checkRequestOptions,
  nonNegativeInteger,
  optionalString,
  positiveInteger,
} from "./checks.js";
import type { RequestOptions } from "./http.js";
import type { Requester } from "./requester.js";
import { DEFAULT_BASE_DELAY, withRetry } from "./retry.js";

/** What `files.upload` accepts: bytes, a file path, a Node stream or any async iterable of bytes. */
export type UploadSource = Uint8Array | string | AsyncIterable<Uint8Array | string>;

/** The default upload chunk: 8 MiB, as the official SDKs send. */
export const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;

/** One chunk to send. */
export interface UploadChunk {
  /** The bytes of this chunk. */
  bytes: Uint8Array;
  /** Offset of the first byte in the whole upload. */
  offset: number;
  /** True for the last chunk (sent with `upload, finalize`). */
  last: boolean;
}

/** A source opened for reading: its size when known, and its bytes. */
export interface OpenedSource {
  /** Total size in bytes, when known before reading. */
  size: number | undefined;
  /** A guess of the MIME type from a path's extension. */
  mimeType: string | undefined;
  /** The bytes, in pieces of any size. */
  pieces: AsyncIterable<Uint8Array>;
  /**
   * The bytes again from `offset` on, for a source that can be read again (bytes, a path), so an
   * upload can resume below the chunk in memory; `undefined` for a stream.
   */
  reopen: ((offset: number) => AsyncIterable<Uint8Array>) | undefined;
}

/**
 * Opens a source. A path goes to the runtime (`#platform`): Node streams it, never reading it
 * whole; a runtime without files refuses it.
 */
export async function openSource(source: UploadSource): Promise<OpenedSource> {
  if (source instanceof Uint8Array) {
    return {
      size: source.byteLength,
      mimeType: undefined,
      pieces: single(source),
      reopen: (offset) => single(source.subarray(offset)),
    };
  }
  if (typeof source === "string") {
    const file = await openFile(source);
    return {
      size: file.size,
      mimeType: file.mimeType,
      pieces: file.read(0),
      reopen: (offset) => file.read(offset),
    };
  }
  if (source !== null && typeof source === "object" && Symbol.asyncIterator in source) {
    return { size: undefined, mimeType: undefined, pieces: toBytes(source), reopen: undefined };
  }
  throw new TypeError(
    "upload source must be a Uint8Array, a file path, a readable stream or an async iterable of bytes",
  );
}

async function* single(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function* toBytes(source: AsyncIterable<Uint8Array | string>): AsyncGenerator<Uint8Array> {
  for await (const piece of source as AsyncIterable<unknown>) {
    if (typeof piece === "string") yield utf8Bytes(piece);
    else if (piece instanceof Uint8Array) yield piece;
    else throw new TypeError(`upload stream gave a ${typeof piece}, expected bytes`);
  }
}

/**
 * Cuts pieces of any size into chunks of exactly `chunkSize` bytes (the last one may be shorter).
 * A full chunk is handed out as soon as one more byte arrives, which proves it is not the last,
 * so only the chunk being filled is held here, even when the total size is unknown. An empty
 * source gives one empty last chunk. `startOffset` is the offset of the first piece's first byte
 * (an upload resumed from there).
 */
export async function* chunkPieces(
  pieces: AsyncIterable<Uint8Array>,
  chunkSize: number,
  startOffset = 0,
): AsyncGenerator<UploadChunk> {
  let offset = startOffset;
  let filling = new Uint8Array(chunkSize);
  let filled = 0;
  for await (const piece of pieces) {
    let position = 0;
    while (position < piece.byteLength) {
      if (filled === chunkSize) {
        yield { bytes: filling, offset, last: false };
        offset += chunkSize;
        // A fresh buffer: the one just handed out may still be in flight.
        filling = new Uint8Array(chunkSize);
        filled = 0;
      }
      const take = Math.min(chunkSize - filled, piece.byteLength - position);
      filling.set(piece.subarray(position, position + take), filled);
      filled += take;
      position += take;
    }
  }
  yield { bytes: filling.subarray(0, filled), offset, last: true };
}

// ----- the resumable upload protocol -----

/** Parameters of `files.upload`. */
export interface UploadParams {
  /** The file's display name. @default undefined */
  displayName?: string | undefined;
  /**
   * The MIME type of the bytes.
   * @default from a path's extension (`.jsonl` → `application/jsonl`), else "application/jsonl" (the batch input format)
   */
  mimeType?: string | undefined;
  /** The size in bytes, for a stream (known for bytes and paths). @default undefined (not sent for a stream) */
  size?: number | undefined;
  /** Bytes per upload request. @default 8 MiB (8_388_608) */
  chunkSize?: number | undefined;
}

/**
 * Uploads `source` with the resumable protocol (`files.upload`): a start call that opens the
 * session, then one call per chunk, the last one finalizing; returns the uploaded `File`.
 */
export async function uploadFile(
  requester: Requester,
  source: UploadSource,
  params: UploadParams = {},
  options?: RequestOptions,
): Promise<File> {
  if (!isObject(params)) throw new TypeError("upload params must be an object");
  const displayName = optionalString(params.displayName, "displayName");
  const mimeTypeParam = optionalString(params.mimeType, "mimeType");
  const chunkSize = positiveInteger(params.chunkSize, "chunkSize", DEFAULT_CHUNK_SIZE);
  const sizeParam = params.size === undefined ? undefined : nonNegativeInteger(params.size, "size");
  const requestOptions = checkRequestOptions(options);
  const opened = await openSource(source);
  const size = sizeParam ?? opened.size;
  const mimeType = mimeTypeParam ?? opened.mimeType ?? "application/jsonl";

  const start = await requester.transport.send(
    {
      method: "POST",
      url: requester.url("files", undefined, "/upload"),
      operation: "POST upload/files (start)",
      headers: {
        "x-goog-upload-protocol": "resumable",
        "x-goog-upload-command": "start",
        ...(size === undefined ? {} : { "x-goog-upload-header-content-length": String(size) }),
        "x-goog-upload-header-content-type": mimeType,
      },
      json: { file: displayName === undefined ? {} : { displayName } },
    },
    requestOptions,
  );
  const uploadUrl = start.response.headers.get("x-goog-upload-url");
  if (!uploadUrl) {
    throw new InvalidResponseError(
      "POST upload/files (start): the answer has no x-goog-upload-url header.",
    );
  }
  let resolved: URL;
  try {
    resolved = new URL(uploadUrl, requester.baseUrl);
  } catch {
    throw new InvalidResponseError("POST upload/files (start): the upload URL is not a URL.");
  }
  // The session URL authorizes the upload by itself; the key goes only to the API's own host.
  const sendKey = resolved.origin === new URL(requester.baseUrl).origin;

  const session: UploadSession = {
    url: resolved.href,
    sendKey,
    reopen: opened.reopen,
    requestOptions,
    maxRetries: requestOptions.maxRetries ?? requester.transport.settings.maxRetries,
  };
  let chunks = chunkPieces(opened.pieces, chunkSize);
  let attemptsSpent = 0;
  try {
    for (;;) {
      const next = await chunks.next();
      if (next.done) throw new InvalidResponseError("upload ended without a last chunk");
      const chunk = next.value;
      const end = chunk.offset + chunk.bytes.byteLength;
      if (size !== undefined && (end > size || (chunk.last && end !== size))) {
        throw new RangeError(
          `upload size is ${size} bytes but the source gave ${chunk.last ? end : `more than ${end - 1}`}`,
        );
      }
      const outcome = await sendChunk(requester, session, chunk, attemptsSpent);
      attemptsSpent = 0;
      if (outcome.file !== undefined) return outcome.file;
      if (outcome.rewindTo !== undefined && session.reopen !== undefined) {
        // The server lost bytes before this chunk: read the source again from its offset.
        await chunks.return(undefined);
        chunks = chunkPieces(session.reopen(outcome.rewindTo), chunkSize, outcome.rewindTo);
        attemptsSpent = outcome.attemptsSpent;
      }
    }
  } finally {
    // Closes a path's file on any failure (and is a no-op once the chunks are done).
    await chunks.return(undefined);
  }
}

/**
 * Sends one chunk. After a retryable failure (a reset, a timeout, 5xx, 429) it waits (the usual
 * backoff), asks the session how many bytes it holds (`X-Goog-Upload-Command: query`) and
 * sends only what is missing. Resending blindly is not safe: the server may have stored the
 * bytes before the answer was lost.
 */
async function sendChunk(
  requester: Requester,
  session: UploadSession,
  chunk: UploadChunk,
  attemptsSpent: number,
): Promise<{ file?: File; rewindTo?: number; attemptsSpent: number }> {
  const end = chunk.offset + chunk.bytes.byteLength;
  const { maxRetryDelay, onRetry } = requester.transport.settings;
  const once = { ...session.requestOptions, maxRetries: 0 };
  let from = chunk.offset;
  let query = false;
  let failure: unknown;
  let operation = "";
  const attemptOnce = async (
    attempt: number,
  ): Promise<{ file?: File; rewindTo?: number; attemptsSpent: number }> => {
    operation = `POST upload session (offset ${from}${chunk.last ? ", finalize" : ""})`;
    if (query) {
      const state = await queryUpload(requester, session, once);
      if (state.file !== undefined) {
        if (!chunk.last || (state.received !== undefined && state.received !== end)) {
          throw new InvalidResponseError(
            `POST upload session (query): the upload is final with ${state.received ?? "an unknown number of"} bytes, but ${end} were sent${chunk.last ? "" : " and more are to come"}.`,
          );
        }
        return { file: state.file, attemptsSpent: 0 };
      }
      const received = state.received as number;
      if (received > end) {
        throw new InvalidResponseError(
          `POST upload session (query): the server holds ${received} bytes, but only ${end} were sent.`,
        );
      }
      if (received < chunk.offset) {
        if (session.reopen === undefined) {
          throw new UploadResumeError(
            `The upload cannot resume: the server holds ${received} bytes, but the bytes before offset ${chunk.offset} of this stream are no longer in memory. Start the upload again (an upload from bytes or a path can resume).`,
            received,
            chunk.offset,
            { cause: failure },
          );
        }
        return { rewindTo: received, attemptsSpent: attempt };
      }
      // The server already holds this whole chunk: nothing to send again.
      if (received === end && !chunk.last) return { attemptsSpent: 0 };
      from = received;
      query = false;
    }
    const answer = await requester.transport.send(
      {
        method: "POST",
        url: session.url,
        operation,
        headers: {
          "x-goog-upload-command": chunk.last ? "upload, finalize" : "upload",
          "x-goog-upload-offset": String(from),
        },
        bytes: from === chunk.offset ? chunk.bytes : chunk.bytes.subarray(from - chunk.offset),
        sendKey: session.sendKey,
      },
      once,
    );
    const status = answer.response.headers.get("x-goog-upload-status");
    if (!chunk.last) {
      if (status !== null && status !== "active") {
        throw new InvalidResponseError(
          `${operation}: upload status "${status}" before the last chunk (expected "active").`,
        );
      }
      return { attemptsSpent: 0 };
    }
    if (status !== null && status !== "final") {
      throw new InvalidResponseError(
        `${operation}: upload status "${status}" after the last chunk (expected "final").`,
      );
    }
    return { file: uploadedFile(requester, answer.text, operation), attemptsSpent: 0 };
  };
  return withRetry(attemptOnce, {
    maxRetries: session.maxRetries,
    firstAttempt: attemptsSpent,
    baseDelay: DEFAULT_BASE_DELAY,
    maxDelay: maxRetryDelay,
    signal: session.requestOptions.signal,
    onRetry: (event) => {
      onRetry?.({ ...event, operation });
      // The next attempt first asks the session what it holds.
      failure = event.error;
      query = true;
    },
  });
}

/** Asks an upload session what it holds (`X-Goog-Upload-Command: query`). */
async function queryUpload(
  requester: Requester,
  session: UploadSession,
  options: RequestOptions,
): Promise<{ received: number | undefined; file?: File }> {
  const operation = "POST upload session (query)";
  const answer = await requester.transport.send(
    {
      method: "POST",
      url: session.url,
      operation,
      headers: { "x-goog-upload-command": "query" },
      sendKey: session.sendKey,
    },
    options,
  );
  const status = answer.response.headers.get("x-goog-upload-status");
  const header = answer.response.headers.get("x-goog-upload-size-received");
  const received = header === null || !/^\d+$/.test(header) ? undefined : Number(header);
  if (status === "final") {
    return { received, file: uploadedFile(requester, answer.text, operation) };
  }
  if (status !== "active") {
    throw new InvalidResponseError(
      `${operation}: upload status ${status === null ? "missing" : `"${status}"`} (expected "active" or "final").`,
    );
  }
  if (received === undefined || !Number.isSafeInteger(received)) {
    throw new InvalidResponseError(
      `${operation}: the answer has no valid x-goog-upload-size-received header.`,
    );
  }
  return { received };
}

function uploadedFile(requester: Requester, text: string, operation: string): File {
  const body = requester.parse<{ file?: File }>(text, operation);
  return checkNamed(isObject(body) ? body.file : undefined, operation, "a File in `file`");
}

/** What the chunks of one upload share. */
interface UploadSession {
  url: string;
  sendKey: boolean;
  reopen: ((offset: number) => AsyncIterable<Uint8Array>) | undefined;
  requestOptions: RequestOptions;
  maxRetries: number;
}
