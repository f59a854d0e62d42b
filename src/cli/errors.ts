/**
 * Errors the CLI itself throws, and how {@link runCli} prints them.
 *
 * @module
 */

import { GembedError } from "../errors.js";

/**
 * A command line that cannot work (two options that exclude each other, a value out of range that
 * commander could not check): exit code 2, the message alone.
 */
export class UsageError extends GembedError {
  override name = "UsageError";
}

/**
 * A deliberate Ctrl-C (SIGINT or SIGTERM): the message says what was kept and how to resume, and
 * is printed as is (no `AbortError:`), exit code 130. Its `name` is `AbortError` like every abort.
 */
export class InterruptedError extends GembedError {
  override name = "AbortError";
}
