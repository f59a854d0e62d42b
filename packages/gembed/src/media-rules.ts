/**
 * The media rules of gemini-embedding-2: which MIME types each modality takes, the per-request
 * limits, what can be read from a file's header (PDF pages, WAV and MP4 length), and the token
 * estimate of media. The client side (`GeminiEmbeddingFunction`) and the local server share this
 * one module, so both refuse the same requests with the same words. Sources and what stays
 * unverified: docs/multimodal.md.
 *
 * Pure TypeScript over `Uint8Array` (no `node:` import): it runs wherever the core runs.
 *
 * @module
 */

import { modelId } from "./models.js";

/** A media modality of gemini-embedding-2. */
export type Modality = "image" | "pdf" | "audio" | "video";

/** The MIME types each modality takes (docs/multimodal.md says where each comes from). */
export const MEDIA_MIME_TYPES: Readonly<Record<string, Modality>> = {
  "image/png": "image",
  "image/jpeg": "image",
  "application/pdf": "pdf",
  "audio/mpeg": "audio",
  "audio/mp3": "audio",
  "audio/wav": "audio",
  "audio/x-wav": "audio",
  "video/mp4": "video",
  "video/mpeg": "video",
  "video/quicktime": "video",
};

/** The per-request (per-input) limits gembed applies. */
export const MEDIA_LIMITS = {
  /** Images in one input (Vertex: "Maximum images per prompt: 6"). */
  images: 6,
  /** PDFs in one input (Vertex: "Maximum number of files per prompt: 1"). */
  pdfs: 1,
  /** Pages of one PDF (Vertex: "Maximum number of pages per file: 6"). */
  pdfPages: 6,
  /** Videos in one input (Vertex: "Maximum number of videos per prompt: 1"). */
  videos: 1,
  /** Seconds of video without an audio track (Vertex). */
  videoSeconds: 120,
  /** Seconds of video with an audio track (Vertex). */
  videoWithAudioSeconds: 80,
  /** Audio clips in one input: **unverified**, see docs/multimodal.md. */
  audios: 1,
  /** Seconds of audio: **unverified**, see docs/multimodal.md. */
  audioSeconds: 180,
  /** Bytes of one file on the Files API (2 GB). */
  fileBytes: 2 ** 31,
} as const;

/** Estimated tokens of media, from the Gemini token documentation (generateContent figures). */
export const MEDIA_TOKENS = {
  image: 258,
  pdfPage: 258,
  audioPerSecond: 32,
  videoPerSecond: 263,
} as const;

/** Models that take media parts. */
const MEDIA_MODELS: ReadonlySet<string> = new Set([
  "gemini-embedding-2",
  "gemini-embedding-2-preview",
]);

/** Whether a model takes images, PDFs, audio and video (`models/` prefix allowed). */
export function modelTakesMedia(model: string): boolean {
  return MEDIA_MODELS.has(modelId(model));
}

/** The words a text-only model answers a media input with (client and server alike). */
export function textOnlyModelMessage(model: string): string {
  return `${modelId(model)} takes text only; images, PDFs, audio and video need gemini-embedding-2`;
}

/** The modality of a MIME type (parameters such as `; charset=` ignored), or undefined. */
export function modalityOf(mimeType: string): Modality | undefined {
  const base = mimeType.split(";")[0]?.trim().toLowerCase() ?? "";
  return MEDIA_MIME_TYPES[base];
}

/** The accepted MIME types, for messages. */
export function acceptedMimeTypes(): string {
  return Object.keys(MEDIA_MIME_TYPES).join(", ");
}

/** File extensions gembed maps to a MIME type (for paths and folders). */
export const MEDIA_EXTENSIONS: Readonly<Record<string, string>> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".pdf": "application/pdf",
  ".mp3": "audio/mpeg",
  ".wav": "audio/wav",
  ".mp4": "video/mp4",
  ".m4v": "video/mp4",
  ".mpeg": "video/mpeg",
  ".mpg": "video/mpeg",
  ".mov": "video/quicktime",
};

/** The MIME type of a file name by its extension, or undefined. */
export function mimeTypeOfName(name: string): string | undefined {
  const dot = name.lastIndexOf(".");
  if (dot < 0) return undefined;
  return MEDIA_EXTENSIONS[name.slice(dot).toLowerCase()];
}

/** What the header of some media bytes says. */
export interface MediaFacts {
  /** Pages of a PDF, when countable. */
  pages?: number;
  /** Length in seconds of audio or video, when the header says. */
  seconds?: number;
  /** Whether a video has an audio track, when the header says. */
  hasAudio?: boolean;
}

