/**
 * Writes text to a Node stream with backpressure: each write resolves once the stream has room
 * again, and rejects with the stream's error. One error listener serves the whole stream (one per
 * write would pile up listeners on a long file).
 *
 * @module
 */

import type { Writable } from "node:stream";

/** What {@link backpressureWriter} gives. */
export interface BackpressureWriter {
  /** Writes `text` (or bytes); resolves when the stream has room again, rejects with its error. */
  write(text: string | Uint8Array): Promise<void>;
  /** Ends the stream; rejects with the error the stream met, if any. */
  end(): Promise<void>;
}

/** A writer over `output` that waits for `drain` and fails with the stream's error. */
export function backpressureWriter(output: Writable): BackpressureWriter {
  let failure: unknown;
  let waiting: ((error: unknown) => void) | undefined;
  output.on("error", (error) => {
    failure = error;
    waiting?.(error);
  });
  const write = (text: string | Uint8Array) =>
    new Promise<void>((resolve, reject) => {
      if (failure !== undefined) reject(failure);
      else if (output.write(text)) resolve();
      else {
        waiting = reject;
        output.once("drain", () => {
          waiting = undefined;
          resolve();
        });
      }
    });
  const end = () =>
    new Promise<void>((resolve, reject) => {
      output.end(() => (failure === undefined ? resolve() : reject(failure)));
    });
  return { write, end };
}
