/**
 * Node-only helpers for media inputs: a path becomes a `{ media: { mimeType, data } }` input.
 * Kept apart from `media.ts` so the core embedding modules import nothing from `node:`.
 *
 * @module
 */

import { readFile, stat } from "node:fs/promises";
import { basename } from "node:path";
import { InvalidInputError } from "../errors.js";
import {
  bytesMatchMimeType,
  MEDIA_EXTENSIONS,
  MEDIA_LIMITS,
  mimeTypeOfName,
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