function ascii(bytes: Uint8Array, at: number, length: number): string {
  let text = "";
  for (let index = at; index < at + length && index < bytes.length; index++) {
    text += String.fromCharCode(bytes[index] as number);
  }
  return text;
}

function uint32(bytes: Uint8Array, at: number, littleEndian = false): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return view.getUint32(at, littleEndian);
}

/**
 * Whether the bytes look like the declared MIME type (magic numbers); a mismatch is refused before
 * anything is paid for. MPEG video is not sniffed.
 */
export function bytesMatchMimeType(bytes: Uint8Array, mimeType: string): boolean {
  const base = mimeType.split(";")[0]?.trim().toLowerCase();
  const at = (offset: number, ...values: number[]) =>
    values.every((value, index) => bytes[offset + index] === value);
  switch (base) {
    case "image/png":
      return at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
    case "image/jpeg":
      return at(0, 0xff, 0xd8, 0xff);
    case "application/pdf":
      return ascii(bytes, 0, 5) === "%PDF-";
    case "audio/wav":
    case "audio/x-wav":
      return ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 4) === "WAVE";
    case "audio/mpeg":
    case "audio/mp3":
      return (
        ascii(bytes, 0, 3) === "ID3" || (bytes[0] === 0xff && ((bytes[1] ?? 0) & 0xe0) === 0xe0)
      );
    case "video/mp4":
    case "video/quicktime":
      return (
        bytes.length >= 12 && ["ftyp", "moov", "mdat", "wide", "free"].includes(ascii(bytes, 4, 4))
      );
    default:
      return true;
  }
}

/** Counts `/Type /Page` objects (not `/Pages`) of a PDF: exact for ordinary PDFs. */
function pdfPages(bytes: Uint8Array): number | undefined {
  // latin1 keeps one char per byte, so the scan sees the PDF's own syntax.
  let text = "";
  const step = 1 << 16;
  for (let offset = 0; offset < bytes.length; offset += step) {
    text += String.fromCharCode(...bytes.subarray(offset, Math.min(offset + step, bytes.length)));
  }
  const matches = text.match(/\/Type\s*\/Page(?![a-zA-Z])/g);
  return matches ? matches.length : undefined;
}

/** Seconds of a WAV (the `fmt ` byte rate and the `data` size). */
function wavSeconds(bytes: Uint8Array): number | undefined {
  let at = 12;
  let byteRate: number | undefined;
  while (at + 8 <= bytes.length) {
    const id = ascii(bytes, at, 4);
    const size = uint32(bytes, at + 4, true);
    if (id === "fmt " && at + 16 <= bytes.length) byteRate = uint32(bytes, at + 16, true);
    if (id === "data") {
      if (byteRate === undefined || byteRate === 0) return undefined;
      return size / byteRate;
    }
    at += 8 + size + (size % 2);
  }
  return undefined;
}

/** Length and audio track of an MP4/MOV (the `mvhd` box, and any `hdlr` of type `soun`). */
function mp4Facts(bytes: Uint8Array): MediaFacts {
  const facts: MediaFacts = {};
  const containers = new Set(["moov", "trak", "mdia"]);
  const walk = (start: number, end: number): void => {
    let at = start;
    while (at + 8 <= end) {
      let size = uint32(bytes, at);
      const type = ascii(bytes, at + 4, 4);
      let header = 8;
      if (size === 1 && at + 16 <= end) {
        size = uint32(bytes, at + 8) * 2 ** 32 + uint32(bytes, at + 12);
        header = 16;
      } else if (size === 0) {
        size = end - at;
      }
      if (size < header) return;
      const boxEnd = Math.min(end, at + size);
      if (containers.has(type)) walk(at + header, boxEnd);
      else if (type === "mvhd" && at + header + 20 <= boxEnd) {
        const version = bytes[at + header] ?? 0;
        const body = at + header + 4;
        if (version === 1 && body + 28 <= boxEnd) {
          const scale = uint32(bytes, body + 16);
          const duration = uint32(bytes, body + 20) * 2 ** 32 + uint32(bytes, body + 24);
          if (scale > 0) facts.seconds = duration / scale;
        } else {
          const scale = uint32(bytes, body + 8);
          const duration = uint32(bytes, body + 12);
          if (scale > 0) facts.seconds = duration / scale;
        }
      } else if (type === "hdlr" && at + header + 12 <= boxEnd) {
        if (ascii(bytes, at + header + 8, 4) === "soun") facts.hasAudio = true;
      }
      at += size;
    }
  };
  walk(0, bytes.length);
  if (facts.seconds !== undefined && facts.hasAudio === undefined) facts.hasAudio = false;
  return facts;
}

