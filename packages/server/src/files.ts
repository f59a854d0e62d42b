/**
 * The files API of the local server: resumable uploads as the official SDKs drive them, files kept
 * in the data folder with their metadata, expiry, and generated responses files.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { createReadStream, type ReadStream } from "node:fs";
import { appendFile, open, readdir, rename, stat, truncate } from "node:fs/promises";
import path from "node:path";
import type { File } from "gembed";
import { invalidArgument, notFound, rfc3339, ServerApiError } from "./status.js";
import {
  type DataFolders,
  isValidId,
  randomId,
  readJson,
  removeFile,
  writeAtomic,
} from "./storage.js";

/** What the server keeps of a file (besides its bytes). */
export interface FileRecord {
  id: string;
  displayName?: string;
  mimeType: string;
  sizeBytes: number;
  createdAt: number;
  expiresAt: number;
  sha256Hash: string;
  source: "UPLOADED" | "GENERATED";
}

/** Largest file, like the real files API (2 GB per file). */
const MAX_FILE_BYTES = 2 ** 31;

/** An upload in progress. */
interface UploadSession {
  id: string;
  fileId: string;
  displayName?: string;
  mimeType: string;
  declaredSize: number | undefined;
  received: number;
}

/** The files of one server. */
export class FileStore {
  private readonly records = new Map<string, FileRecord>();

  constructor(
    private readonly folders: DataFolders,
    private readonly lifetimeMs: number,
  ) {}

  /** Loads the files of the data folder. */
  async load(): Promise<void> {
    for (const entry of await readdir(this.folders.files)) {
      // Temporary files of writes cut short by a crash: never renamed, never read.
      if (entry.endsWith(".tmp")) await removeFile(path.join(this.folders.files, entry));
      if (!entry.endsWith(".json")) continue;
      const record = await readJson<FileRecord>(path.join(this.folders.files, entry));
      if (record !== undefined && isValidId(record.id)) this.records.set(record.id, record);
    }
  }

  private metadataPath(id: string): string {
    return path.join(this.folders.files, `${id}.json`);
  }

  /** The path of a file's bytes. */
  dataPath(id: string): string {
    return path.join(this.folders.files, `${id}.data`);
  }

  /** The wire `File` of a record; `base` is the server URL the client used. */
  toWire(record: FileRecord, base: string): File {
    const file: File = {
      name: `files/${record.id}`,
      mimeType: record.mimeType,
      sizeBytes: String(record.sizeBytes),
      createTime: rfc3339(record.createdAt),
      updateTime: rfc3339(record.createdAt),
      expirationTime: rfc3339(record.expiresAt),
      sha256Hash: record.sha256Hash,
      uri: `${base}/v1beta/files/${record.id}`,
      state: "ACTIVE",
      source: record.source,
    };
    if (record.displayName !== undefined) file.displayName = record.displayName;
    if (record.source === "GENERATED") {
      file.downloadUri = `${base}/download/v1beta/files/${record.id}:download?alt=media`;
    }
    return file;
  }

  /** The record of `files/{id}` or `{id}`, or the 404. */
  get(name: string, now = Date.now()): FileRecord {
    const id = name.startsWith("files/") ? name.slice("files/".length) : name;
    const record = isValidId(id) ? this.records.get(id) : undefined;
    if (record === undefined || record.expiresAt <= now) {
      throw new ServerApiError(
        404,
        `File ${id} does not exist or you do not have permission to access it.`,
        undefined,
        "NOT_FOUND",
      );
    }
    return record;
  }

  /** Files, newest first, for `files.list`. */
  list(now = Date.now()): FileRecord[] {
    return [...this.records.values()]
      .filter((record) => record.expiresAt > now)
      .sort((left, right) => right.createdAt - left.createdAt || (left.id < right.id ? -1 : 1));
  }

  /** Deletes a file. */
  async delete(name: string): Promise<void> {
    const record = this.get(name);
    this.records.delete(record.id);
    await removeFile(this.metadataPath(record.id));
    await removeFile(this.dataPath(record.id));
  }

