/**
 * Reads of source files for both passes of ingest: synchronous while calls are fast,
 * asynchronous once slow calls are not rare.
 *
 * On a local disk, a synchronous stat and read of a 64 KB file in the page cache take
 * microseconds, while the same through `fs/promises` is six trips to libuv's threads (stat, open,
 * fstat, read, read, close), each woken and answered through the event loop. On the 200 MB bench
 * corpus (1,280 files of 64 KB), the first pass over them took 100-115 ms instead of 180-205 ms
 * (nothing is paid for meanwhile: the server waits), and the second pass's reads cost the ingest
 * 0.3 s less CPU (4.9 s instead of 5.2 s, on 2 cores shared with the server). Files read as
 * streams (JSONL, large text files) come in 1 MB pieces read into one buffer instead of a stream
 * of fresh 256 KB buffers (ingest CPU 5.16 -> 5.05 s, 5 pairs).
 *
 * A synchronous call holds the event loop, which only matters where a call can be slow (a network
 * file system, a cold spinning disk): once {@link SLOW_CALLS} calls were slower than
 * {@link SLOW_CALL_MS} (plus time for their bytes) and more than one in 20 was, every later call
 * is asynchronous, so such a pass runs as before. {@link AdaptiveReads.turn} gives the loop a
 * turn every {@link TURN_MS}, so Ctrl-C, timers and progress are never held longer.
 *
 * @module
 */

import type { Stats } from "node:fs";
import {
  closeSync,
  createReadStream,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  statSync,
} from "node:fs";
import { lstat, readFile, stat } from "node:fs/promises";

/**
 * A synchronous call slower than this (plus {@link MS_PER_MB} per MB read) is slow. Calls end
 * being synchronous once {@link SLOW_CALLS} of them were slow and more than one in 20 was.
 */
export const SLOW_CALL_MS = 2;
/**
 * Not one: on a fast disk a collection of V8's or another process taking the core makes one or
 * two calls in 2,500 slow (seen in most runs of the first pass over the bench corpus), while on
 * a network file system or a cold disk most calls are.
 */
export const SLOW_CALLS = 3;
/** Time allowed per MB of a synchronous read (500 MB/s), on top of {@link SLOW_CALL_MS}. */
const MS_PER_MB = 2;
/** A piece of {@link AdaptiveReads.pieces} read synchronously (a read of the page cache). */
const PIECE_BYTES = 1024 * 1024;
/** A piece of the stream {@link AdaptiveReads.pieces} falls back to. */
const STREAM_PIECE_BYTES = 256 * 1024;
/** The event loop gets a turn at least this often while calls are synchronous. */
export const TURN_MS = 20;

/** File calls that are synchronous until slow calls are not rare; see the module comment. */
export class AdaptiveReads {
  #sync: boolean;
  #slowMs: number;
  readonly #signal: AbortSignal | undefined;
  #slowCalls = 0;
  #calls = 0;
  #turnAt = performance.now() + TURN_MS;
  /** The buffer {@link readWith} reads into while calls are synchronous. */
  #scratch = Buffer.alloc(0);
  /** The buffer {@link pieces} reads into while calls are synchronous, and whether it is. */
  #piece: Buffer | undefined;
  #pieceInUse = false;

  /**
   * @param options.sync start synchronous (default true); false gives plain asynchronous calls.
   * @param options.slowMs the threshold of {@link SLOW_CALL_MS}, for tests (-Infinity: every
   *   call is slow, the {@link SLOW_CALLS}th turns the rest asynchronous).
   * @param options.signal once aborted, every later call (and piece) throws its reason.
   */
  constructor(options: { sync?: boolean; slowMs?: number; signal?: AbortSignal | undefined } = {}) {
    this.#sync = options.sync ?? true;
    this.#slowMs = options.slowMs ?? SLOW_CALL_MS;
    this.#signal = options.signal;
  }

  /** Whether calls are still synchronous. */
  get sync(): boolean {
    return this.#sync;
  }

