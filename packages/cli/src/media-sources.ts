/**
 * Media files for `gembed ingest` (gemini-embedding-2): images, PDFs, audio and video found in
 * the files, folders and globs given become one row each (text: the file's id and what it is;
 * metadata: path, MIME type, size), embedded from their bytes. Text inputs keep going through
 * `readSources` unchanged.
 *
 * Memory stays bounded: files are hashed as streams up front (the hash is in the row's text, so
 * a changed file is embedded again), and their bytes are read only when their step is embedded,
 * at most {@link MEDIA_BYTES_PER_CALL} bytes of files per call.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import {
  type DocumentEmbedder,
  filesInside,
  gitignored,
  gitignoreRules,
  globBase,
  SKIPPED_FOLDERS,
  type SourceDocument,
  SourceError,
  type SourceIssue,
} from "@gembed/ingest";
import {
  type DocumentInput,
  type EmbeddingInput,
  type GeminiClient,
  InvalidMediaInputError,
  MEDIA_EXTENSIONS,
  modelTakesMedia,
  type UploadCache,
} from "gembed";
import { checkMediaParts, mimeTypeOfName, modelId } from "gembed/internal";
import { readMediaFactsFromFile, readMediaFile } from "gembed/node";
import { glob, isDynamicPattern } from "tinyglobby";

/**
 * Files larger than this go to the Files API streamed from their path (their base64 would not
 * fit one 3.5 MB call anyway); smaller ones are read and sent inline.
 */
export const STREAMED_FROM_BYTES = 2 * 1024 * 1024;

/** Bytes of media files read for one embedding call (the rest wait their turn). */
export const MEDIA_BYTES_PER_CALL = 64 * 1024 * 1024;

/** One media file found among the inputs. */
export interface MediaFile {
  id: string;
  path: string;
  mimeType: string;
  sizeBytes: number;
  sha256: string;
}

/** The inputs of an ingest, split into text inputs and media files. */
export interface MediaSplit {
  /** Inputs for `readSources` (folders holding no text file are left out). */
  textInputs: string[];
  /** `.gitignore`-syntax patterns that keep media out of `readSources` (glob matches). */
  exclude: string[];
  /** One document per media file (one row each). */
  documents: SourceDocument[];
  /** The files behind {@link documents}, by the document text. */
  files: Map<string, MediaFile>;
  /** Media files in folders left out because the model takes text only. */
  leftOut: number;
}

const TEXT_EXTENSIONS = [".txt", ".md", ".markdown"];
const mediaPattern = `**/*.{${Object.keys(MEDIA_EXTENSIONS)
  .map((extension) => extension.slice(1))
  .join(",")}}`;
const textPattern = `**/*.{${TEXT_EXTENSIONS.map((extension) => extension.slice(1)).join(",")}}`;

async function sha256Of(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const piece of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(piece);
  return hash.digest("hex");
}

function idFrom(root: string, file: string): string {
  return path.relative(path.dirname(root), file).split(path.sep).join("/");
}

/** The row text of a media file: its id and what it is (the hash makes a changed file new). */
function mediaText(file: MediaFile): string {
  return `${file.id} (${file.mimeType}, ${file.sizeBytes} bytes, sha256 ${file.sha256.slice(0, 16)})`;
}

/**
 * Finds the media files among ingest inputs. With a text-only model, a media file named directly
 * or matched by a glob is refused (a {@link SourceError} naming gemini-embedding-2); media files
 * inside folders are counted in `leftOut` (a folder of notes with a stray photo keeps working).
 */
