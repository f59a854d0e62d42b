/**
 * The incremental state of a local ingest output, on disk and read by key: for each chunk id its
 * content hash, a hash of its metadata and where its row is (part and byte offset); for each
 * document its chunk count. A rerun looks up each step's ids here instead of holding every id and
 * hash in memory, so what an ingest needs in memory no longer grows with the corpus.
 *
 * Why a file of our own rather than SQLite: the maintained Node binding (better-sqlite3) is a
 * native addon whose install downloads a prebuilt binary or compiles SQLite, which our
 * install rule (`npm ci` on Node 20, no binary downloads) refuses, and `node:sqlite` needs
 * Node 22. What ingest needs is small: get and put by key, and a scan. So this is an
 * open-addressing hash table in one file: fixed 64-byte slots (a slot never straddles a page, so
 * a slot write is never torn), linear probing, kept under 70% full by rebuilding it at twice the
 * size (into a new file, renamed over the old: a crash leaves one whole table). Every write is a
 * positioned write of one slot, made at once (write-through); reads go through a bounded cache of
 * pages ({@link CACHED_BLOCKS}).
 *
 * Keys are the first 16 bytes of the SHA-256 of the id: two ids share one with odds near
 * n² / 2¹²⁹, i.e. never in practice.
 *
 * @module
 */

