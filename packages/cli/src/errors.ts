/**
 * Errors the CLI itself throws, and how {@link runCli} prints them.
 *
 * @module
 */

import { GembedError } from "gembed";

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

/**
 * The Milvus server of `--milvus` could not be reached (gRPC `UNAVAILABLE`): names the address,
 * which the SDK's `14 UNAVAILABLE: No connection established` does not. Exit code 1.
 */
export class MilvusUnavailableError extends GembedError {
  override name = "MilvusUnavailableError";
  /** The address tried (without any `user:password@`). */
  readonly address: string;
  constructor(address: string, cause: unknown) {
    super(
      `cannot reach Milvus at ${address} (--milvus): nothing answers there. Start the server, check the address, or give a folder path such as ./gembed.db to use Milvus Lite.`,
      { cause },
    );
    this.address = address;
  }
}