  /**
   * Opens a file's bytes for reading: a stream from disk (the file is opened before this returns,
   * so a missing file fails here, not in the middle of a reply) and its size on disk.
   */
  async read(name: string): Promise<{ stream: ReadStream; sizeBytes: number }> {
    const record = this.get(name);
    const handle = await open(this.dataPath(record.id), "r");
    try {
      const { size } = await handle.stat();
      return { stream: handle.createReadStream({ highWaterMark: 1 << 20 }), sizeBytes: size };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Stores a file whose bytes are already at {@link dataPath}(id). */
  async register(
    id: string,
    fields: { displayName?: string | undefined; mimeType: string; source: FileRecord["source"] },
    now = Date.now(),
  ): Promise<FileRecord> {
    // Hashed as a stream: memory stays flat however large the file is.
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of createReadStream(this.dataPath(id), {
      highWaterMark: 1 << 20,
    }) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
    const record: FileRecord = {
      id,
      mimeType: fields.mimeType,
      sizeBytes: size,
      createdAt: now,
      expiresAt: now + this.lifetimeMs,
      sha256Hash: Buffer.from(hash.digest("hex")).toString("base64"),
      source: fields.source,
    };
    if (fields.displayName !== undefined) record.displayName = fields.displayName;
    await writeAtomic(this.metadataPath(id), JSON.stringify(record));
    this.records.set(id, record);
    return record;
  }

  /** True when the id is taken. */
  has(id: string): boolean {
    return this.records.has(id);
  }

  /** Deletes the expired files and the upload sessions left unfinished that long; returns how many files. */
  async sweep(now = Date.now()): Promise<number> {
    let count = 0;
    for (const entry of await readdir(this.folders.uploads)) {
      const file = path.join(this.folders.uploads, entry);
      const modified = await stat(file).then(
        (info) => info.mtimeMs,
        () => now,
      );
      if (modified + this.lifetimeMs <= now) await removeFile(file);
    }
    for (const record of [...this.records.values()]) {
      if (record.expiresAt > now) continue;
      this.records.delete(record.id);
      await removeFile(this.metadataPath(record.id));
      await removeFile(this.dataPath(record.id));
      count++;
    }
    return count;
  }

  // --- resumable uploads ---

  private sessionPath(id: string): string {
    return path.join(this.folders.uploads, `${id}.json`);
  }

  private sessionDataPath(id: string): string {
    return path.join(this.folders.uploads, `${id}.data`);
  }

  /** Starts an upload session (`X-Goog-Upload-Command: start`); returns its id. */
  async startUpload(body: unknown, headers: Record<string, unknown>): Promise<string> {
    const given =
      typeof body === "object" && body !== null ? (body as Record<string, unknown>).file : {};
    const file = (typeof given === "object" && given !== null ? given : {}) as Record<
      string,
      unknown
    >;
    let fileId = randomId(12);
    if (file.name !== undefined) {
      if (typeof file.name !== "string") throw invalidArgument("* file.name: must be a string");
      const wanted = file.name.startsWith("files/") ? file.name.slice(6) : file.name;
      if (!isValidId(wanted)) {
        throw invalidArgument(
          `* file.name: invalid name "${file.name}": use lower-case letters, digits and dashes, at most 64.`,
        );
      }
      if (this.records.has(wanted)) {
        throw new ServerApiError(
          409,
          `File ${wanted} already exists.`,
          undefined,
          "ALREADY_EXISTS",
        );
      }
      fileId = wanted;
    }
    const declaredRaw = headers["x-goog-upload-header-content-length"];
    let declaredSize: number | undefined;
    if (declaredRaw !== undefined) {
      // A byte count: digits only (no sign, exponent or fraction), at most the largest file.
      const text = String(declaredRaw).trim();
      declaredSize = /^\d{1,16}$/.test(text) ? Number(text) : Number.NaN;
      if (!(declaredSize <= MAX_FILE_BYTES)) {
        throw invalidArgument(
          `Invalid X-Goog-Upload-Header-Content-Length ${JSON.stringify(String(declaredRaw).slice(0, 40))}: a byte count from 0 to ${MAX_FILE_BYTES} is expected.`,
        );
      }
    }
    const headerType = headers["x-goog-upload-header-content-type"];
    const mimeType =
      typeof file.mimeType === "string"
        ? file.mimeType
        : typeof headerType === "string" && headerType.length > 0
          ? headerType
          : "application/octet-stream";
    const session: UploadSession = {
      id: randomId(24),
      fileId,
      mimeType,
      declaredSize,
      received: 0,
    };
    if (typeof file.displayName === "string") session.displayName = file.displayName;
    if (typeof file.display_name === "string") session.displayName = file.display_name;
    await writeAtomic(this.sessionDataPath(session.id), "");
    await writeAtomic(this.sessionPath(session.id), JSON.stringify(session));
    return session.id;
  }

  /**
   * Takes a chunk of an upload session. Returns the file when the command finalizes it, else
   * the bytes received so far.
   */
  async uploadChunk(
    sessionId: string,
    command: string,
    offset: number | undefined,
    chunk: Buffer,
  ): Promise<{ file?: FileRecord; received: number }> {
    if (!isValidId(sessionId)) throw notFound("Upload session not found.");
    const session = await readJson<UploadSession>(this.sessionPath(sessionId));
    if (session === undefined) throw notFound("Upload session not found.");
    const commands = command
      .split(",")
      .map((part) => part.trim().toLowerCase())
      .filter((part) => part.length > 0);
    if (commands.includes("query")) return { received: session.received };
    if (commands.includes("upload")) {
      if (offset !== undefined && offset !== session.received) {
        throw invalidArgument(
          `Invalid X-Goog-Upload-Offset ${offset}: ${session.received} bytes were received so far.`,
        );
      }
      const total = session.received + chunk.length;
      if (session.declaredSize !== undefined && total > session.declaredSize) {
        throw invalidArgument(
          `The upload would have ${total} bytes but X-Goog-Upload-Header-Content-Length said ${session.declaredSize}.`,
        );
      }
      if (total > MAX_FILE_BYTES) {
        throw invalidArgument(`A file can have at most ${MAX_FILE_BYTES} bytes (2 GiB).`);
      }
      try {
        await appendFile(this.sessionDataPath(sessionId), chunk);
        await writeAtomic(
          this.sessionPath(sessionId),
          JSON.stringify({ ...session, received: total }),
        );
      } catch (error) {
        // A chunk half written (a full data folder) is taken back, so the session still holds
        // exactly the bytes it says it received: the client resumes from there once there is room.
        await truncate(this.sessionDataPath(sessionId), session.received).catch(() => undefined);
        throw error;
      }
      session.received = total;
    }
    if (!commands.includes("finalize")) {
      if (!commands.includes("upload")) {
        throw invalidArgument(`Unknown X-Goog-Upload-Command "${command}".`);
      }
      return { received: session.received };
    }
    const size = (await stat(this.sessionDataPath(sessionId))).size;
    if (session.declaredSize !== undefined && size !== session.declaredSize) {
      throw invalidArgument(
        `The upload has ${size} bytes but X-Goog-Upload-Header-Content-Length said ${session.declaredSize}.`,
      );
    }
    if (this.records.has(session.fileId)) {
      throw new ServerApiError(
        409,
        `File ${session.fileId} already exists.`,
        undefined,
        "ALREADY_EXISTS",
      );
    }
    await rename(this.sessionDataPath(sessionId), this.dataPath(session.fileId));
    const record = await this.register(session.fileId, {
      displayName: session.displayName,
      mimeType: session.mimeType,
      source: "UPLOADED",
    });
    await removeFile(this.sessionPath(sessionId));
    return { file: record, received: size };
  }
}