import { closeSync, existsSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { RowsFileWriteError } from "./errors.js";
import { digestOf } from "./hash.js";

const MAGIC = "GEMBEDIX1";
const HEADER_BYTES = 4096;
const SLOT_BYTES = 64;
const INITIAL_SLOTS = 4096;
/** Slots read at once while probing: one 4 KiB page. */
const BLOCK_SLOTS = 64;
/**
 * Pages kept in memory (16 MiB: the whole table of a ~250,000-chunk output). A page read from the
 * cache saves a system call, which is most of what a lookup costs; past this, the oldest cached
 * page makes room, so memory stays bounded whatever the corpus.
 */
const CACHED_BLOCKS = 4096;
/** The slot's `part` of a removed entry (probes go on past it). */
const TOMBSTONE = 0xffff_ffff;

/** What the index holds of one chunk's row. */
export interface IndexEntry {
  /** The row's `content_hash` (hex SHA-256). */
  contentHash: string;
  /** First 8 bytes (hex) of the SHA-256 of the row's canonical metadata. */
  metadataHash: string;
  /** The part holding the row (1, 2, …). */
  part: number;
  /** Byte offset of the row's line in that part. */
  offset: number;
}

/**
 * Runs a write of the index, turning a system error (a full disk: Node's `ENOSPC: no space left
 * on device, write` names no file) into a {@link RowsFileWriteError} naming the index file, as
 * the writes of the rows beside it do. The index is a cache of the parts: the rows are kept.
 */
function writing<T>(file: string, action: () => T): T {
  try {
    return action();
  } catch (error) {
    throw writeFailure(file, error);
  }
}

/** A system error of a write as a {@link RowsFileWriteError} naming `file`; others as they are. */
function writeFailure(file: string, error: unknown): unknown {
  const cause = error instanceof RowsFileWriteError ? error.cause : error;
  const code = (cause as NodeJS.ErrnoException)?.code;
  return typeof code === "string" ? new RowsFileWriteError(file, code, cause) : error;
}

function keyOf(id: string): Buffer {
  return digestOf("sha256", id).subarray(0, 16);
}

/** The key of a document's entry: ids of chunks never start with a NUL. */
function documentKey(documentId: string): string {
  return `\u0000document\u0000${documentId}`;
}

/**
 * An on-disk hash table from chunk ids to {@link IndexEntry} and from document ids to chunk
 * counts. Synchronous on purpose: each call is one or a few small positioned reads or writes.
 *
 * @example
 * ```ts
 * const index = StateIndex.open("rows.json.index");
 * index.put("a.md", { contentHash, metadataHash, part: 1, offset: 10 });
 * index.get("a.md")?.contentHash;
 * index.close();
 * ```
 */
export class StateIndex {
  /** The index file. */
  readonly path: string;
  #fd: number;
  #slots: number;
  #used: number;
  /** The page `#find` probed last (one of the cache's). */
  #block: Buffer = Buffer.alloc(BLOCK_SLOTS * SLOT_BYTES);
  /** Cached pages by their first slot, oldest first. */
  readonly #cache = new Map<number, Buffer>();

  readonly #cachedBlocks: number;

  private constructor(
    file: string,
    fd: number,
    slots: number,
    used: number,
    cachedBlocks = CACHED_BLOCKS,
  ) {
    this.#cachedBlocks = cachedBlocks;
    this.path = file;
    this.#fd = fd;
    this.#slots = slots;
    this.#used = used;
  }

  /**
   * Opens the index file, or creates an empty one. `cachedPages` (tests only) bounds the page
   * cache; users keep the default.
   */
  static open(file: string, options: { cachedPages?: number } = {}): StateIndex {
    if (!existsSync(file)) writing(file, () => StateIndex.#create(file, INITIAL_SLOTS));
    const fd = openSync(file, "r+");
    const header = Buffer.alloc(32);
    readSync(fd, header, 0, 32, 0);
    if (header.toString("latin1", 0, MAGIC.length) !== MAGIC) {
      closeSync(fd);
      throw new Error(
        `${file} is not a gembed state index: delete it and the next run rebuilds it from the rows`,
      );
    }
    return new StateIndex(
      file,
      fd,
      header.readUInt32LE(16),
      header.readUInt32LE(20),
      options.cachedPages,
    );
  }

  static #create(file: string, slots: number): void {
    const fd = openSync(file, "w");
    try {
      const header = Buffer.alloc(HEADER_BYTES);
      header.write(MAGIC, 0, "latin1");
      header.writeUInt32LE(slots, 16);
      header.writeUInt32LE(0, 20);
      writeSync(fd, header, 0, HEADER_BYTES, 0);
      // A sparse file: the empty slots cost no disk until written.
      writeSync(fd, Buffer.alloc(1), 0, 1, HEADER_BYTES + slots * SLOT_BYTES - 1);
    } finally {
      closeSync(fd);
    }
  }

  /** Entries written (including removed ones, until the next rebuild). */
  get used(): number {
    return this.#used;
  }

  /**
   * The slot holding `key`, or the first free one where it would go (and whether found). Probes
   * read a page of 64 slots at a time: one read for almost every lookup. When found, the slot's
   * bytes are in `#block` at `at` until the next read (so a get needs no second read).
   */
  #find(key: Buffer): { index: number; found: boolean; at: number } {
    let index = key.readUInt32LE(0) % this.#slots;
    let free = -1;
    let blockStart = -1;
    for (;;) {
      if (blockStart < 0 || index < blockStart || index >= blockStart + BLOCK_SLOTS) {
        blockStart = index - (index % BLOCK_SLOTS);
        this.#block = this.#page(blockStart);
      }
      const at = (index - blockStart) * SLOT_BYTES;
      const part = this.#block.readUInt32LE(at + 56);
      if (part === 0) return { index: free >= 0 ? free : index, found: false, at: -1 };
      if (part === TOMBSTONE) {
        if (free < 0) free = index;
      } else if (this.#block.compare(key, 0, 16, at, at + 16) === 0) {
        return { index, found: true, at };
      }
      index = (index + 1) % this.#slots;
    }
  }

  /**
   * Makes room for `entries` in all without a rebuild on the way (a rebuild rewrites every
   * entry): called once with what the first pass expects.
   */
  reserve(entries: number): void {
    let slots = this.#slots;
    while (entries * 10 > slots * 7) slots *= 2;
    if (slots > this.#slots) this.#rebuild(slots);
  }

  /** The page starting at slot `blockStart`, from the cache or read from the file. */
  #page(blockStart: number): Buffer {
    const cached = this.#cache.get(blockStart);
    if (cached !== undefined) return cached;
    const page = Buffer.alloc(BLOCK_SLOTS * SLOT_BYTES);
    const count = Math.min(BLOCK_SLOTS, this.#slots - blockStart);
    readSync(this.#fd, page, 0, count * SLOT_BYTES, HEADER_BYTES + blockStart * SLOT_BYTES);
    if (this.#cache.size >= this.#cachedBlocks) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(blockStart, page);
    return page;
  }

  #write(index: number, slot: Buffer): void {
    writing(this.path, () =>
      writeSync(this.#fd, slot, 0, SLOT_BYTES, HEADER_BYTES + index * SLOT_BYTES),
    );
    const blockStart = index - (index % BLOCK_SLOTS);
    const cached = this.#cache.get(blockStart);
    if (cached !== undefined) slot.copy(cached, (index - blockStart) * SLOT_BYTES);
  }

  /** Writes a slot; returns the part of the entry it replaced (undefined when new). */
  #putSlot(slot: Buffer): number | undefined {
    const { index, found, at } = this.#find(slot.subarray(0, 16));
    const previous = found ? this.#block.readUInt32LE(at + 56) : undefined;
    this.#write(index, slot);
    if (!found) {
      this.#used++;
      // The count on disk trails by at most 256 entries (a crash can leave it that far behind):
      // a write per entry would double the writes; the table is rebuilt at 70% full anyway, so a
      // count that low is harmless.
      if (this.#used % 256 === 0) this.#writeCount();
      if (this.#used * 10 > this.#slots * 7) this.#rebuild(this.#slots * 2);
    }
    return previous;
  }

  /** The entry of a chunk id. */
  get(id: string): IndexEntry | undefined {
    const { found, at } = this.#find(keyOf(id));
    if (!found) return undefined;
    const block = this.#block;
    return {
      contentHash: block.toString("hex", at + 16, at + 48),
      metadataHash: block.toString("hex", at + 48, at + 56),
      part: block.readUInt32LE(at + 56),
      offset: block.readUInt32LE(at + 60),
    };
  }

  /**
   * Records where a chunk's row is and what it holds. Returns the part of the row it replaces
   * (undefined for a new id): one probe for both.
   */
  put(id: string, entry: IndexEntry): number | undefined {
    if (entry.part < 1 || entry.part >= TOMBSTONE) throw new RangeError(`bad part ${entry.part}`);
    const slot = Buffer.alloc(SLOT_BYTES);
    keyOf(id).copy(slot, 0);
    slot.write(entry.contentHash, 16, 32, "hex");
    slot.write(entry.metadataHash, 48, 8, "hex");
    slot.writeUInt32LE(entry.part, 56);
    slot.writeUInt32LE(entry.offset, 60);
    return this.#putSlot(slot);
  }

  /** Forgets a chunk id; returns whether it was there. */
  delete(id: string): boolean {
    const { index, found } = this.#find(keyOf(id));
    if (!found) return false;
    const slot = Buffer.alloc(SLOT_BYTES);
    slot.writeUInt32LE(TOMBSTONE, 56);
    this.#write(index, slot);
    return true;
  }

  /** The chunk count recorded for a document. */
  documentChunks(documentId: string): number | undefined {
    const { found, at } = this.#find(keyOf(documentKey(documentId)));
    return found ? this.#block.readUInt32LE(at + 60) : undefined;
  }

  /** Records a document's chunk count. */
  setDocumentChunks(documentId: string, count: number): void {
    const slot = Buffer.alloc(SLOT_BYTES);
    keyOf(documentKey(documentId)).copy(slot, 0);
    // A document entry's part is 1: any value other than empty or removed.
    slot.writeUInt32LE(1, 56);
    slot.writeUInt32LE(count, 60);
    this.#putSlot(slot);
  }

  /** Forgets a document's chunk count. */
  deleteDocument(documentId: string): void {
    const { index, found } = this.#find(keyOf(documentKey(documentId)));
    if (!found) return;
    const slot = Buffer.alloc(SLOT_BYTES);
    slot.writeUInt32LE(TOMBSTONE, 56);
    this.#write(index, slot);
  }

  /** Rebuilds the table at `slots` slots into a new file, then renames it over this one. */
  #rebuild(slots: number): void {
    const next = `${this.path}.rebuild`;
    let target: StateIndex | undefined;
    try {
      rmSync(next, { force: true });
      StateIndex.#create(next, slots);
      target = new StateIndex(next, openSync(next, "r+"), slots, 0, this.#cachedBlocks);
      const block = Buffer.alloc(SLOT_BYTES * 16_384);
      for (let start = 0; start < this.#slots; start += 16_384) {
        const count = Math.min(16_384, this.#slots - start);
        readSync(this.#fd, block, 0, count * SLOT_BYTES, HEADER_BYTES + start * SLOT_BYTES);
        for (let index = 0; index < count; index++) {
          const slot = block.subarray(index * SLOT_BYTES, (index + 1) * SLOT_BYTES);
          const part = slot.readUInt32LE(56);
          if (part !== 0 && part !== TOMBSTONE) {
            const { index: at } = target.#find(slot.subarray(0, 16));
            target.#write(at, slot);
            target.#used++;
          }
        }
      }
      const count = Buffer.alloc(4);
      count.writeUInt32LE(target.#used);
      writeSync(target.#fd, count, 0, 4, 20);
    } catch (error) {
      // The old table stays whole and in use; the new one, half written, goes. Named as the index
      // (the file users know), whichever of the two the disk refused.
      if (target !== undefined) closeSync(target.#fd);
      rmSync(next, { force: true });
      throw writeFailure(this.path, error);
    }
    closeSync(target.#fd);
    closeSync(this.#fd);
    renameSync(next, this.path);
    this.#fd = openSync(this.path, "r+");
    this.#cache.clear();
    this.#slots = slots;
    this.#used = target.#used;
  }

  #writeCount(): void {
    const count = Buffer.alloc(4);
    count.writeUInt32LE(this.#used);
    writing(this.path, () => writeSync(this.#fd, count, 0, 4, 20));
  }

  /** Records the entry count and closes the file. */
  close(): void {
    this.#writeCount();
    closeSync(this.#fd);
  }
}