/** What the header of media bytes says (pages, length, audio track), as far as it can be read. */
export function readMediaFacts(bytes: Uint8Array, mimeType: string): MediaFacts {
  const modality = modalityOf(mimeType);
  try {
    if (modality === "pdf") {
      const pages = pdfPages(bytes);
      return pages === undefined ? {} : { pages };
    }
    if (modality === "audio" && bytesMatchMimeType(bytes, "audio/wav")) {
      const seconds = wavSeconds(bytes);
      return seconds === undefined ? {} : { seconds };
    }
    if (modality === "video") return mp4Facts(bytes);
  } catch {
    // A header cut short or malformed: nothing can be read, nothing is claimed.
  }
  return {};
}

/** One media part of an input, as the rules see it. */
export interface MediaPartFacts extends MediaFacts {
  mimeType: string;
  /** Bytes, when known (inline data, or an upload of known size). */
  sizeBytes?: number;
}

/**
 * Checks the media parts of ONE input (one `Content`) against the rules; returns a reason per
 * problem (empty when the input is fine). `model` decides whether media is allowed at all.
 */
export function checkMediaParts(model: string, parts: readonly MediaPartFacts[]): string[] {
  if (parts.length === 0) return [];
  if (!modelTakesMedia(model)) return [textOnlyModelMessage(model)];
  const reasons: string[] = [];
  const counts: Record<Modality, number> = { image: 0, pdf: 0, audio: 0, video: 0 };
  for (const part of parts) {
    const modality = modalityOf(part.mimeType);
    if (modality === undefined) {
      reasons.push(
        `MIME type "${part.mimeType}" is not taken by gemini-embedding-2 (accepted: ${acceptedMimeTypes()})`,
      );
      continue;
    }
    counts[modality]++;
    if (part.sizeBytes !== undefined && part.sizeBytes > MEDIA_LIMITS.fileBytes) {
      reasons.push(`a file of ${part.sizeBytes} bytes is over the 2 GB limit of one file`);
    }
    if (modality === "pdf" && part.pages !== undefined && part.pages > MEDIA_LIMITS.pdfPages) {
      reasons.push(
        `a PDF of ${part.pages} pages is over the limit of ${MEDIA_LIMITS.pdfPages} pages`,
      );
    }
    if (
      modality === "audio" &&
      part.seconds !== undefined &&
      part.seconds > MEDIA_LIMITS.audioSeconds
    ) {
      reasons.push(
        `audio of ${part.seconds.toFixed(1)} s is over the limit of ${MEDIA_LIMITS.audioSeconds} s`,
      );
    }
    if (modality === "video" && part.seconds !== undefined) {
      const limit = part.hasAudio ? MEDIA_LIMITS.videoWithAudioSeconds : MEDIA_LIMITS.videoSeconds;
      if (part.seconds > limit) {
        reasons.push(
          `video of ${part.seconds.toFixed(1)} s is over the limit of ${limit} s ${part.hasAudio ? "with" : "without"} an audio track`,
        );
      }
    }
  }
  if (counts.image > MEDIA_LIMITS.images) {
    reasons.push(`${counts.image} images in one input; at most ${MEDIA_LIMITS.images}`);
  }
  if (counts.pdf > MEDIA_LIMITS.pdfs) {
    reasons.push(`${counts.pdf} PDFs in one input; at most ${MEDIA_LIMITS.pdfs}`);
  }
  if (counts.video > MEDIA_LIMITS.videos) {
    reasons.push(`${counts.video} videos in one input; at most ${MEDIA_LIMITS.videos}`);
  }
  if (counts.audio > MEDIA_LIMITS.audios) {
    reasons.push(`${counts.audio} audio clips in one input; at most ${MEDIA_LIMITS.audios}`);
  }
  return reasons;
}

/**
 * Estimated tokens of one media part: a fixed 258 per image and per PDF page, 32 per second of
 * audio and 263 per second of video (the Gemini token documentation). A length that cannot be
 * read is estimated from the size (audio at 16 kB/s, video at 1 MB/s); pages default to 1.
 */
export function estimateMediaTokens(part: MediaPartFacts): number {
  const modality = modalityOf(part.mimeType);
  const size = part.sizeBytes ?? 0;
  switch (modality) {
    case "image":
      return MEDIA_TOKENS.image;
    case "pdf":
      return MEDIA_TOKENS.pdfPage * Math.max(1, part.pages ?? 1);
    case "audio":
      return Math.max(1, Math.ceil(MEDIA_TOKENS.audioPerSecond * (part.seconds ?? size / 16_000)));
    case "video":
      return Math.max(
        1,
        Math.ceil(MEDIA_TOKENS.videoPerSecond * (part.seconds ?? size / 1_000_000)),
      );
    default:
      return MEDIA_TOKENS.image;
  }
}
