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
  constructor(address: string, cause: unknown, option = "--milvus") {
    super(
      `cannot reach Milvus at ${address} (${option}): nothing answers there. Start the server, check the address, or give a folder path such as ./gembed.db to use Milvus Lite.`,
      { cause },
    );
    this.address = address;
  }
}

/** Words for the system errors a write can end with (Node's `ENOSPC: no space left on device, write` names no file). */
const WRITE_REASONS: Readonly<Record<string, string>> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "the disk quota is used up",
  EFBIG: "the file would be larger than the size limit (ulimit -f) or the file system allows",
  EIO: "an input/output error of the device",
  EROFS: "a read-only file system",
  EACCES: "permission denied",
  EPERM: "permission denied",
};

/**
 * An output the CLI writes itself (`batch collect --out`, standard output) could not be written:
 * names the target and what was kept, which Node's `ENOSPC: no space left on device, write` does
 * not. Exit code 1; `code` is the system error's, which is the `cause`.
 */
export class OutputWriteError extends GembedError {
  override name = "OutputWriteError";
  /** The system error code, e.g. `ENOSPC`. */
  readonly code: string;
  /** The file (or `standard output`) that could not be written. */
  readonly target: string;
  constructor(target: string, code: string, kept: string, cause: unknown) {
    super(`cannot write ${target}: ${WRITE_REASONS[code] ?? code} (${code}); ${kept}`, { cause });
    this.code = code;
    this.target = target;
  }
}