  stat(file: string): Promise<Stats> {
    return this.#call(
      () => statSync(file),
      () => stat(file),
    );
  }

  lstat(file: string): Promise<Stats> {
    return this.#call(
      () => lstatSync(file),
      () => lstat(file),
    );
  }

  /**
   * Reads a whole file and hands its bytes to `use`, which must not keep them (decode them, check
   * them): while calls are synchronous they are read into one buffer used again for every file,
   * so reading 1,280 files of 64 KB allocates nothing (a fresh buffer per file was 85 MB of
   * memory to fault in and collect); else into a buffer of their own. A file is read as
   * `readFileSync` reads it: up to the size `fstat` gives, or to its end if it shrank.
   */
  async readWith<T>(file: string, use: (bytes: Buffer) => T): Promise<T> {
    this.#signal?.throwIfAborted();
    if (!this.#sync) return use(await readFile(file));
    const started = performance.now();
    let size = 0;
    try {
      const descriptor = openSync(file, "r");
      try {
        const expected = fstatSync(descriptor).size;
        if (this.#scratch.length < expected) {
          this.#scratch = Buffer.allocUnsafe(Math.max(expected, this.#scratch.length * 2));
        }
        while (size < expected) {
          const read = readSync(descriptor, this.#scratch, size, expected - size, size);
          if (read === 0) break;
          size += read;
        }
      } finally {
        closeSync(descriptor);
      }
    } finally {
      this.#timed(started, size);
    }
    return use(this.#scratch.subarray(0, size));
  }

  /**
   * The bytes of a file in pieces, for files read as streams (JSONL, large text files). While
   * calls are synchronous, each piece is read into one buffer used again for the next: the
   * consumer must be done with a piece (decode it) before asking for the next. Else a stream of
   * fresh 256 KB buffers (each a mapping of its own to fault in and collect). The event loop gets
   * its turn between pieces (see {@link turn}).
   */
  async *pieces(file: string): AsyncGenerator<Uint8Array> {
    this.#signal?.throwIfAborted();
    if (!this.#sync) {
      for await (const part of createReadStream(file, { highWaterMark: STREAM_PIECE_BYTES })) {
        yield part as Buffer;
        this.#signal?.throwIfAborted();
      }
      return;
    }
    const descriptor = openSync(file, "r");
    // The shared buffer, unless another file's pieces are being read (then one of its own).
    const shared = !this.#pieceInUse;
    if (shared && this.#piece === undefined) this.#piece = Buffer.allocUnsafe(PIECE_BYTES);
    const piece =
      shared && this.#piece !== undefined ? this.#piece : Buffer.allocUnsafe(PIECE_BYTES);
    if (shared) this.#pieceInUse = true;
    try {
      for (let position = 0; ; ) {
        if (!this.#sync) {
          // Slow calls met meanwhile (another file's): the rest as a stream.
          const rest = createReadStream(file, {
            start: position,
            highWaterMark: STREAM_PIECE_BYTES,
          });
          for await (const part of rest) {
            yield part as Buffer;
            this.#signal?.throwIfAborted();
          }
          return;
        }
        const started = performance.now();
        let read = 0;
        try {
          read = readSync(descriptor, piece, 0, PIECE_BYTES, position);
        } finally {
          this.#timed(started, read);
        }
        if (read === 0) return;
        position += read;
        yield piece.subarray(0, read);
        await this.turn();
        this.#signal?.throwIfAborted();
      }
    } finally {
      closeSync(descriptor);
      if (shared) this.#pieceInUse = false;
    }
  }

  /**
   * Resolves at once, or after a turn of the event loop when calls have been synchronous for
   * {@link TURN_MS} since the last turn. Awaited by the pass between files.
   */
  async turn(): Promise<void> {
    if (!this.#sync || performance.now() < this.#turnAt) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.#turnAt = performance.now() + TURN_MS;
  }

  async #call<T>(syncCall: () => T, asyncCall: () => Promise<T>) {
    this.#signal?.throwIfAborted();
    if (!this.#sync) return asyncCall();
    const started = performance.now();
    try {
      return syncCall();
    } finally {
      this.#timed(started, 0);
    }
  }

  /** Counts a synchronous call that started at `started` and read `size` bytes. */
  #timed(started: number, size: number): void {
    const allowed = this.#slowMs + (size / 1_048_576) * MS_PER_MB;
    this.#calls++;
    if (performance.now() - started > allowed) this.#slowCalls++;
    if (this.#slowCalls >= SLOW_CALLS && this.#slowCalls * 20 > this.#calls) this.#sync = false;
  }
}