export async function splitMediaInputs(
  inputs: string[],
  model: string,
  cwd = process.cwd(),
  bad?: (issue: SourceIssue) => void,
): Promise<MediaSplit> {
  const takesMedia = modelTakesMedia(model);
  const issues: SourceIssue[] = [];
  const found: { file: string; root: string; mimeType: string }[] = [];
  const textInputs: string[] = [];
  const exclude = new Set<string>();
  let leftOut = 0;
  const skipped = SKIPPED_FOLDERS.map((name) => `**/${name}/**`);
  const refuse = (source: string) =>
    issues.push({
      source,
      reason: `an image, PDF, audio or video file: ${modelId(model)} takes text only; use --model gemini-embedding-2`,
    });
  for (const input of inputs) {
    if (input === "-") {
      textInputs.push(input);
      continue;
    }
    const absolute = path.resolve(cwd, input);
    const info = await stat(absolute).catch(() => undefined);
    if (info?.isFile()) {
      const mimeType = mimeTypeOfName(absolute);
      if (mimeType === undefined) textInputs.push(input);
      else if (!takesMedia) refuse(input);
      else found.push({ file: absolute, root: path.dirname(absolute), mimeType });
    } else if (info?.isDirectory()) {
      const options = { cwd: absolute, absolute: true, onlyFiles: true, ignore: skipped };
      // What the folder's .gitignore files ignore is left out, as for its text files.
      const rules = await gitignoreRules(absolute);
      const kept = (files: string[]) =>
        files.map(path.normalize).filter((file) => !gitignored(file, rules));
      const globbed = kept(
        await glob(mediaPattern, { ...options, caseSensitiveMatch: false }),
      ).sort();
      // Links out of the folder are not followed (readSources' rule): a problem, or `bad`'s.
      const checked = await filesInside(absolute, globbed.map(path.normalize), (file) =>
        idFrom(absolute, file),
      );
      for (const issue of checked.issues) (bad ?? ((one) => issues.push(one)))(issue);
      const media = checked.inside;
      const texts = kept(await glob(textPattern, options));
      if (!takesMedia) {
        leftOut += media.length;
        textInputs.push(input);
        continue;
      }
      if (texts.length > 0 || media.length === 0) textInputs.push(input);
      for (const file of media) {
        const mimeType = mimeTypeOfName(file);
        if (mimeType) found.push({ file: path.normalize(file), root: absolute, mimeType });
      }
    } else if (isDynamicPattern(input)) {
      const root = path.resolve(cwd, globBase(input));
      // The .gitignore files of the glob's fixed part apply, as they do to its text files
      // (filesOfInput): `shop` and `"shop/**/*.png"` give the same files.
      const rules = await gitignoreRules(root);
      const globbed = (await glob(input, { cwd, absolute: true, onlyFiles: true, ignore: skipped }))
        .map(path.normalize)
        .filter((file) => !gitignored(file, rules));
      const checked = await filesInside(
        root,
        globbed.filter((file) => mimeTypeOfName(file) !== undefined),
        (file) => idFrom(root, file),
      );
      for (const issue of checked.issues) (bad ?? ((one) => issues.push(one)))(issue);
      // The text files it matches are checked by readSources.
      const matches = globbed
        .filter((file) => mimeTypeOfName(file) === undefined || checked.inside.includes(file))
        .sort();
      const media = matches.filter((file) => mimeTypeOfName(file) !== undefined);
      if (media.length > 0 && !takesMedia) {
        refuse(input);
        continue;
      }
      if (media.length < matches.length || matches.length === 0) textInputs.push(input);
      for (const file of media) {
        found.push({ file: path.normalize(file), root, mimeType: mimeTypeOfName(file) as string });
        exclude.add(`/${idFrom(root, path.normalize(file))}`);
      }
    } else {
      textInputs.push(input);
    }
  }
  if (issues.length > 0) throw new SourceError(issues);
  const files = new Map<string, MediaFile>();
  const documents: SourceDocument[] = [];
  const seen = new Set<string>();
  for (const entry of found) {
    if (seen.has(entry.file)) continue;
    seen.add(entry.file);
    const { size } = await stat(entry.file);
    const file: MediaFile = {
      id: idFrom(entry.root, entry.file),
      path: entry.file,
      mimeType: entry.mimeType,
      sizeBytes: size,
      sha256: await sha256Of(entry.file),
    };
    const text = mediaText(file);
    files.set(text, file);
    documents.push({
      id: file.id,
      text,
      metadata: { path: file.id, mimeType: file.mimeType, sizeBytes: file.sizeBytes },
      source: file.id,
    });
  }
  return { textInputs, exclude: [...exclude], documents, files, leftOut };
}

/** The text of an ingest input (a plain string when the chunk has no title). */
function textOf(document: DocumentInput): string {
  return typeof document === "string" ? document : document.text;
}

/**
 * An embedder for ingest that embeds media rows from their files' bytes and text rows as texts,
 * reading at most {@link MEDIA_BYTES_PER_CALL} bytes of files per call to the embedding function.
 */
export function mediaAwareEmbedder(
  inner: {
    readonly modelName: string;
    readonly dim: number;
    readonly client: GeminiClient;
    readonly uploads: UploadCache;
    encodeDocuments(
      inputs: EmbeddingInput[],
      options?: { signal?: AbortSignal | undefined },
    ): Promise<Float32Array[]>;
  },
  files: Map<string, MediaFile>,
): DocumentEmbedder {
  /** A large file: checked from its header, then streamed to the Files API from its path. */
  const uploaded = async (file: MediaFile, index: number, signal: AbortSignal | undefined) => {
    const facts = await readMediaFactsFromFile(file.path, file.mimeType);
    const reasons = checkMediaParts(inner.modelName, [
      { mimeType: file.mimeType, sizeBytes: file.sizeBytes, ...facts },
    ]);
    if (reasons.length > 0) {
      throw new InvalidMediaInputError(
        reasons.map((reason) => ({ index, field: file.id, reason })),
        "media files",
      );
    }
    const fileUri = await inner.uploads.fileUriOf(
      inner.client,
      { mimeType: file.mimeType, data: file.path },
      file.sha256,
      signal,
    );
    return { fileUri, mimeType: file.mimeType };
  };
  return {
    modelName: inner.modelName,
    get dim() {
      return inner.dim;
    },
    async encodeDocuments(documents: DocumentInput[], options = {}) {
      const signal = options.signal;
      const vectors: Float32Array[] = [];
      let start = 0;
      while (start < documents.length) {
        let end = start;
        let bytes = 0;
        while (end < documents.length) {
          const file = files.get(textOf(documents[end] as DocumentInput));
          // Large files are streamed, never held: only small ones count toward the bytes read.
          const size = file && file.sizeBytes <= STREAMED_FROM_BYTES ? file.sizeBytes : 0;
          if (end > start && bytes + size > MEDIA_BYTES_PER_CALL) break;
          bytes += size;
          end++;
        }
        const inputs: EmbeddingInput[] = [];
        for (let index = start; index < end; index++) {
          const document = documents[index] as DocumentInput;
          const file = files.get(textOf(document));
          if (file === undefined) inputs.push(document);
          else if (file.sizeBytes > STREAMED_FROM_BYTES)
            inputs.push(await uploaded(file, index, signal));
          else inputs.push(await readMediaFile(file.path, file.mimeType));
        }
        vectors.push(...(await inner.encodeDocuments(inputs, { signal })));
        start = end;
      }
      return vectors;
    },
  };
}
