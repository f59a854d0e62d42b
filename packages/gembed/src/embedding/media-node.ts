/**
 * Node-only helpers for media inputs: a path becomes a `{ media: { mimeType, data } }` input.
 * Kept apart from `media.ts` so the core embedding modules import nothing from `node:`.
 *
 * @module
 */

import { open, readFile, stat } from "node:fs/promises";
import { basename } from "node:path";
import { InvalidInputError } from "../errors.js";
import {
  bytesMatchMimeType,
  MEDIA_EXTENSIONS,
  MEDIA_LIMITS,
  type MediaFacts,
  mimeTypeOfName,
  modalityOf,
  readMediaFacts,
} from "../media-rules.js";
import type { MediaInput } from "./media.js";

/** The MIME type gembed gives a path by its extension (`.jpg` → `image/jpeg`), or undefined. */
export function mediaMimeTypeOfPath(path: string): string | undefined {
  return mimeTypeOfName(basename(path));
}

/** The extensions gembed reads as media (`.png`, `.jpg`, `.pdf`, `.mp3`, `.wav`, `.mp4`, `.mov`, ...). */
export const MEDIA_FILE_EXTENSIONS: readonly string[] = Object.keys(MEDIA_EXTENSIONS);

/**
 * Reads an image, PDF, audio or video file into a media input. The MIME type comes from the
 * extension unless given; a file whose bytes do not match it, or larger than the Files API's
 * 2 GB, throws `InvalidInputError` naming the path.
 *
 * @example
 * ```ts
 * const [vector] = await ef.encodeDocuments([await readMediaFile("photo.jpg")]);
 * ```
 */
export async function readMediaFile(path: string, mimeType?: string): Promise<MediaInput> {
  const type = mimeType ?? mediaMimeTypeOfPath(path);
  if (type === undefined) {
    throw new InvalidInputError(
      [
        {
          index: 0,
          field: path,
          reason: `no media type known for this extension (known: ${MEDIA_FILE_EXTENSIONS.join(", ")})`,
        },
      ],
      "media file",
    );
  }
  const { size } = await stat(path);
  if (size > MEDIA_LIMITS.fileBytes) {
    throw new InvalidInputError(
      [{ index: 0, field: path, reason: `${size} bytes, over the 2 GB limit of one file` }],
      "media file",
    );
  }
  const data = new Uint8Array(await readFile(path));
  if (!bytesMatchMimeType(data, type)) {
    throw new InvalidInputError(
      [
        {
          index: 0,
          field: path,
          reason: `the bytes are not ${type} (their header says otherwise)`,
        },
      ],
      "media file",
    );
  }
  return { media: { mimeType: type, data } };
}

/** Bytes read from the head of an audio file for its header (WAV `fmt ` and `data`). */
const AUDIO_HEAD_BYTES = 64 * 1024;

/**
 * What the header of a media FILE says, reading only what is needed: a PDF whole (its page
 * objects), the head of an audio file, and only the `moov` box of an MP4/MOV (found by walking
 * the top-level box headers, so a `moov` after gigabytes of `mdat` costs a few reads).
 */
export async function readMediaFactsFromFile(path: string, mimeType: string): Promise<MediaFacts> {
  const modality = modalityOf(mimeType);
  if (modality === "image" || modality === undefined) return {};
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    const readAt = async (position: number, length: number) => {
      const bytes = new Uint8Array(Math.max(0, Math.min(length, size - position)));
      const { bytesRead } = await handle.read(bytes, 0, bytes.length, position);
      return bytes.subarray(0, bytesRead);
    };
    if (modality === "pdf") return readMediaFacts(await readAt(0, size), mimeType);
    if (modality === "audio") return readMediaFacts(await readAt(0, AUDIO_HEAD_BYTES), mimeType);
    let position = 0;
    while (position + 8 <= size) {
      const header = await readAt(position, 16);
      const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
      let boxSize = view.getUint32(0);
      const type = String.fromCharCode(...header.subarray(4, 8));
      if (boxSize === 1 && header.length >= 16) {
        boxSize = view.getUint32(8) * 2 ** 32 + view.getUint32(12);
      } else if (boxSize === 0) {
        boxSize = size - position;
      }
      if (boxSize < 8) break;
      if (type === "moov") return readMediaFacts(await readAt(position, boxSize), mimeType);
      position += boxSize;
    }
    return {};
  } finally {
    await handle.close();
  }
}
