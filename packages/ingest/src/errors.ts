import { GembedError } from "gembed";

/** One problem with one source (a file, a JSONL line). */
export interface SourceIssue {
  /** The file (and line, `rows.jsonl:12`) where the problem is. */
  source: string;
  /** What is wrong. */
  reason: string;
}

/**
 * Sources that cannot be ingested (a missing file, a JSONL line that is not `{id, text}`, two
 * documents with one id), found before any embedding is paid for; `issues` names every one.
 */
export class SourceError extends GembedError {
  override name = "SourceError";
  readonly issues: SourceIssue[];
  constructor(issues: SourceIssue[]) {
    const shown = issues
      .slice(0, 10)
      .map((issue) => `${issue.source}: ${issue.reason}`)
      .join("; ");
    const more = issues.length > 10 ? ` (and ${issues.length - 10} more)` : "";
    super(`${issues.length} source problem(s): ${shown}${more}`);
    this.issues = issues;
  }
}

/** The local rows file is not one gembed can read or extend (another dim, model or shape). */
export class RowsFileError extends GembedError {
  override name = "RowsFileError";
}

/**
 * A rows file, its journal or its record could not be written (a full disk, a folder in the way):
 * names the file, which Node's `ENOSPC: no space left on device, write` does not; `code` is the
 * system error's, which is the `cause`.
 */
export class RowsFileWriteError extends GembedError {
  override name = "RowsFileWriteError";
  /** The system error code, e.g. `ENOSPC`. */
  readonly code: string;
  /** The file that could not be written. */
  readonly path: string;
  constructor(file: string, code: string, cause: unknown) {
    const reason =
      code === "ENOSPC"
        ? "no space left on the device"
        : code === "EISDIR"
          ? "it is a folder"
          : code;
    super(`cannot write ${file}: ${reason} (${code}); the rows written before are kept`, { cause });
    this.code = code;
    this.path = file;
  }
}
